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


class _ColdWarmStartup:
    """A fresh interpreter running ``code``, with an empty compile cache
    ("cold") or one that an earlier process filled ("warm")."""

    params = [["cold", "warm"]]
    param_names = ["compile_cache"]
    # A cold sample is a full compile (~10-20 s of one core): two samples,
    # no warm-up run, one round.
    warmup_time = 0
    repeat = (2, 3, 20.0)
    rounds = 1
    min_run_count = 1
    timeout = 300
    code = ""

    def check_first_run(self, root):
        """Raise if what the first run (in ``root``) computed is wrong."""

    def first_run_code(self, root):
        return self.code

    def setup_cache(self):
        """Fill the warm cache in a fresh interpreter and check what it did.

        Runs in asv's per-class temporary directory (the cwd here), which
        asv deletes after the benchmarks; the cold runs' directories go there
        too.
        """
        root = os.path.abspath("fastnn-caches")
        warm_dir = os.path.join(root, "warm")
        cold_root = os.path.join(root, "cold")
        os.makedirs(warm_dir)
        os.makedirs(cold_root)
        subprocess.run([sys.executable, "-c",
                        _cache_setup_code(repr(warm_dir)) + self.first_run_code(root)],
                       check=True)
        self.check_first_run(root)
        if not any(name.endswith(".nbi") for _, _, files in os.walk(warm_dir) for name in files):
            raise AssertionError(f"the first run wrote no compiled kernels into {warm_dir}; "
                                 "the 'warm' case would compile too")
        return {"warm": warm_dir, "cold_root": cold_root}

    def code_and_setup(self, cache_dirs, compile_cache):
        if compile_cache == "warm":
            cache_dir = repr(cache_dirs["warm"])
        else:
            cache_dir = f"tempfile.mkdtemp(dir={cache_dirs['cold_root']!r})"
        return self.code, _cache_setup_code(cache_dir)


class StartupToFirstMiniBatch(_ColdWarmStartup):
    code = FIRST_MINI_BATCH

    def first_run_code(self, root):
        return self.code + f"np.save({os.path.join(root, 'params.npy')!r}, network.params)\n"

    def check_first_run(self, root):
        assert_close(np.load(os.path.join(root, "params.npy")), _expected_parameters(),
                     np.float32, "parameters after the first mini-batch in a fresh interpreter")

    def timeraw_import_to_first_mini_batch(self, cache_dirs, compile_cache):
        return self.code_and_setup(cache_dirs, compile_cache)


CLI_TRAIN = textwrap.dedent("""
    import contextlib, io
    from fastnn.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["train", "--epochs", "1", "--quiet"])
    assert status == 0, status
""")


class StartupCliTrain(_ColdWarmStartup):
    """``fastnn train --epochs 1``, cold (empty cache) and warm."""

    code = CLI_TRAIN

    def timeraw_cli_train_one_epoch(self, cache_dirs, compile_cache):
        return self.code_and_setup(cache_dirs, compile_cache)
