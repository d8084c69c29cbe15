"""The per-layer plan of a run: which engine computes each layer's
equations (the register-blocked kernels or BLAS), in parts of what size.

* ``default_plan``: the rule a run takes when nothing was measured, per
  layer and per equation. A layer's backward (§6) and gradient (§7) go to
  BLAS when the layer has at least ``BLAS_MIN_WORK`` multiply-adds per
  batch, at least ``BLAS_MIN_ROWS`` neurons and BLAS is usable
  (``fastnn._blas``); so does its forward (§1), except when its inputs
  L_{i-1} are within ``FORWARD_TILES_INPUTS`` (384 to 800: a layer that
  reads an MNIST image), where the forward stays on the register-blocked
  kernels; everything else goes to the register-blocked kernels.

  Why the forward differs: the blocked forward kernel is a dot-product
  tile (samples x rows of sums, each a vector over k, added across at the
  end), reading w's rows and a^(i-1)'s rows in place, both contiguous in
  k, with nothing packed. The longer k, the more its closing horizontal
  sums and loop start are amortized: its time per multiply-add fell by a
  third from 256 to 784 inputs, BLAS's by a quarter (BLAS packs both
  operands of every call). At 1024 inputs the tiles lose again (rows
  4 KiB apart, likely cache-set conflicts). The backward and gradient
  kernels are of the other form (vectors along k, sums over L_i or the
  batch's m, every tile of the result loaded and stored), and BLAS's
  packed micro-kernel beats them from the same size as before.
  Measured with ``scripts/bench_engine.py --parts 2`` (one thread, one
  part of the layer as the staged epoch cuts it on two cores, AMD Zen 4,
  AVX-512 and AVX2 code): forward tiles/BLAS time 0.80-0.98 on AVX-512
  and 0.57-0.93 on AVX2 for 384 to 784 inputs and batches of 64 to 200
  (W4's first layer, 128 x 256 x 784: 0.89 and 0.86); 0.93-1.04 at 256
  inputs and 0.82-1.17 at 1024, so those keep BLAS; a batch of 256 at 512
  inputs (256 x 512 x 512) ties, 1.01 and 1.03
  (docs/performance.md, "The big-layer engine" and "Per CPU").
* wisdom: ``fastnn compile`` (and ``tune``) times both engines on the
  layer shapes it is given and stores the winners beside the kernel cache,
  keyed like it (``wisdom-<key>.json``; as FFTW keeps its wisdom); a later
  run of the same shapes takes them. Without a cache (``FASTNN_CACHE=0``)
  no wisdom is read or written: the default plan is used.
* a recorded plan (``TrainingState.plan``, in checkpoints and the
  history) is used as it is by a resume, so that it runs the same kernels
  and stays bitwise the uninterrupted run.

Parts: layers are cut into ``parts`` parts (this machine's cores when the
plan is made), in rows j for §1 and §7 and samples n for §6, whole
numbers of the register blocks; the plan, not the thread count of a call,
fixes them, so a run is bitwise the same with any number of threads.
"""
from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np

from . import _blas
from .kernels import staged
from .kernels.blocked import BACKWARD_BLOCK, ROWS_PER_PART
from .kernels.isa import HOST_ISA, HOST_TILES

__all__ = ["BLAS_MIN_WORK", "BLAS_MIN_ROWS", "FORWARD_TILES_INPUTS", "LayerPlan", "default_plan", "plan_for",
           "describe_plan", "wisdom_path", "load_wisdom", "tune", "measure", "default_parts",
           "run_plan"]

# A layer's equations go to BLAS from this many multiply-adds per batch
# (m L_i L_{i-1}) and this many neurons. Measured (scripts/bench_engine.py,
# one thread, AMD Zen 4 with AVX-512 and with AVX2 code): BLAS wins from
# 128 x 256 x 256 (8.4M) on, the blocked kernels up to 32 x 100 x 784 (2.5M)
# in the forward pass; see docs/performance.md.
BLAS_MIN_WORK = 4_000_000
BLAS_MIN_ROWS = 64
# ... except the forward pass (§1) of a layer whose inputs L_{i-1} lie in
# this range (inclusive), which stays on the blocked kernels: measured (same
# script, --parts 2) 5-20% faster there on both ISAs; see the module
# docstring for why.
FORWARD_TILES_INPUTS = (384, 800)

ENGINE_NAMES = {staged.TILES: "tiles", staged.BLAS: "blas"}
_ENGINES = {name: value for value, name in ENGINE_NAMES.items()}
EQUATIONS = {"forward": staged.FORWARD, "backward": staged.BACKWARD,
             "gradient": staged.GRADIENT}


def default_parts() -> int:
    """Parts of a layer split between threads: the cores this process may
    use (fastnn._threads.available_cores), at least 1."""
    from ._threads import available_cores

    return max(1, available_cores())


def _round_up(value, multiple):
    return -(-int(value) // multiple) * multiple


def _part_sizes(n_rows, batch_size, parts):
    rows = _round_up(max(1, -(-n_rows // parts)), ROWS_PER_PART)
    samples = _round_up(max(1, -(-batch_size // parts)), BACKWARD_BLOCK)
    return rows, samples


class LayerPlan:
    """A run's per-layer plan: ``array`` (int64 (l + 1,
    staged.PLAN_COLUMNS), what the staged epoch reads), ``parts``, where it
    came from (``source``: "default", "wisdom" or "recorded"), and the ISA
    and tiles of the kernels. ``record()`` is the JSON-able form kept in
    ``TrainingState.plan``."""

    def __init__(self, array, parts, source, isa=None, tiles=None):
        self.array = np.ascontiguousarray(array, dtype=np.int64)
        self.parts = int(parts)
        self.source = source
        self.isa = isa or HOST_ISA.family
        self.tiles = list(tiles) if tiles is not None else list(HOST_TILES)

    @property
    def uses_blas(self) -> bool:
        return bool(np.any(self.array[1:, :3] == staged.BLAS))

    def engine(self, layer, equation) -> str:
        return ENGINE_NAMES[int(self.array[layer, EQUATIONS[equation]])]

    def record(self) -> dict:
        layers = [{"forward": self.engine(i, "forward"),
                   "backward": self.engine(i, "backward") if i > 1 else "-",
                   "gradient": self.engine(i, "gradient"),
                   "rows_per_part": int(self.array[i, staged.ROWS]),
                   "samples_per_part": int(self.array[i, staged.SAMPLES])}
                  for i in range(1, self.array.shape[0])]
        return {"engine": 1, "source": self.source, "isa": self.isa, "tiles": self.tiles,
                "parts": self.parts, "layers": layers}

    @classmethod
    def from_record(cls, record, n_layers):
        """The plan recorded by ``record()``; ValueError if it does not fit
        a network of n_layers layers."""
        layers = record.get("layers")
        if not isinstance(layers, list) or len(layers) != n_layers:
            raise ValueError(f"the recorded plan has {len(layers or [])} layers, the network "
                             f"{n_layers}")
        array = np.zeros((n_layers + 1, staged.PLAN_COLUMNS), np.int64)
        for i, layer in enumerate(layers, start=1):
            for equation, column in EQUATIONS.items():
                name = layer.get(equation, "tiles")
                array[i, column] = _ENGINES.get(name, staged.TILES)
            array[i, staged.ROWS] = int(layer["rows_per_part"])
            array[i, staged.SAMPLES] = int(layer["samples_per_part"])
        return cls(array, record.get("parts", 1), "recorded", record.get("isa"),
                   record.get("tiles"))

    def __repr__(self):
        return f"LayerPlan({describe_plan(self)})"


def default_plan(sizes, batch_size, parts=None, *, blas=None) -> LayerPlan:
    """The default rule (module docstring) for layers ``sizes`` and a batch
    of ``batch_size``, cut into ``parts`` parts (default_parts())."""
    from .kernels.scheduler import use_shared_epoch

    parts = default_parts() if parts is None else max(1, int(parts))
    blas = _blas.available() if blas is None else bool(blas)
    # A network whose first layer goes to the shared epoch (on any thread
    # count, fastnn.plan.DRIVERS) gets the blocked kernels only: the
    # shared epoch has no BLAS path, and a BLAS layer would send it to the
    # staged epoch instead.
    shared = use_shared_epoch(sizes, batch_size)
    n_layers = len(sizes) - 1
    array = np.zeros((n_layers + 1, staged.PLAN_COLUMNS), np.int64)
    for i in range(1, n_layers + 1):
        work = int(batch_size) * int(sizes[i]) * int(sizes[i - 1])
        engine = staged.BLAS if (blas and not shared and work >= BLAS_MIN_WORK
                                 and sizes[i] >= BLAS_MIN_ROWS) else staged.TILES
        array[i, :3] = engine
        low, high = FORWARD_TILES_INPUTS
        if low <= sizes[i - 1] <= high:  # the tiles' forward wins here (docstring)
            array[i, staged.FORWARD] = staged.TILES
        if i == 1:  # layer 1 passes no delta back: its §6 never runs
            array[i, staged.BACKWARD] = staged.TILES
        array[i, staged.ROWS], array[i, staged.SAMPLES] = _part_sizes(sizes[i], batch_size,
                                                                      parts)
    return LayerPlan(array, parts, "default")


def plan_for(sizes, batch_size, dtype, *, recorded=None, parts=None) -> LayerPlan:
    """The plan of a run: the recorded one (a resume), else the wisdom of
    this cache for these shapes, else the default rule."""
    n_layers = len(sizes) - 1
    if recorded:
        try:
            plan = LayerPlan.from_record(recorded, n_layers)
        except (KeyError, TypeError, ValueError) as error:
            warnings.warn(f"fastnn: the run's recorded kernel plan is unusable ({error}); "
                          "the default plan is used", stacklevel=3)
        else:
            if plan.uses_blas and not _blas.available():
                warnings.warn("fastnn: the run's recorded kernel plan uses BLAS, which is not "
                              f"available here ({_blas.describe()}); the default plan is used "
                              "and results differ from the uninterrupted run by rounding",
                              stacklevel=3)
            else:
                return plan
    plan = default_plan(sizes, batch_size, parts)
    wisdom = load_wisdom()
    if wisdom:
        applied = False
        for i in range(1, n_layers + 1):
            for equation, column in EQUATIONS.items():
                if equation == "backward" and i == 1:
                    continue
                winner = wisdom.get(_shape_key(equation, batch_size, sizes[i], sizes[i - 1],
                                               dtype, plan.parts))
                if winner in _ENGINES and not (winner == "blas" and not _blas.available()):
                    plan.array[i, column] = _ENGINES[winner]
                    applied = True
        if applied:
            from .kernels.scheduler import use_shared_epoch

            if use_shared_epoch(sizes, batch_size):  # see default_plan
                plan.array[1:, :3] = staged.TILES
            plan.source = "wisdom"
    return plan


def run_plan(state, network) -> dict:
    """The kernel plan of a run (``TrainingState.plan``), chosen now if the
    run has none yet; fastnn.dask ships it to its workers, so that every
    worker runs the kernels the driver's machine chose."""
    if not state.plan:
        state.plan = plan_for(network.sizes, state.batch_size, network.dtype).record()
    return dict(state.plan)


def describe_plan(plan: LayerPlan) -> str:
    """e.g. "layer 1 784->256: blas/blas/blas in 2 parts of 128 rows; ...": per
    layer the engines of forward/backward/gradient."""
    parts = []
    for i in range(1, plan.array.shape[0]):
        engines = "/".join(plan.engine(i, e) if (e != "backward" or i > 1) else "-"
                           for e in EQUATIONS)
        parts.append(f"layer {i}: {engines} (forward/backward/gradient), parts of "
                     f"{int(plan.array[i, staged.ROWS])} rows, "
                     f"{int(plan.array[i, staged.SAMPLES])} samples")
    return "; ".join(parts)


# ---------------------------------------------------------------------------
# Wisdom: the winners measured on this machine, beside the kernel cache
# ---------------------------------------------------------------------------
def wisdom_path():
    """``<cache root>/wisdom-<16 hex digits of the kernel cache key>.json``,
    or None when the cache is off (FASTNN_CACHE=0)."""
    from ._cache.key import KEY_DIR_PREFIX, cache_key, cache_root
    from ._config import CACHE

    del KEY_DIR_PREFIX
    if not CACHE:
        return None
    return cache_root() / f"wisdom-{cache_key()[:16]}.json"


def _shape_key(equation, m, n_j, n_k, dtype, parts):
    return f"{equation} {int(m)}x{int(n_j)}x{int(n_k)} {np.dtype(dtype).name} parts={int(parts)}"


def load_wisdom() -> dict:
    """The stored winners (shape key -> "tiles" or "blas"); {} when there
    are none, the cache is off, or the file is unreadable."""
    path = wisdom_path()
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, ValueError):
        return {}
    winners = data.get("winners") if isinstance(data, dict) else None
    return {k: v for k, v in winners.items() if v in _ENGINES} if isinstance(winners, dict) \
        else {}


def _store_wisdom(winners, timings):
    path = wisdom_path()
    if path is None:
        return None
    stored = load_wisdom()
    stored.update(winners)
    data = {"format": "fastnn-wisdom-1", "isa": HOST_ISA.family, "tiles": list(HOST_TILES),
            "winners": stored, "timings_us": timings}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1, sort_keys=True)
    os.replace(temporary, path)
    return path


def _time(call, repeats=7, rounds=5):
    best = []
    for _ in range(rounds):
        fastest = np.inf
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            fastest = min(fastest, time.perf_counter() - started)
        best.append(fastest)
    return float(np.median(best))


def tune(shapes, dtypes=("float32",), parts=None, report=None) -> dict:
    """Time the blocked kernels against BLAS on each layer shape (m, L_i,
    L_{i-1}) (``measure``) and store the winner of each equation as wisdom;
    returns the winners. report(text) is called once per equation measured."""
    winners, timings = measure(shapes, dtypes, parts, report)
    if winners:
        _store_wisdom(winners, timings)
    return winners


def measure(shapes, dtypes=("float32",), parts=None, report=None):
    """For each layer shape (m, L_i, L_{i-1}), dtype and equation, the
    seconds of one part of the layer (as the staged epoch cuts it into
    ``parts``) through the blocked kernels and through BLAS, one thread,
    median of rounds of best-of-several calls. Returns ({shape key:
    winner}, {shape key: {"tiles": us, "blas": us}}); empty without BLAS."""
    from .kernels import blas, layers
    from .kernels.neurons import NO_ROWS, plain_rule

    parts = default_parts() if parts is None else int(parts)
    winners, timings = {}, {}
    if not _blas.available():
        return winners, timings
    rng = np.random.default_rng(0)
    with _blas.one_thread():
        for dtype in dtypes:
            dtype = np.dtype(dtype)
            for m, n_j, n_k in shapes:
                rows, samples = _part_sizes(n_j, m, parts)
                rows, samples = min(rows, n_j), min(samples, m)
                w = (rng.standard_normal((n_j, n_k)) * 0.05).astype(dtype)
                b = np.zeros(n_j, dtype)
                x = rng.random((m, n_k)).astype(dtype)
                a = np.zeros((m, n_j), dtype)
                delta = (rng.standard_normal((m, n_j)) * 0.01).astype(dtype)
                delta_prev = np.zeros((m, n_k), dtype)
                grad_w, grad_b = np.zeros_like(w), np.zeros_like(b)
                zero, j_end, n_end = np.int64(0), np.int64(rows), np.int64(samples)
                scale, eta, decay = dtype.type(1.0 / m), dtype.type(0.0), dtype.type(1.0)
                rule = plain_rule(1, dtype)  # the logistic: f and f' cost the same either way
                calls = {
                    "forward": (lambda: layers.forward_rows(w, b, x, a, zero, j_end, rule,
                                                            NO_ROWS),
                                lambda: blas.forward_rows_blas(w, b, x, a, zero, j_end, rule,
                                                               NO_ROWS)),
                    "backward": (lambda: layers.backward_delta_samples(
                                     w, delta[:n_end], x, delta_prev, zero, rule, NO_ROWS),
                                 lambda: blas.backward_samples_blas(w, delta, x, delta_prev,
                                                                    zero, n_end, rule, NO_ROWS)),
                    "gradient": (lambda: layers.gradient_rows(
                                     delta, x, w, b, grad_w, grad_b, scale, eta, decay, zero,
                                     j_end),
                                 lambda: blas.gradient_rows_blas(
                                     delta, x, w, b, grad_w, grad_b, scale, eta, decay, zero,
                                     j_end)),
                }
                for equation, (tiles_call, blas_call) in calls.items():
                    tiles_call(), blas_call()  # compile or load
                    seconds = {"tiles": _time(tiles_call), "blas": _time(blas_call)}
                    key = _shape_key(equation, m, n_j, n_k, dtype, parts)
                    winner = min(seconds, key=seconds.get)
                    winners[key] = winner
                    timings[key] = {name: round(value * 1e6, 2) for name, value in
                                    seconds.items()}
                    if report is not None:
                        report(f"{key}: tiles {seconds['tiles'] * 1e6:.1f} us, blas "
                               f"{seconds['blas'] * 1e6:.1f} us -> {winner}")
    return winners, timings
