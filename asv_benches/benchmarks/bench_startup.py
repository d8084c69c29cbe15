"""Time from ``import fastnn`` to a first trained mini-batch, in a fresh interpreter.

``cold``: numba's compile cache is an empty directory, so every kernel the
first mini-batch needs is compiled (and written to the cache), as on a
user's first run after installing. ``warm``: the cache directory was filled
by an earlier process, as on every later run.

The cache is steered with FASTNN_CACHE_DIR (fastnn/_cache.py);
FASTNN_CACHE is forced on so that the environment cannot turn "warm" into a
silent recompile.

``StartupCliTrain`` times the command a new user runs first, ``fastnn train
--epochs 1`` (64-30-10 on the digits, float64, batch 10), from the import of
the command line to its exit: issue 12's floors are <= 12 s cold and
<= 1.5 s warm on the 2-core reference machine (scripts/bench_compile.py
reports the same, with the compile time of each kernel).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np

import fastnn

from ._common import ETA, SEED, assert_close, numpy_sgd_epoch

SIZES = [784, 30, 10]
BATCH_SIZE = 10

# Everything from the import on is timed; data creation is a few
# microseconds next to it. One mini-batch holding all 10 samples.
FIRST_MINI_BATCH = textwrap.dedent(f"""
    import fastnn
    import numpy as np
    rng = np.random.default_rng({SEED})
    inputs = rng.random(({BATCH_SIZE}, {SIZES[0]}), dtype=np.float32)
    targets = np.eye({SIZES[-1]}, dtype=np.float32)[rng.integers(0, {SIZES[-1]}, size={BATCH_SIZE})]
    network = fastnn.Network({SIZES}, seed={SEED}, dtype=np.float32)
    network.train(inputs, targets, epochs=1, batch_size={BATCH_SIZE}, eta={ETA}, seed={SEED})
""")


def _cache_setup_code(cache_dir_expression):
    return textwrap.dedent(f"""
        import os, tempfile
        os.environ["FASTNN_CACHE"] = "1"
        os.environ["FASTNN_CACHE_DIR"] = {cache_dir_expression}
    """)


def _expected_parameters():
    """NumPy's parameters after the mini-batch of FIRST_MINI_BATCH (float64)."""
    rng = np.random.default_rng(SEED)
    inputs = rng.random((BATCH_SIZE, SIZES[0]), dtype=np.float32)
    targets = np.eye(SIZES[-1], dtype=np.float32)[rng.integers(0, SIZES[-1], size=BATCH_SIZE)]
    network = fastnn.Network(SIZES, seed=SEED, dtype=np.float32)
    weights = [w.astype(np.float64) for w in network.weights]
    biases = [b.astype(np.float64) for b in network.biases]
    numpy_sgd_epoch(weights, biases, inputs, targets, BATCH_SIZE, ETA)
    return np.concatenate([w.ravel() for w in weights] + biases)


class StartupToFirstMiniBatch:
    params = [["cold", "warm"]]
    param_names = ["compile_cache"]
    # A cold sample is a full compile (~10-20 s of one core): two samples,
    # no warm-up run, one round.
    warmup_time = 0
    repeat = (2, 3, 20.0)
    rounds = 1
    min_run_count = 1
    timeout = 300

    def setup_cache(self):
        """Fill the warm cache in a fresh interpreter and check what it trained.

        Runs in asv's per-class temporary directory (the cwd here), which
        asv deletes after the benchmarks; the cold runs' directories go there
        too.
        """
        root = os.path.abspath("numba-caches")
        warm_dir = os.path.join(root, "warm")
        cold_root = os.path.join(root, "cold")
        os.makedirs(warm_dir)
        os.makedirs(cold_root)
        result_path = os.path.join(root, "params.npy")
        code = (_cache_setup_code(repr(warm_dir)) + FIRST_MINI_BATCH
                + f"np.save({result_path!r}, network.params)\n")
        subprocess.run([sys.executable, "-c", code], check=True)
        assert_close(np.load(result_path), _expected_parameters(), np.float32,
                     "parameters after the first mini-batch in a fresh interpreter")
        cached = [name for _, _, files in os.walk(warm_dir) for name in files
                  if name.endswith(".nbi")]
        if not cached:
            raise AssertionError(f"the first run wrote no numba cache index into {warm_dir}; "
                                 "the 'warm' case would compile too")
        return {"warm": warm_dir, "cold_root": cold_root}

    def timeraw_import_to_first_mini_batch(self, cache_dirs, compile_cache):
        if compile_cache == "warm":
            cache_dir = repr(cache_dirs["warm"])
        else:
            cache_dir = f"tempfile.mkdtemp(dir={cache_dirs['cold_root']!r})"
        return FIRST_MINI_BATCH, _cache_setup_code(cache_dir)


CLI_TRAIN = textwrap.dedent("""
    import contextlib, io
    from fastnn.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["train", "--epochs", "1", "--quiet"])
    assert status == 0, status
""")


class StartupCliTrain:
    """``fastnn train --epochs 1``, cold (empty cache) and warm."""

    params = [["cold", "warm"]]
    param_names = ["compile_cache"]
    warmup_time = 0
    repeat = (2, 3, 20.0)
    rounds = 1
    min_run_count = 1
    timeout = 300

    def setup_cache(self):
        root = os.path.abspath("fastnn-cli-caches")
        warm_dir = os.path.join(root, "warm")
        cold_root = os.path.join(root, "cold")
        os.makedirs(warm_dir)
        os.makedirs(cold_root)
        subprocess.run([sys.executable, "-c", _cache_setup_code(repr(warm_dir)) + CLI_TRAIN],
                       check=True)
        if not any(name.endswith(".nbi") for _, _, files in os.walk(warm_dir) for name in files):
            raise AssertionError(f"fastnn train wrote no compiled kernels into {warm_dir}")
        return {"warm": warm_dir, "cold_root": cold_root}

    def timeraw_cli_train_one_epoch(self, cache_dirs, compile_cache):
        if compile_cache == "warm":
            cache_dir = repr(cache_dirs["warm"])
        else:
            cache_dir = f"tempfile.mkdtemp(dir={cache_dirs['cold_root']!r})"
        return CLI_TRAIN, _cache_setup_code(cache_dir)
