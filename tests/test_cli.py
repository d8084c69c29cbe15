"""The real `fastnn` command, run as `python -m fastnn` in a subprocess."""
import contextlib
import importlib
import io
import os
import re
import subprocess
import sys
import shutil
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from test_datasets import write_mnist

ROOT = Path(__file__).resolve().parents[1]


def fastnn(*args, cwd=ROOT):
    """Run the command line; returns the CompletedProcess (text output)."""
    env = dict(os.environ, COLUMNS="120")
    env.pop("PYTHONPATH", None)  # the checkout in cwd is the code under test
    return subprocess.run(
        [sys.executable, "-m", "fastnn", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def assert_one_line_error(result, *phrases):
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastnn: error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    assert result.stdout == ""


def test_console_script_resolves_to_cli_main():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with open(ROOT / "pyproject.toml", "rb") as stream:
        project = tomllib.load(stream)["project"]
    assert project["scripts"]["fastnn"] == "fastnn.cli:main"
    module_name, function_name = project["scripts"]["fastnn"].split(":")
    module = importlib.import_module(module_name)
    assert Path(module.__file__).resolve().is_relative_to(ROOT)
    assert callable(getattr(module, function_name))
    assert {"scikit-learn", "tqdm", "matplotlib"} <= {
        re.split(r"[<>=]", requirement)[0] for requirement in project["optional-dependencies"]["cli"]
    }


def installed_console_script():
    """The `fastnn` script pip put beside this interpreter, if it runs this checkout."""
    script = shutil.which("fastnn", path=sysconfig.get_path("scripts"))
    if script is None:
        pytest.skip("the fastnn console script is not installed (pip install -e .)")
    location = imported_fastnn_location(script_interpreter(script))
    if location is None:
        # The failure of issue 12: a directory named fastnn without an
        # __init__.py (a site-packages/fastnn/__pycache__ that an uninstall
        # left behind) shadows the install as an empty namespace package.
        pytest.fail("`import fastnn` finds a namespace package (fastnn.__file__ is None): "
                    "a leftover directory named fastnn shadows the installed package")
    if not location.is_relative_to(ROOT):
        pytest.skip("the installed fastnn is another checkout")
    return script


def script_interpreter(script):
    """The Python of a console script's #! line (the one it imports fastnn with)."""
    with open(script, "rb") as stream:
        first = stream.readline().decode(errors="replace")
    if first.startswith("#!"):
        words = first[2:].split()
        if words and "python" in os.path.basename(words[0]) and os.path.isfile(words[0]):
            return words[0]
    return sys.executable


def imported_fastnn_location(python):
    """Where ``python`` imports fastnn from, run outside the checkout; None: no __file__."""
    probe = subprocess.run([python, "-c", "import fastnn; print(fastnn.__file__)"], cwd="/",
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    printed = probe.stdout.strip()
    return None if printed == "None" else Path(printed).resolve()


def test_installed_console_script_trains_and_reports_errors(tmp_path):
    script = installed_console_script()
    env = dict(os.environ, COLUMNS="120")
    package = imported_fastnn_location(script_interpreter(script)).parent
    compiled_in_package = set(package.rglob("*.nb[ic]"))
    trained = subprocess.run([script, "train", "--epochs", "2", "--quiet",
                              "--out", str(tmp_path / "model.npz")],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr
    # Compiled kernels go to the user's cache directory, never into the
    # package (where an uninstall would leave them behind).
    assert set(package.rglob("*.nb[ic]")) <= compiled_in_package
    assert "test accuracy" in trained.stdout
    info = subprocess.run([script, "info", str(tmp_path / "model.npz")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert info.returncode == 0 and "64" in info.stdout, info.stderr
    missing = subprocess.run([script, "info", str(tmp_path / "nothing.npz")], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300)
    assert_one_line_error(missing, "does not exist")


def test_optional_dependencies_are_not_imported_by_fastnn_or_the_cli_module():
    code = (
        "import sys, fastnn, fastnn.cli, fastnn.datasets, fastnn.compat.nielsen\n"
        "print(sorted(m for m in ('sklearn', 'tqdm', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli")
    model, plot = directory / "model.npz", directory / "curve.png"
    result = fastnn("train", "--epochs", 3, "--out", model, "--plot", plot)
    return result, model, plot


def test_train_reports_progress_accuracy_and_files(trained):
    result, model, plot = trained
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # The progress bar on stderr: epoch count, cost, test accuracy, speed.
    assert "3/3" in result.stderr
    assert re.search(r"cost=\d\.\d{4}, test acc=\d+\.\d\d%, [\d,]+ samples/s", result.stderr)
    lines = result.stdout.splitlines()
    accuracy = float(re.match(r"test accuracy: (\d+\.\d\d)% \(\d+/450\) after 3 epochs", lines[0])[1])
    assert accuracy > 80.0
    assert lines[1] == f"model written to {model}"
    assert lines[2] == f"plot written to {plot}"
    png = plot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000


def test_info_evaluate_predict_on_the_saved_model(trained, tmp_path):
    train_result, model, _ = trained

    info = fastnn("info", model)
    assert info.returncode == 0, info.stderr
    lines = info.stdout.splitlines()
    assert lines[:5] == [
        "sizes: 64-30-10", "dtype: float64", "cost: quadratic, output: sigmoid",
        "hidden layers: logistic", "parameters: 2260 (2220 weights, 40 biases)"
    ]
    # then the kernel plan a training with batch 10 would run, layer by layer
    assert lines[5].startswith("kernel plan for batch 10 (default; "), lines
    assert re.fullmatch(r"  layer 1 \(64->30\): forward tiles, backward -, gradient tiles; "
                        r"parts of \d+ rows, \d+ samples", lines[6]), lines
    assert lines[7].startswith("  layer 2 (30->10): forward tiles, backward tiles, "), lines
    assert len(lines) == 8

    evaluate = fastnn("evaluate", model, "--data", "digits")
    assert evaluate.returncode == 0, evaluate.stderr
    # The same test split as training used, so the same accuracy.
    train_accuracy = train_result.stdout.splitlines()[0].split(" after")[0]
    assert evaluate.stdout.splitlines()[0] == f"{train_accuracy} on digits"
    assert re.fullmatch(r"mean quadratic cost: \d\.\d{6}", evaluate.stdout.splitlines()[1])

    from sklearn.datasets import load_digits

    import fastnn as library

    inputs = load_digits().data[:25] / 16.0
    np.save(tmp_path / "inputs.npy", inputs)
    expected = library.load(model).predict(inputs)
    printed = fastnn("predict", model, tmp_path / "inputs.npy")
    assert printed.returncode == 0, printed.stderr
    assert [int(line) for line in printed.stdout.split()] == expected.tolist()
    saved = fastnn("predict", model, tmp_path / "inputs.npy", "--output", tmp_path / "labels.npy")
    assert saved.returncode == 0 and "25 predictions written to" in saved.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), expected)


def fastnn_info(*args, **environment):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "FASTNN_CACHE_DIR", "FASTNN_CACHE",
                        "FASTNN_PARALLEL")}
    env.update(environment)
    result = subprocess.run([sys.executable, "-m", "fastnn", "info", *map(str, args)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_info_without_a_model_shows_the_cache_and_the_threading_layer(tmp_path):
    cache = tmp_path / "cache"
    lines = fastnn_info(FASTNN_CACHE_DIR=cache)
    assert lines[0].startswith("fastnn ") and "numba " in lines[0]
    assert lines[1] == "cache: on"
    assert lines[2] == f"cache directory: {cache} (from FASTNN_CACHE_DIR)"
    build = re.fullmatch(rf"this build's kernels: ({re.escape(str(cache))}/kernels-[0-9a-f]{{16}})"
                         r" \(none yet\)", lines[3])
    assert build, lines[3]
    assert re.fullmatch(r"threading layer: (omp|tbb|workqueue) \(\d+ threads?\)", lines[4]), lines
    # the machine: CPU, the ISA the kernels are built for, their tiles, the
    # BLAS engine, the wisdom beside the cache
    assert lines[5].startswith("CPU: ") and lines[5].endswith(" cores"), lines
    assert re.fullmatch(r"kernels built for: (avx512|avx2|sse2|neon) \(.+\): \d+ vector "
                        r"registers of \d+ bits.*", lines[6]), lines
    assert lines[7].startswith("register tiles: forward "), lines
    assert lines[8].startswith("BLAS engine: "), lines
    assert lines[9].startswith("wisdom: none yet") and str(cache) in lines[9], lines
    assert len(lines) == 10

    build = Path(build[1])
    build.mkdir(parents=True)
    (build / "a.nbc").write_bytes(bytes(2_500_000))
    (build / "a.nbi").write_bytes(bytes(100))
    old = cache / "kernels-0123456789abcdef"
    old.mkdir()
    (old / "b.nbc").write_bytes(bytes(1_000_000))
    (cache / "keep.txt").write_text("not fastnn's\n")
    lines = fastnn_info(FASTNN_CACHE_DIR=cache)
    assert lines[3] == f"this build's kernels: {build} (2.5 MB in 2 files)"
    assert lines[4] == ("all builds: 2 directories, 3.5 MB in 3 files "
                        "(fastnn info --clear-cache deletes them)")

    lines = fastnn_info("--clear-cache", FASTNN_CACHE_DIR=cache)
    assert lines[0] == f"removed 2 cached builds of the kernels (3.5 MB) from {cache}"
    assert lines[4] == f"this build's kernels: {build} (none yet)"
    assert sorted(p.name for p in cache.iterdir()) == ["keep.txt"]


def test_info_reports_the_cache_and_threads_switched_off(tmp_path):
    lines = fastnn_info(FASTNN_CACHE_DIR=tmp_path, FASTNN_CACHE="0", FASTNN_PARALLEL="0")
    assert lines[1] == "cache: off (FASTNN_CACHE=0)"
    assert lines[4].endswith("; fastnn's threaded kernels are off (FASTNN_PARALLEL=0)")
    assert lines[-1] == "wisdom: none (the cache is off)"
    # The single-threaded build has a key of its own.
    assert lines[3] != fastnn_info(FASTNN_CACHE_DIR=tmp_path)[3]


def test_info_uses_the_users_cache_directory_by_default(tmp_path):
    lines = fastnn_info(XDG_CACHE_HOME=tmp_path, HOME=tmp_path / "home")
    if sys.platform.startswith("linux"):
        assert lines[2] == (f"cache directory: {tmp_path / 'fastnn'} (the user's cache "
                            "directory; set FASTNN_CACHE_DIR to move it)")


def test_train_and_evaluate_on_mnist_idx_files_and_npz(tmp_path):
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    write_mnist(mnist, n_train=40, n_test=12, gz=True)
    model = tmp_path / "small.npz"
    result = fastnn("train", "--data", mnist, "--sizes", "20,6,10", "--epochs", 2,
                    "--batch-size", 4, "--eta", 0.5, "--dtype", "float32", "--seed", 3,
                    "--quiet", "--out", model)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no progress bar
    assert re.match(r"test accuracy: \d+\.\d\d% \(\d+/12\) after 2 epochs", result.stdout)
    assert fastnn("info", model).stdout.splitlines()[:2] == ["sizes: 20-6-10", "dtype: float32"]

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "holdout.npz", X=rng.random((9, 20)), y=rng.integers(0, 10, 9))
    evaluate = fastnn("evaluate", model, "--data", tmp_path / "holdout.npz")
    assert evaluate.returncode == 0, evaluate.stderr
    assert re.match(r"test accuracy: \d+\.\d\d% \(\d/9\) on ", evaluate.stdout)


def error_cases(directory, model):
    """(arguments, phrases the one-line error must contain) for each bad call."""
    corrupt = directory / "corrupt.npz"
    corrupt.write_bytes(b"this is not a zip archive" * 4)
    damaged = directory / "damaged.npz"
    raw = bytearray(model.read_bytes())
    raw[len(raw) // 3:len(raw) // 3 + 64] = bytes(64)
    damaged.write_bytes(bytes(raw))
    np.savez(directory / "no_xy.npz", inputs=np.zeros((3, 64)))
    np.savez(directory / "narrow.npz", X=np.zeros((5, 10)), y=np.zeros(5, int))
    np.savez(directory / "labels_too_big.npz", X=np.zeros((5, 64)), y=np.full(5, 12))
    np.save(directory / "narrow.npy", np.zeros((3, 10)))
    return [
        (["info", directory / "missing.npz"], ["does not exist"]),
        (["evaluate", directory / "missing.npz"], ["does not exist"]),
        (["info", corrupt], ["not a .npz archive"]),
        (["info", damaged], ["corrupt"]),
        (["info", directory / "no_xy.npz"], ["not a valid fastnn model"]),
        (["evaluate", model, "--data", directory / "no_xy.npz"], ["no array X or y"]),
        (["train", "--data", directory / "no_xy.npz"], ["no array X or y"]),
        (["evaluate", model, "--data", directory / "narrow.npz"], ["10 features", "64"]),
        (["evaluate", model, "--data", directory / "labels_too_big.npz"], ["labels up to 12"]),
        (["evaluate", model, "--data", corrupt], ["not a .npz archive"]),
        (["predict", model, directory / "narrow.npy"], ["10 features", "input layer has 64"]),
        (["predict", model, corrupt], ["not a NumPy .npy file"]),
        (["predict", model, directory / "missing.npy"], ["does not exist"]),
        # Small files rather than the digits keep scikit-learn's import out of these runs.
        (["train", "--data", directory / "narrow.npz", "--sizes", "64,30,10"],
         ["64 inputs", "10 features"]),
        (["train", "--data", directory / "labels_too_big.npz", "--sizes", "64,30,10"],
         ["10 outputs", "labels up to 12"]),
        (["train", "--sizes", "64;30"], ["--sizes"]),
        (["train", "--epochs", "0"], ["--epochs", "at least 1"]),
        (["train", "--batch-size", "ten"], ["--batch-size", "whole number"]),
        (["train", "--eta", "-3"], ["--eta"]),
        (["train", "--dtype", "float16"], ["--dtype"]),
        (["train", "--data", directory / "nowhere"], ["no such file or directory"]),
        (["train", "--out", directory / "nowhere" / "m.npz"], ["--out", "does not exist"]),
        (["train", "--colour"], ["unrecognized arguments"]),
        (["fly"], ["invalid choice"]),
    ]


def test_every_error_is_one_line_on_stderr_with_status_2(trained, tmp_path):
    _, model, _ = trained
    cases = error_cases(tmp_path, model)
    # Each run mostly waits on imports; a few at a time keeps this test short.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda case: fastnn(*case[0]), cases))
    for (arguments, phrases), result in zip(cases, results):
        assert_one_line_error(result, *phrases)


def hostile_files(directory):
    """Files of issue 14 that once gave tracebacks, a 23 GiB network or a long stall."""
    np.savez(directory / "bomb.npz", format_version=np.array(1),
             sizes=np.array([15000, 15000, 10]), dtype=np.array("float64"))
    np.savez(directory / "huge.npz", format_version=np.array(1),
             sizes=np.array([10**6, 10**6, 10]), dtype=np.array("float64"))
    np.savez(directory / "v99.npz", format_version=np.array(99), sizes=np.array([3, 2]),
             dtype=np.array("float64"), weights_0=np.zeros((2, 3)), biases_0=np.zeros(2))
    np.save(directory / "scalar.npy", np.array(3.0))
    np.save(directory / "empty.npy", np.zeros((0, 64)))
    np.save(directory / "objects.npy", np.array([1, None], dtype=object), allow_pickle=True)
    np.save(directory / "liar.npy", np.zeros(3))
    liar = bytearray((directory / "liar.npy").read_bytes())
    liar[liar.index(b"(3,)"):liar.index(b"(3,)") + 4] = b"(9,)"
    (directory / "liar.npy").write_bytes(bytes(liar))
    rng = np.random.default_rng(0)
    np.savez(directory / "id_labels.npz", X=rng.random((50, 4)),
             y=np.r_[np.zeros(49, int), 10**8])
    np.savez(directory / "huge_label.npz", X=rng.random((50, 4)), y=np.r_[np.zeros(49), 1e30])
    np.savez(directory / "object_x.npz", X=np.array([[1, None]], dtype=object),
             y=np.zeros(1, int), allow_pickle=True)
    return [
        (["info", directory / "bomb.npz"], ["not a valid fastnn model", "no 'weights_0' entry"]),
        (["info", directory / "huge.npz"], ["sizes [1000000, 1000000, 10]", "7,450.66 GiB of memory"]),
        (["info", directory / "v99.npz"], ["format_version 99", "format_version 1 and 2 only"]),
        (["predict", "MODEL", directory / "scalar.npy"], ["a single number (a 0-d array)"]),
        (["predict", "MODEL", directory / "empty.npy"], ["no samples (shape (0, 64))"]),
        (["predict", "MODEL", directory / "objects.npy"], ["Python objects"]),
        (["predict", "MODEL", directory / "liar.npy"], ["declares shape (9,)", "holds 24 bytes"]),
        (["train", "--data", directory / "id_labels.npz"],
         ["labels go up to 100,000,000", "100,000,001 output neurons for 50 samples", "--sizes"]),
        (["train", "--data", directory / "huge_label.npz"], ["the label 1e+30, too large"]),
        (["evaluate", "MODEL", "--data", directory / "object_x.npz"], ["Python objects"]),
        (["train", "--epochs", str(10**11)], ["--epochs", "at most 1,000,000,000"]),
    ]


def run_main(capsys, arguments):
    """fastnn.cli.main in this process: (status, stdout, stderr)."""
    from fastnn import cli

    status = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_hostile_files_and_inputs_are_one_line_errors(trained, tmp_path, capsys):
    _, model, _ = trained
    for arguments, phrases in hostile_files(tmp_path):
        arguments = [model if argument == "MODEL" else argument for argument in arguments]
        status, out, err = run_main(capsys, arguments)
        assert status == 2 and out == "", (arguments, out, err)
        assert len(err.splitlines()) == 1 and err.startswith("fastnn: error: "), err
        for phrase in phrases:
            assert phrase in err, (phrase, err)


def test_hostile_files_give_one_line_and_status_2_from_the_real_command(trained, tmp_path):
    _, model, _ = trained
    hostile_files(tmp_path)
    chosen = [(["info", str(tmp_path / "bomb.npz")], "no 'weights_0' entry"),
              (["predict", str(model), str(tmp_path / "scalar.npy")], "0-d array"),
              (["train", "--data", str(tmp_path / "id_labels.npz")], "100,000,000")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda case: fastnn(*case[0]), chosen))
    for (arguments, phrase), result in zip(chosen, results):
        assert_one_line_error(result, phrase)


@pytest.mark.parametrize("message, shown", [
    ("Unable to allocate 23.1 GiB for an array with shape (3100001981,) and data type float64",
     "out of memory: Unable to allocate 23.1 GiB"),
    ("", "out of memory: an allocation failed"),
])
def test_a_memory_error_anywhere_is_one_line_and_status_2(tmp_path, capsys, monkeypatch,
                                                         message, shown):
    from fastnn import datasets

    def exhausted(*args, **kwargs):
        raise MemoryError(message) if message else MemoryError()

    monkeypatch.setattr(datasets, "load_npz", exhausted)
    np.savez(tmp_path / "data.npz", X=np.zeros((4, 2)), y=np.zeros(4, int))
    status, out, err = run_main(capsys, ["train", "--data", tmp_path / "data.npz", "--quiet"])
    assert status == 2 and out == ""
    assert err.startswith(f"fastnn: error: {shown}")
    assert len(err.splitlines()) == 1


def test_predict_input_bigger_than_the_memory_is_one_line(trained, tmp_path, capsys,
                                                          monkeypatch):
    from fastnn import _validation

    _, model, _ = trained
    np.save(tmp_path / "inputs.npy", np.full((300, 64), 0.25))
    # the model (18 KB) fits, the inputs (150 KB, twice: read and converted) do not
    monkeypatch.setattr(_validation, "available_memory", lambda: 100 * 2**10)
    monkeypatch.setattr(_validation, "MEMORY_CHECK_FROM", 1)
    status, out, err = run_main(capsys, ["predict", model, tmp_path / "inputs.npy"])
    assert status == 2 and out == ""
    assert err.startswith("fastnn: error: ") and len(err.splitlines()) == 1
    assert ("inputs.npy (shape (300, 64), float64) needs 0.29 MiB of memory but only "
            "0.10 MiB is available") in err


def test_predict_output_is_written_atomically_keeping_its_mode(trained, tmp_path, capsys):
    _, model, _ = trained
    np.save(tmp_path / "inputs.npy", np.full((3, 64), 0.25))
    output = tmp_path / "labels.npy"
    output.write_bytes(b"old")
    os.chmod(output, 0o640)
    status, out, err = run_main(capsys, ["predict", model, tmp_path / "inputs.npy",
                                         "--output", output])
    assert status == 0, err
    assert np.load(output).shape == (3,)
    assert oct(os.stat(output).st_mode & 0o777) == oct(0o640)
    assert sorted(os.listdir(tmp_path)) == ["inputs.npy", "labels.npy"]


def test_damaged_model_files_never_give_a_traceback(trained, tmp_path, capsys):
    from hypothesis import HealthCheck, given, settings, strategies as st

    _, model, _ = trained
    original = model.read_bytes()

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)),
                    min_size=1, max_size=6),
           st.integers(0, len(original)))
    def damaged_info(changes, length):
        raw = bytearray(original)
        for position, value in changes:
            raw[position] = value
        path = tmp_path / "damaged.npz"
        path.write_bytes(bytes(raw[:length]))
        for command in (["info", path], ["predict", model, path]):
            status, out, err = run_main(capsys, command)
            assert status in (0, 2), err
            if status == 2:
                assert len(err.splitlines()) == 1 and err.startswith("fastnn: error: "), err

    damaged_info()


def test_bare_fastnn_prints_the_help():
    result = fastnn()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: fastnn")
    for command in ("train", "evaluate", "predict", "info", "compile"):
        assert command in result.stdout
    assert result.stderr == ""


def test_an_unknown_option_is_one_line_without_a_stray_usage():
    result = fastnn("train", "--bogus")
    assert_one_line_error(result, "unrecognized arguments: --bogus")
    assert "usage" not in result.stderr


def test_cost_output_and_lmbda_from_the_command_line(tmp_path):
    """--cost, --output, --lmbda reach the network, its file and evaluate;
    the one impossible pair is one line and status 2."""
    model = tmp_path / "ce.npz"
    result = fastnn("train", "--epochs", "2", "--quiet", "--cost", "cross_entropy",
                    "--lmbda", "0.5", "--eta", "0.5", "--out", model)
    assert result.returncode == 0, result.stderr
    assert fastnn("info", model).stdout.splitlines()[2] == "cost: cross_entropy, output: sigmoid"
    evaluate = fastnn("evaluate", model)
    assert re.fullmatch(r"mean cross-entropy cost: \d+\.\d{6}", evaluate.stdout.splitlines()[1])
    refused = fastnn("train", "--epochs", "1", "--cost", "cross_entropy", "--output", "identity")
    assert refused.returncode == 2
    assert "needs output='sigmoid'" in refused.stderr and len(refused.stderr.splitlines()) == 1
    negative = fastnn("train", "--epochs", "1", "--lmbda", "-1")
    assert negative.returncode == 2 and "--lmbda" in negative.stderr


def test_activation_output_and_dropout_from_the_command_line(tmp_path):
    """Issue 23: --activation, --output softmax (the cross-entropy then by
    default), --dropout, --leaky-slope and --init reach the network and its
    file; what does not fit the layers is one line and status 2."""
    model = tmp_path / "relu.npz"
    result = fastnn("train", "--epochs", "2", "--quiet", "--sizes", "64,20,12,10",
                    "--activation", "relu,leaky_relu", "--leaky-slope", "0.1", "--output",
                    "softmax", "--dropout", "0.2,0", "--init", "he", "--eta", "0.1",
                    "--out", model)
    assert result.returncode == 0, result.stderr
    assert fastnn("info", model).stdout.splitlines()[2:4] == [
        "cost: cross_entropy, output: softmax",
        "hidden layers: relu, dropout 0.2; leaky_relu (slope 0.1)"]
    import fastnn as fastnn_module

    net = fastnn_module.load(model)
    assert net.activation == ("relu", "leaky_relu") and net.dropout == (0.2, 0.0)
    # (in this process: each is refused before anything is trained)
    from fastnn.cli import main

    for arguments, phrase in (
            (["--activation", "relu,tanh"], "this network has 1 hidden layer"),
            (["--activation", "swish"], "expected one of logistic, tanh, relu"),
            (["--dropout", "1.5"], "a dropout rate must be in [0, 0.99]"),
            (["--output", "softmax", "--cost", "quadratic"], "needs cost='cross_entropy'")):
        error = io.StringIO()
        with contextlib.redirect_stderr(error):
            status = main(["train", "--epochs", "1", "--quiet", *arguments])
        assert status == 2, (arguments, error.getvalue())
        assert phrase in error.getvalue() and len(error.getvalue().splitlines()) == 1


def test_train_takes_an_optimizer_its_momentum_and_a_schedule(tmp_path):
    """Issue 24: --optimizer, --momentum and --learning-rate reach
    Network.train (in this process); what does not go together is one line
    and status 2, before anything is trained."""
    from fastnn.cli import main

    out = tmp_path / "model.npz"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "--epochs", "2", "--optimizer", "nesterov", "--momentum", "0.5",
                     "--learning-rate", "invscaling", "--eta", "0.5", "--out", str(out),
                     "--quiet"]) == 0
        assert main(["train", "--epochs", "1", "--optimizer", "adam", "--eta", "0.001",
                     "--quiet"]) == 0
    assert out.exists()
    for arguments, phrase in ((["--optimizer", "adam", "--momentum", "0.5"], "not adam"),
                              (["--momentum", "0.5"], "needs --optimizer momentum"),
                              (["--optimizer", "momentum", "--momentum", "2"], "[0, 1]")):
        error = io.StringIO()
        with contextlib.redirect_stderr(error):
            status = main(["train", "--epochs", "1", "--quiet", *arguments])
        assert status == 2, (arguments, error.getvalue())
        assert phrase in error.getvalue() and len(error.getvalue().splitlines()) == 1
