"""fastnn's compiled-kernel cache (fastnn/_cache/), exercised in child processes.

Each child gets its own ``FASTNN_CACHE_DIR`` and imports fastnn from a copy
of the package made once per module, so that edits made meanwhile in the
working tree (by whoever is editing the kernels) cannot change the cache key
between two children of one test. A child's work is a 4-3-2 network's
``feedforward`` (a cold compile of ~5-10 s) unless a test needs training.
"""
import ast
import contextlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

from fastnn import _cache

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fastnn"

needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="needs compiled kernels")

CHILD = textwrap.dedent("""
    import json, sys, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import numpy as np
        import fastnn
        from fastnn import _cache
        network = fastnn.Network([4, 3, 2], seed=0)
        if sys.argv[1] == "feedforward":
            result = network.feedforward(np.linspace(0.0, 1.0, 8).reshape(2, 4))
        else:
            rng = np.random.default_rng(0)
            inputs, labels = rng.random((20, 4)), rng.integers(0, 2, 20)
            network.train(inputs, labels, epochs=2, batch_size=5, eta=3.0, seed=0)
            result = network.params
    print(json.dumps({
        "result": np.asarray(result).tolist(),
        "weights": [w.tolist() for w in network.weights],
        "biases": [b.tolist() for b in network.biases],
        "cache_warnings": [str(w.message) for w in caught
                           if issubclass(w.category, _cache.CacheWarning)],
        "stats": _cache.session_stats(),
        "kernels_dir": str(_cache.kernels_dir()),
        "file": fastnn.__file__,
    }))
""")


def child_env(cache_dir, pythonpath=None, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "FASTNN_CACHE", "FASTNN_PARALLEL", "PYTHONPATH")}
    env["FASTNN_CACHE_DIR"] = str(cache_dir)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    env.update(extra)
    return env


def start_child(cache_dir, pythonpath, mode="feedforward", **extra):
    return subprocess.Popen([sys.executable, "-c", CHILD, mode], cwd=pythonpath,
                            env=child_env(cache_dir, pythonpath, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_child(process, pythonpath):
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    # The package under test, not the working tree's (and not a namespace
    # package, whose __file__ is None).
    assert report["file"] is not None
    assert Path(report["file"]).resolve().is_relative_to(Path(pythonpath).resolve())
    return report


def run_child(cache_dir, pythonpath, mode="feedforward", **extra):
    return finish_child(start_child(cache_dir, pythonpath, mode, **extra), pythonpath)


def copy_package(destination):
    """A copy of fastnn/ (no __pycache__) in destination/fastnn; returns destination."""
    shutil.copytree(PACKAGE, destination / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return destination


def cache_files(directory):
    return sorted(p for p in Path(directory).rglob("*") if p.suffix in (".nbi", ".nbc"))


def forward_reference(report, activation):
    a = np.linspace(0.0, 1.0, 8).reshape(2, 4)
    for w, b in zip(report["weights"], report["biases"]):
        a = activation(a @ np.asarray(w).T + np.asarray(b))
    return a


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return copy_package(tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="module")
def warm_cache(package, tmp_path_factory):
    """A cache filled by one feedforward child; the files a second child loads."""
    cache = tmp_path_factory.mktemp("template") / "cache"
    cold = run_child(cache, package)
    warm = run_child(cache, package)
    assert warm["stats"]["misses"] == 0 and warm["stats"]["hits"] > 0, warm["stats"]
    assert warm["result"] == cold["result"]
    return cache, cold, warm


# ---------------------------------------------------------------------------
# Where, and the key
# ---------------------------------------------------------------------------
@needs_jit
def test_kernels_are_cached_under_fastnn_cache_dir_and_never_in_the_package(
        package, warm_cache):
    cache, cold, warm = warm_cache
    key = _cache.compute_key(parallel=True, package_dir=package / "fastnn")
    build = cache / f"kernels-{key[:16]}"
    assert cold["kernels_dir"] == str(build)
    assert [p.name for p in cache.iterdir()] == [build.name]
    files = cache_files(cache)
    assert files and all(p.parent == build for p in files)
    assert cache_files(package) == []
    # Every kernel the first child compiled was written; the second child
    # loaded its entry points from there, compiling nothing.
    assert cold["stats"]["hits"] == 0 and cold["stats"]["misses"] > 0
    assert warm["stats"]["loaded"] and all(Path(p).parent == build
                                           for p in warm["stats"]["loaded"])
    assert not cold["cache_warnings"] and not warm["cache_warnings"]


@needs_jit
def test_the_entry_points_dispatcher_counts_a_cache_hit_in_a_second_process(warm_cache, package):
    cache, _, _ = warm_cache
    code = ("import numpy as np, fastnn\nfrom fastnn import kernels\n"
            "fastnn.Network([4, 3, 2], seed=0).feedforward(np.ones((2, 4)))\n"
            "s = kernels.forward_pass.stats\n"
            "print(sum(s.cache_hits.values()), sum(s.cache_misses.values()), s.cache_path)")
    result = subprocess.run([sys.executable, "-c", code], env=child_env(cache, package),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    hits, misses, path = result.stdout.split()
    assert int(hits) > 0 and int(misses) == 0
    assert Path(path).parent == cache


def test_key_depends_on_every_kernel_source_and_the_parallel_flag(tmp_path):
    copy = copy_package(tmp_path) / "fastnn"
    key = _cache.compute_key(True, copy)
    assert _cache.compute_key(True, copy) == key
    assert _cache.compute_key(False, copy) != key
    for source in _cache.kernel_source_files(copy):
        original = source.read_bytes()
        source.write_bytes(original + b"\n# an edit\n")
        assert _cache.compute_key(True, copy) != key, source.name
        source.write_bytes(original)
    # A future subpackage of kernels is covered too.
    (copy / "kernels" / "extra").mkdir()
    (copy / "kernels" / "extra" / "leaf.py").write_text("X = 1\n")
    assert _cache.compute_key(True, copy) != key
    # The version, read from __init__.py without importing it.
    init = copy / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]*"', '__version__ = "99.0"', init.read_text()))
    assert _cache.key._package_version(copy) == "99.0"


# Any of these in a module's text means it may define compiled code.
KERNEL_MARKERS = re.compile(r"\bjit\(|@jit\b|\bnjit\b|@intrinsic\b|\bintrinsic\(|@overload\b"
                            r"|\boverload\(|generated_jit|@vectorize|@guvectorize|@cfunc")


def test_only_the_kernels_package_defines_compiled_code_and_the_key_covers_it_by_rule():
    """The key covers every file below fastnn/kernels/ and _config.py (by
    rule, no list to keep); a kernel anywhere else would be loaded stale
    after its edits, so no other module may define one."""
    sources = set(_cache.kernel_source_files())
    assert sources == set((PACKAGE / "kernels").rglob("*.py")) | {PACKAGE / "_config.py"}
    outside = sorted(set(PACKAGE.rglob("*.py")) - sources)
    assert outside, "the key covers every module of the package"
    offenders = [str(p.relative_to(PACKAGE)) for p in outside
                 if KERNEL_MARKERS.search(p.read_text(encoding="utf-8"))]
    assert offenders == [], ("these modules define compiled code: move it into "
                             "fastnn/kernels/")
    assert PACKAGE / "kernels" / "layers.py" in sources and PACKAGE / "_config.py" in sources
    assert PACKAGE / "kernels" / "__init__.py" in sources


def test_every_compiled_function_of_the_package_is_in_the_key():
    import importlib
    import pkgutil

    import fastnn
    from numba.core.dispatcher import Dispatcher

    sources = {p.resolve() for p in _cache.kernel_source_files()}
    outside = []
    for module_info in pkgutil.walk_packages(fastnn.__path__, "fastnn."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if isinstance(value, Dispatcher):
                path = Path(value.py_func.__code__.co_filename).resolve()
                if path.is_relative_to(PACKAGE.resolve()) and path not in sources:
                    outside.append(f"{module_info.name}.{name}")
    assert outside == []


def test_user_cache_dir_follows_the_platform_rules(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTNN_CACHE_DIR", raising=False)
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cache.cache_root() == tmp_path / "xdg" / "fastnn"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert _cache.cache_root() == Path.home() / ".cache" / "fastnn"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _cache.cache_root() == Path.home() / "Library" / "Caches" / "fastnn"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert _cache.cache_root() == tmp_path / "local" / "fastnn" / "Cache"
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba"))
    assert _cache.cache_root() == tmp_path / "numba" / "fastnn"
    monkeypatch.setenv("FASTNN_CACHE_DIR", str(tmp_path / "mine"))
    assert _cache.cache_root() == tmp_path / "mine"
    assert not _cache.cache_root().is_relative_to(PACKAGE)


# ---------------------------------------------------------------------------
# Faults never stop training
# ---------------------------------------------------------------------------
def _with_numba_version(raw, version):
    stream = io.BytesIO(raw)
    pickle.load(stream)
    return pickle.dumps(version, protocol=-1) + stream.read()


def _data_with_numba_version(raw, version):
    stream = io.BytesIO(raw)
    header = pickle.load(stream)
    return pickle.dumps((header[0], version, *header[2:]), protocol=4) + stream.read()


def _other_kernels_file(path):
    suffix = ".nbi" if path.suffix == ".nbi" else ".nbc"
    function = path.name.split("-")[0]
    others = [p for p in path.parent.iterdir()
              if p.suffix == suffix and p.name.split("-")[0] != function]
    return max(others, key=lambda p: p.stat().st_size).read_bytes()


CORRUPTIONS = {
    "truncated": lambda raw, path: raw[: len(raw) // 2],
    "zeroed": lambda raw, path: bytes(len(raw)),
    "empty": lambda raw, path: b"",
    "foreign pickle": lambda raw, path: pickle.dumps({"weights": [1.0, 2.0]}),
    "another kernel's file": lambda raw, path: _other_kernels_file(path),
    "another numba version": lambda raw, path: (
        _with_numba_version(raw, "0.0.1") if path.suffix == ".nbi"
        else _data_with_numba_version(raw, "0.0.1")),
}


# Each case compiles a kernel again in a child process (seconds): two run by
# default, one of each file kind, and the whole matrix with the slow tests.
DEFAULT_DAMAGES = {("truncated", "data"), ("foreign pickle", "index")}
DAMAGES = [pytest.param(corruption, which, id=f"{corruption}-{which}",
                        marks=() if (corruption, which) in DEFAULT_DAMAGES else pytest.mark.slow)
           for corruption in CORRUPTIONS for which in ("index", "data")]


@needs_jit
@pytest.mark.parametrize("corruption, which", DAMAGES)
def test_a_damaged_cache_file_warns_once_recompiles_and_is_written_again(
        warm_cache, package, tmp_path, which, corruption):
    template, expected, warm = warm_cache
    cache = tmp_path / "cache"
    shutil.copytree(template, cache)
    # The entry point the warm child loaded (the largest file it loaded).
    loaded = max((Path(p) for p in warm["stats"]["loaded"]), key=lambda p: p.stat().st_size)
    data = cache / loaded.relative_to(template)
    target = data.with_name(re.sub(r"\.\d+\.nbc$", ".nbi", data.name)) if which == "index" else data
    damaged = CORRUPTIONS[corruption](target.read_bytes(), target)
    target.write_bytes(damaged)

    report = run_child(cache, package)
    assert report["result"] == expected["result"]
    assert len(report["cache_warnings"]) == 1, report["cache_warnings"]
    assert str(target) in report["cache_warnings"][0]
    assert report["stats"]["misses"] >= 1
    assert target.exists() and target.read_bytes() != damaged  # written again

    after = run_child(cache, package)
    assert after["result"] == expected["result"]
    assert after["cache_warnings"] == []
    assert after["stats"]["misses"] == 0 and after["stats"]["hits"] > 0, after["stats"]


@needs_jit
@pytest.mark.slow
def test_a_damaged_training_kernel_leaves_training_results_unchanged(package, tmp_path):
    """As above with train(): the compiled epoch's data file zeroed."""
    cache = tmp_path / "cache"
    first = run_child(cache, package, "train")
    warm = run_child(cache, package, "train")
    assert warm["stats"]["misses"] == 0 and warm["result"] == first["result"]
    entry = max((Path(p) for p in warm["stats"]["loaded"]), key=lambda p: p.stat().st_size)
    entry.write_bytes(bytes(entry.stat().st_size))
    damaged = run_child(cache, package, "train")
    assert damaged["result"] == first["result"]
    assert len(damaged["cache_warnings"]) == 1 and str(entry) in damaged["cache_warnings"][0]
    again = run_child(cache, package, "train")
    assert again["stats"]["misses"] == 0 and again["cache_warnings"] == []


@contextlib.contextmanager
def read_only(directory):
    """``directory`` made unwritable, also for root (who ignores permissions)."""
    if getattr(os, "geteuid", lambda: 1)() != 0:
        directory.chmod(0o500)
        undo = lambda: directory.chmod(0o700)  # noqa: E731
    else:
        made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True)
        if made.returncode != 0:
            pytest.skip("running as root, and chattr +i is not available to stop writes")
        undo = lambda: subprocess.run(["chattr", "-i", str(directory)], check=True)  # noqa: E731
    try:
        with pytest.raises(OSError):
            (directory / "probe").write_text("written\n")
        yield directory
    finally:
        undo()


@needs_jit
@pytest.mark.parametrize("kind", [pytest.param("parent is a file", marks=pytest.mark.slow),
                                  "read-only directory"])
def test_an_unusable_cache_directory_warns_once_and_compiles_in_memory(
        warm_cache, package, tmp_path, kind):
    _, expected, _ = warm_cache
    cache = tmp_path / "file" / "cache"
    with contextlib.ExitStack() as stack:
        if kind == "parent is a file":
            (tmp_path / "file").write_text("not a directory\n")
        else:
            cache.mkdir(parents=True)
            stack.enter_context(read_only(cache))
        report = run_child(cache, package)
    assert report["result"] == expected["result"]
    assert len(report["cache_warnings"]) == 1, report["cache_warnings"]
    assert str(cache) in report["cache_warnings"][0]
    assert "FASTNN_CACHE_DIR" in report["cache_warnings"][0]
    assert report["stats"]["loaded"] == [] and report["stats"]["misses"] > 0
    assert cache_files(tmp_path) == []


@needs_jit
def test_a_read_only_cache_that_holds_the_kernels_is_loaded_without_warnings(
        warm_cache, package, tmp_path):
    """A cache filled ahead of time (a container image) and mounted read-only."""
    template, expected, _ = warm_cache
    cache = tmp_path / "cache"
    shutil.copytree(template, cache)
    (build,) = cache.iterdir()
    with read_only(build):
        report = run_child(cache, package)
    assert report["result"] == expected["result"]
    assert report["cache_warnings"] == []
    assert report["stats"]["misses"] == 0 and report["stats"]["hits"] > 0


@pytest.mark.slow
@needs_jit
def test_four_processes_filling_an_empty_cache_together_all_succeed(package, tmp_path):
    cache = tmp_path / "cache"
    processes = [start_child(cache, package) for _ in range(4)]
    reports = [finish_child(process, package) for process in processes]
    assert all(report["result"] == reports[0]["result"] for report in reports)
    assert all(report["cache_warnings"] == [] for report in reports)
    fifth = run_child(cache, package)
    assert fifth["result"] == reports[0]["result"]
    assert fifth["cache_warnings"] == []
    assert fifth["stats"]["misses"] == 0 and fifth["stats"]["hits"] > 0, fifth["stats"]
    assert not list(cache.rglob("*.tmp.*"))  # no half-written files left behind


SAVER = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("error")
    from fastnn._cache import KernelCacheFile
    directory, worker = sys.argv[1], sys.argv[2]
    index = KernelCacheFile(directory, "fastnn.test.f-1.py311", "stamp")
    for n in range(40):
        index.save(("signature", worker, n), (worker, n, "x" * 20000))
""")


def test_concurrent_index_updates_lose_no_entry(tmp_path):
    """Four processes add 40 entries each to one index at the same time; the
    read-modify-write under the lock keeps all 160 (without it, entries and
    data files are overwritten by one another)."""
    processes = [subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path), str(worker)],
                                  cwd=ROOT, stderr=subprocess.PIPE, text=True)
                 for worker in range(4)]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()[-3000:]
    index = _cache.KernelCacheFile(str(tmp_path), "fastnn.test.f-1.py311", "stamp")
    for worker in range(4):
        for n in range(40):
            assert index.load(("signature", str(worker), n)) == (str(worker), n, "x" * 20000)
    assert len(list(tmp_path.glob("*.nbc"))) == 160


# ---------------------------------------------------------------------------
# Edits recompile
# ---------------------------------------------------------------------------
LEAF = textwrap.dedent("""
    import numpy as np

    from ._jit import jit


    @jit
    def leaf_sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))
""")


@pytest.mark.slow
@needs_jit
def test_editing_a_leaf_kernel_in_another_file_recompiles_its_callers(tmp_path):
    """The float64 sigmoid of a copy of the package calls a kernel of a new
    module; editing only that module changes the results of the forward pass,
    whose own file and bytecode are unchanged (numba's own cache, stamped with
    the caller's file, would load the stale forward pass)."""
    root = copy_package(tmp_path / "src")
    kernels = root / "fastnn" / "kernels" / "activation.py"
    text = kernels.read_text()
    tree = ast.parse(text)
    leaf = [node for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "_sigmoid_float64"]
    assert leaf, "kernels/activation.py has no _sigmoid_float64 any more: update this test"
    lines = text.splitlines(keepends=True)
    body = leaf[0].body
    lines[body[0].lineno - 1: body[-1].end_lineno] = ["    return _leaf_sigmoid(z)\n"]
    lines.append("\nfrom ._leaf import leaf_sigmoid as _leaf_sigmoid  # noqa: E402\n")
    kernels.write_text("".join(lines))
    (root / "fastnn" / "kernels" / "_leaf.py").write_text(LEAF)
    cache = tmp_path / "cache"

    before = run_child(cache, root)
    np.testing.assert_allclose(before["result"], forward_reference(before, sigmoid), rtol=1e-13)

    (root / "fastnn" / "kernels" / "_leaf.py").write_text(
        LEAF.replace("np.exp(-z)", "np.exp(-2.0 * z)"))
    after = run_child(cache, root)
    assert after["stats"]["misses"] > 0 and after["kernels_dir"] != before["kernels_dir"]
    np.testing.assert_allclose(after["result"], forward_reference(after, lambda z: sigmoid(2 * z)),
                               rtol=1e-13)
    assert not np.allclose(after["result"], before["result"])

    again = run_child(cache, root)
    assert again["stats"]["misses"] == 0 and again["result"] == after["result"]


# ---------------------------------------------------------------------------
# Installed, then reinstalled editable
# ---------------------------------------------------------------------------
@needs_jit
@pytest.mark.slow
def test_non_editable_then_editable_install_both_train_and_share_the_cache(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    copy_package(source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    python = venv / "bin" / "python"
    script = venv / "bin" / "fastnn"
    cache = tmp_path / "cache"
    env = child_env(cache)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--no-index"]

    def install(*args):
        result = subprocess.run([*pip, *args], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]

    def train_and_locate():
        trained = subprocess.run([str(script), "train", "--epochs", "1", "--quiet"],
                                 cwd=tmp_path, env=env, capture_output=True, text=True,
                                 timeout=900)
        assert trained.returncode == 0, trained.stderr[-3000:]
        assert "test accuracy" in trained.stdout
        assert "CacheWarning" not in trained.stderr, trained.stderr
        located = subprocess.run([str(python), "-c", "import fastnn; print(fastnn.__file__)"],
                                 cwd=tmp_path, env=env, capture_output=True, text=True,
                                 timeout=300)
        assert located.returncode == 0, located.stderr
        assert located.stdout.strip() != "None"  # a namespace package: a stale directory
        return Path(located.stdout.strip()).resolve()

    install(str(source))
    site_packages = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip())
    assert train_and_locate().is_relative_to(site_packages.resolve())
    assert cache_files(site_packages / "fastnn") == []
    compiled = {p: p.stat().st_mtime_ns for p in cache_files(cache)}
    assert compiled

    install("-e", str(source))
    assert not (site_packages / "fastnn").exists()
    assert train_and_locate().is_relative_to((source / "fastnn").resolve())
    # The same sources have the same key: the editable install loaded every
    # kernel the installed one had compiled, and compiled nothing new.
    assert {p: p.stat().st_mtime_ns for p in cache_files(cache)} == compiled
