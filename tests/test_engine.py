"""The per-layer plan (fastnn.engine): the default rule, wisdom, the plan
recorded with a run and used by its resume, and SciPy's BLAS kept to one
thread while an epoch runs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import _blas, engine
from fastnn.kernels import staged
from fastnn.plan import EpochPlan

HAS_BLAS = _blas.available()
needs_blas = pytest.mark.skipif(not HAS_BLAS, reason="SciPy's OpenBLAS is not available")


def test_the_default_rule_sends_big_layers_to_blas_and_small_ones_to_the_tiles():
    plan = engine.default_plan([784, 256, 256, 10], 128, parts=2, blas=True)
    # the forward of a layer reading 784 inputs stays on the tiles, its
    # gradient goes to BLAS (engine's docstring: measured per equation)
    assert [plan.engine(i, "forward") for i in (1, 2, 3)] == ["tiles", "blas", "tiles"]
    assert [plan.engine(i, "gradient") for i in (1, 2, 3)] == ["blas", "blas", "tiles"]
    assert plan.engine(2, "backward") == "blas" and plan.engine(3, "backward") == "tiles"
    # parts: whole row blocks, whole sample blocks, at least the layer over two
    assert plan.array[1, staged.ROWS] == 128 and plan.array[1, staged.SAMPLES] == 64
    assert not engine.default_plan([784, 256, 256, 10], 128, parts=2, blas=False).uses_blas
    # the workloads of the shared epoch keep the blocked kernels
    for sizes, batch in (([784, 30, 10], 10), ([784, 100, 10], 32)):
        assert not engine.default_plan(sizes, batch, parts=2, blas=True).uses_blas


@pytest.mark.parametrize("inputs, forward", [(256, "blas"), (383, "blas"), (384, "tiles"),
                                             (784, "tiles"), (800, "tiles"), (801, "blas"),
                                             (1024, "blas")])
def test_the_default_forward_stays_on_the_tiles_for_inputs_in_its_range(inputs, forward):
    plan = engine.default_plan([inputs, 256, 256, 10], 128, parts=2, blas=True)
    assert plan.engine(1, "forward") == forward
    assert plan.engine(1, "gradient") == "blas" and plan.engine(2, "forward") == "blas"
    assert engine.FORWARD_TILES_INPUTS == (384, 800)


def test_a_plan_recorded_before_the_per_equation_rule_keeps_its_engines():
    # a run recorded when the default sent the whole of W4's layer 1 to BLAS
    # resumes on BLAS: a record means what it says, not today's default
    record = {"engine": 1, "source": "default", "isa": "avx512", "tiles": [6, 4, 4, 4, 4, 8, 4, 4], "parts": 2,
              "layers": [{"forward": "blas", "backward": "-", "gradient": "blas",
                          "rows_per_part": 128, "samples_per_part": 64},
                         {"forward": "blas", "backward": "blas", "gradient": "blas",
                          "rows_per_part": 128, "samples_per_part": 64},
                         {"forward": "tiles", "backward": "tiles", "gradient": "tiles",
                          "rows_per_part": 16, "samples_per_part": 64}]}
    plan = engine.LayerPlan.from_record(record, 3)
    assert [plan.engine(1, e) for e in ("forward", "gradient")] == ["blas", "blas"]
    assert plan.array[1, staged.BACKWARD] == staged.TILES
    assert plan.record()["layers"] == record["layers"]


def test_a_plan_survives_its_record():
    plan = engine.default_plan([784, 256, 256, 10], 128, parts=3, blas=True)
    record = json.loads(json.dumps(plan.record()))
    again = engine.LayerPlan.from_record(record, 3)
    assert np.array_equal(again.array, plan.array) and again.parts == 3
    assert again.source == "recorded"
    with pytest.raises(ValueError, match="layers"):
        engine.LayerPlan.from_record(record, 2)


@needs_blas
def test_blas_runs_in_one_thread_during_an_epoch_and_gets_its_threads_back():
    library = _blas.blas_library()
    before = library.get_threads()
    seen = []
    with _blas.one_thread():
        seen.append(library.get_threads())
        with _blas.one_thread():  # nested (two epochs at once) share it
            seen.append(library.get_threads())
        seen.append(library.get_threads())
    assert seen == [1, 1, 1]
    assert library.get_threads() == before


@needs_blas
def test_wisdom_is_stored_beside_the_cache_and_taken_by_the_next_plan(tmp_path, monkeypatch):
    from fastnn._cache import key

    monkeypatch.setattr(key, "cache_root", lambda: tmp_path)
    shapes = [(64, 96, 40)]
    winners = engine.tune(shapes, ("float32",), parts=2)
    path = engine.wisdom_path()
    assert path.parent == tmp_path and path.name.startswith("wisdom-")
    assert set(winners.values()) <= {"tiles", "blas"} and len(winners) == 3
    assert engine.load_wisdom() == winners
    # make BLAS win everything, as if measured so: the plan follows the wisdom
    data = json.loads(path.read_text())
    data["winners"] = {k: "blas" for k in data["winners"]}
    path.write_text(json.dumps(data))
    plan = engine.plan_for([40, 96, 10], 64, np.float32, parts=2)
    assert plan.source == "wisdom" and plan.engine(1, "forward") == "blas"
    assert plan.engine(2, "forward") == "tiles"  # 10 x 96 was not measured
    # a damaged file is no wisdom
    path.write_text("{not json")
    assert engine.load_wisdom() == {}
    assert engine.plan_for([40, 96, 10], 64, np.float32, parts=2).source == "default"


def test_without_a_cache_there_is_no_wisdom(monkeypatch):
    monkeypatch.setattr(fastnn._config, "CACHE", False)
    assert engine.wisdom_path() is None
    assert engine.load_wisdom() == {}


@needs_blas
def test_the_plan_is_recorded_and_a_resume_runs_it_bitwise(tmp_path):
    """A run records its plan in the history and its checkpoints; resumed
    from a checkpoint it takes that plan, and ends bitwise where the
    uninterrupted run ends."""
    from fastnn.checkpoint import read_checkpoint

    rng = np.random.default_rng(3)
    X = rng.random((200, 300)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    # 64 x 256 x 300 = 4.9M multiply-adds in layer 1: BLAS by default
    sizes = [300, 256, 128, 10]
    whole = fastnn.Network(sizes, seed=1, dtype=np.float32)
    history = whole.train(X, y, epochs=3, batch_size=64, eta=0.5, seed=2, n_threads=2)
    assert history.driver == "train_epoch_staged"
    assert history.plan["layers"][0]["forward"] == "blas"
    assert history.plan["isa"] == fastnn.kernels.HOST_ISA.family
    first = fastnn.Network(sizes, seed=1, dtype=np.float32)
    first.train(X, y, epochs=3, batch_size=64, eta=0.5, seed=2, n_threads=1,
                checkpoint=tmp_path / "run.ckpt",
                callback=lambda epoch, history: epoch == 1)
    saved = read_checkpoint(tmp_path / "run.ckpt")
    assert saved.state.plan == history.plan
    resumed, resumed_history = fastnn.resume(tmp_path / "run.ckpt", X, y, n_threads=2)
    assert resumed_history.plan["source"] == "recorded"
    assert {**resumed_history.plan, "source": "default"} == history.plan
    assert np.array_equal(resumed.params, whole.params)


@pytest.mark.slow
def test_fastnn_info_shows_the_machine_and_compile_tune_stores_wisdom(tmp_path):
    """The commands end to end, on an empty cache (every kernel compiles)."""
    env = dict(os.environ, FASTNN_CACHE_DIR=str(tmp_path))
    env.pop("FASTNN_CACHE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    info = subprocess.run([sys.executable, "-m", "fastnn", "info"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert info.returncode == 0, info.stderr
    text = info.stdout
    assert "kernels built for: " in text and "register tiles: forward " in text
    assert "BLAS engine: " in text
    if not HAS_BLAS:
        return
    tune = subprocess.run([sys.executable, "-m", "fastnn", "compile", "--dtype", "float32",
                           "--tune", "40-96-10", "--batch-size", "64"], env=env,
                          capture_output=True, text=True, timeout=900)
    assert tune.returncode == 0, tune.stderr
    assert "forward 64x96x40 float32" in tune.stdout and "winners stored in" in tune.stdout
    info = subprocess.run([sys.executable, "-m", "fastnn", "info"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert "wisdom: 6 measured shapes" in info.stdout, info.stdout
