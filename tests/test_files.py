"""Files that survive faults: atomic_write, Network.save and fastnn.load
against damaged, hostile and huge files, and the small checks of issue 14.

docs/reliability.md ("Files") says what each test here proves.
"""
import os
import random
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastnn
from fastnn import _validation
from fastnn._files import TEMPORARY_SUFFIX, atomic_write

ROOT = Path(__file__).resolve().parents[1]
GiB = 2**30


def temporaries(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(TEMPORARY_SUFFIX))


@pytest.fixture
def umask():
    """Set the umask for one test; the old one comes back after it."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.fixture
def low_memory(monkeypatch):
    """Pretend only ``limit`` bytes are available (and check from 1 byte)."""
    def set_limit(limit):
        monkeypatch.setattr(_validation, "available_memory", lambda: limit)
        monkeypatch.setattr(_validation, "MEMORY_CHECK_FROM", 1)
    return set_limit


# -- atomic_write: modes, links, temporaries -----------------------------------------
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600),
                                        (0o002, 0o664)])
def test_a_new_file_gets_0666_less_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    path = fastnn.Network([3, 2], seed=0).save(tmp_path / "model.npz")
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640, 0o604, 0o664])
def test_replacing_a_file_keeps_its_mode(tmp_path, umask, mode):
    umask(0o077)  # would give 0600 to a new file: the old file's mode must win
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    fastnn.Network([3, 2], seed=0).save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert fastnn.load(path).sizes == (3, 2)


def test_a_symlink_is_written_through_to_its_target(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    target = models / "v1.npz"
    fastnn.Network([3, 2], seed=0).save(target)
    os.chmod(target, 0o640)
    link = tmp_path / "current.npz"
    link.symlink_to(os.path.join("models", "v1.npz"))  # relative, as ln -s makes them
    chained = tmp_path / "latest.npz"
    chained.symlink_to("current.npz")

    assert fastnn.Network([4, 3, 2], seed=1).save(chained) == str(chained)
    assert chained.is_symlink() and link.is_symlink()
    assert os.readlink(chained) == "current.npz"
    assert fastnn.load(target).sizes == (4, 3, 2)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert temporaries(tmp_path) == [] and temporaries(models) == []


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "model.npz"
    link.symlink_to("real.npz")
    fastnn.Network([3, 2], seed=0).save(link)
    assert link.is_symlink() and fastnn.load(tmp_path / "real.npz").sizes == (3, 2)


class WriterFailed(Exception):
    pass


@pytest.mark.parametrize("error", [WriterFailed, KeyboardInterrupt, OSError])
def test_the_temporary_is_removed_when_the_writer_raises(tmp_path, error):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old content")
    seen = []

    def write(stream):
        stream.write(b"half of the new")
        seen.extend(os.listdir(tmp_path))
        raise error("stopped")

    with pytest.raises(error, match="stopped"):
        atomic_write(path, write)
    assert path.read_bytes() == b"old content"
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    # the temporary existed beside the target while the writer ran
    [temporary] = [name for name in seen if name != "model.npz"]
    assert temporary.startswith(".model.npz.") and temporary.endswith(TEMPORARY_SUFFIX)
    assert not temporary.endswith(".npz")


def test_a_failed_rename_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.npz"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):
        atomic_write(target, lambda stream: stream.write(b"data"))
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_the_file_and_then_its_directory_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    fastnn.Network([3, 2], seed=0).save(tmp_path / "model.npz")
    assert synced == ["file", "directory"]


def test_the_next_save_removes_temporaries_older_than_an_hour(tmp_path):
    path = tmp_path / "model.npz"
    stale = tmp_path / f".model.npz.{'a' * 16}{TEMPORARY_SUFFIX}"
    fresh = tmp_path / f".model.npz.{'b' * 16}{TEMPORARY_SUFFIX}"
    other = tmp_path / f".other.npz.{'c' * 16}{TEMPORARY_SUFFIX}"
    for leftover in (stale, fresh, other):
        leftover.write_bytes(b"left by a kill -9")
    two_hours_ago = time.time() - 2 * 3600
    for old in (stale, other):
        os.utime(old, (two_hours_ago, two_hours_ago))
    fastnn.Network([3, 2], seed=0).save(path)
    # only this target's old temporary: a fresh one may be a save running now
    assert not stale.exists() and fresh.exists() and other.exists()


def test_atomic_write_returns_the_path_and_the_content_is_whole(tmp_path):
    path = tmp_path / "data.bin"
    assert atomic_write(path, lambda stream: stream.write(b"x" * 100_000)) == str(path)
    assert path.read_bytes() == b"x" * 100_000


# -- kill -9 in the middle of a save ---------------------------------------------------
# The child imports fastnn/_files.py alone (numpy only: a fast start) and saves
# model files laid out as Network.save lays them out, alternating two models.
_KILLED_WRITER = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    spec = importlib.util.spec_from_file_location("files", sys.argv[1])
    files = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(files)
    path = sys.argv[2]
    sizes = [1000, 1000, 10]
    models = []
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        arrays = {"format_version": np.array(1), "sizes": np.array(sizes),
                  "dtype": np.array("float64")}
        for i, (fan_out, fan_in) in enumerate(zip(sizes[1:], sizes[:-1])):
            arrays[f"weights_{i}"] = rng.standard_normal((fan_out, fan_in))
            arrays[f"biases_{i}"] = rng.standard_normal(fan_out)
        models.append(arrays)
    n = 0
    while True:
        files.atomic_write(path, lambda stream: np.savez(stream, **models[n % 2]))
        n += 1
        if n == 1:
            print("saved", flush=True)
""")


def kill_during_saves(path, script, kills, seed=0):
    """Start a process that saves ``path`` over and over; kill -9 it at a
    random moment, ``kills`` times; after each, the file must load."""
    chooser = random.Random(seed)
    loaded = []
    for _ in range(kills):
        child = subprocess.Popen([sys.executable, *script], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "saved"
            time.sleep(chooser.uniform(0.0, 0.25))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        loaded.append(fastnn.load(path))
        # at most the one save that was cut short left a temporary
        left = temporaries(os.path.dirname(path))
        assert len(left) <= len(loaded)
    return loaded


def test_kill_9_during_saves_leaves_a_loadable_model(tmp_path):
    path = tmp_path / "model.npz"
    script = ["-c", _KILLED_WRITER, str(ROOT / "fastnn" / "_files.py"), str(path)]
    loaded = kill_during_saves(path, script, kills=4)
    saved = [np.random.default_rng(seed).standard_normal((1000, 1000)) for seed in (1, 2)]
    for net in loaded:  # one of the two models, whole
        assert net.sizes == (1000, 1000, 10)
        assert any(np.array_equal(net.weights[0], weights) for weights in saved)
    # what a kill left behind goes with the next save once it is old
    for name in temporaries(tmp_path):
        os.utime(tmp_path / name, (time.time() - 7200,) * 2)
    fastnn.Network([3, 2], seed=0).save(path)
    assert temporaries(tmp_path) == []


@pytest.mark.slow
def test_kill_9_during_network_save_leaves_the_old_or_the_new_model(tmp_path):
    path = tmp_path / "model.npz"
    code = textwrap.dedent("""
        import sys, fastnn
        nets = [fastnn.Network([1500, 1000, 10], seed=seed) for seed in (1, 2)]
        n = 0
        while True:
            nets[n % 2].save(sys.argv[1])
            n += 1
            if n == 1:
                print("saved", flush=True)
    """)
    loaded = kill_during_saves(path, ["-c", code, str(path)], kills=8, seed=1)
    candidates = [fastnn.Network([1500, 1000, 10], seed=seed) for seed in (1, 2)]
    for net in loaded:
        assert any(np.array_equal(net.params, c.params) for c in candidates)


# -- save and the outputs of a non-finite network -----------------------------------------
def nan_network():
    net = fastnn.Network([3, 4, 2], seed=0)
    net.weights[1][0, 2] = np.nan
    net.biases[0][1] = np.inf
    return net


def test_save_refuses_a_non_finite_network_and_writes_nothing(tmp_path):
    path = tmp_path / "model.npz"
    fastnn.Network([3, 2], seed=0).save(path)
    before_file = path.read_bytes()
    net = nan_network()
    before = net.params.tobytes()
    with pytest.raises(ValueError, match="not all finite.*load refuses"):
        net.save(path)
    with pytest.raises(ValueError, match="not all finite"):
        net.save(tmp_path / "new.npz")
    assert path.read_bytes() == before_file
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    assert net.params.tobytes() == before


@pytest.mark.parametrize("call", ["feedforward", "predict", "evaluate", "cost"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_outputs_of_a_non_finite_network_are_refused(call, dtype):
    net = fastnn.Network([3, 4, 2], seed=0, dtype=dtype)
    net.weights[0][1, 1] = np.nan
    before = net.params.tobytes()
    X, labels = np.full((5, 3), 0.5), np.array([0, 1, 0, 1, 1])
    arguments = {"feedforward": (X,), "predict": (X,), "evaluate": (X, labels),
                 "cost": (X, labels)}[call]
    with pytest.raises(ValueError, match="parameters are not all finite"):
        getattr(net, call)(*arguments)
    assert net.params.tobytes() == before
    net.weights[0][1, 1] = 0.0
    getattr(net, call)(*arguments)  # finite again: works


# -- load: format, entries, shapes, memory, before anything is allocated ---------------------
def model_arrays(sizes=(3, 4, 2), seed=0):
    net = fastnn.Network(list(sizes), seed=seed)
    arrays = {"format_version": np.array(1), "sizes": np.array(sizes), "dtype": np.array("float64")}
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"weights_{i}"], arrays[f"biases_{i}"] = w, b
    return arrays


class Decompressed:
    """Counts the bytes zipfile decompresses while it is installed."""

    def __init__(self, monkeypatch):
        self.total = 0
        real = zipfile._get_decompressor

        def counting(compress_type):
            decompressor = real(compress_type)
            if decompressor is None:
                return None
            outer = self

            class Counting:
                def __init__(self):
                    self.inner = decompressor

                def decompress(self, data, *args):
                    out = self.inner.decompress(data, *args)
                    outer.total += len(out)
                    return out

                def __getattr__(self, name):
                    return getattr(self.inner, name)

            return Counting()

        monkeypatch.setattr(zipfile, "_get_decompressor", counting)


def test_the_826_byte_file_claiming_15000_15000_10_is_refused_at_once(tmp_path, low_memory):
    """Issue 14: this file made load run 17 s and reach 3.6 GB RSS."""
    path = tmp_path / "bomb.npz"
    np.savez(path, format_version=np.array(1), sizes=np.array([15000, 15000, 10]),
             dtype=np.array("float64"))
    assert path.stat().st_size == 826
    low_memory(1 * GiB)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=r"sizes \[15000, 15000, 10\].*needs 1\.68 GiB "
                                             r"of memory but only 1\.00 GiB is available"):
            fastnn.load(path)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 2**20  # nothing near the network's size was allocated


def test_the_826_byte_file_with_memory_to_spare_reports_the_missing_entry(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez(path, format_version=np.array(1), sizes=np.array([15000, 15000, 10]),
             dtype=np.array("float64"))
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ValueError, match="no 'weights_0' entry"):
            fastnn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 2**20


def test_a_network_bigger_than_the_memory_is_refused_with_its_size(tmp_path, low_memory):
    path = tmp_path / "big.npz"
    np.savez(path, **model_arrays())
    arrays = dict(np.load(path))
    arrays["sizes"] = np.array([40000, 40000, 10])
    np.savez(path, **arrays)
    low_memory(8 * GiB)
    with pytest.raises(ValueError, match=r"1,600,440,010 float64 parameters\) that needs "
                                         r"11\.92 GiB"):
        fastnn.load(path)


@pytest.mark.parametrize("version", [99, 0, 3, -1])
def test_an_unknown_format_version_is_refused(tmp_path, version):
    path = tmp_path / "model.npz"
    arrays = model_arrays()
    arrays["format_version"] = np.array(version)
    np.savez(path, **arrays)
    # (format 2, issue 23: a network with other activations or dropout)
    with pytest.raises(ValueError, match=rf"format_version {version}; this fastnn reads "
                                         r"format_version 1 and 2 only"):
        fastnn.load(path)


@pytest.mark.parametrize("damage, message", [
    ("no format_version", "no 'format_version' entry"),
    ("format_version 1.0", "'format_version' is an array of shape .* not a single integer"),
    ("sizes 2-D", "'sizes' is an array of shape"),
    ("sizes of floats", "'sizes' is an array of shape"),
    ("sizes with a 0", r"sizes\[1\] must be at least 1"),
    ("dtype float16", "dtype must be float32 or float64"),
    ("dtype as bytes", "'dtype' is an array"),
    ("extra entry", "does not have: 'weights_2'"),
    ("weights transposed", r"'weights_0' has shape \(3, 4\), expected \(4, 3\)"),
    ("biases float32", "'biases_1' has dtype float32, expected float64"),
    ("object array", "Python objects"),
])
def test_load_names_what_is_wrong_from_the_headers(tmp_path, damage, message):
    arrays = model_arrays()
    if damage == "no format_version":
        del arrays["format_version"]
    elif damage == "format_version 1.0":
        arrays["format_version"] = np.array(1.0)
    elif damage == "sizes 2-D":
        arrays["sizes"] = np.array([[3, 4, 2]])
    elif damage == "sizes of floats":
        arrays["sizes"] = np.array([3.0, 4.0, 2.0])
    elif damage == "sizes with a 0":
        arrays["sizes"] = np.array([3, 0, 2])
    elif damage == "dtype float16":
        arrays["dtype"] = np.array("float16")
    elif damage == "dtype as bytes":
        arrays["dtype"] = np.array(b"float64")
    elif damage == "extra entry":
        arrays["weights_2"] = np.zeros((2, 2))
    elif damage == "weights transposed":
        arrays["weights_0"] = arrays["weights_0"].T.copy()
    elif damage == "biases float32":
        arrays["biases_1"] = arrays["biases_1"].astype(np.float32)
    elif damage == "object array":
        arrays["biases_1"] = np.array([1.0, None], dtype=object)
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="not a valid fastnn model.*" + message):
        fastnn.load(path)


def npy_header_bytes(shape, dtype="<f8"):
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    stream = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    return stream.getvalue()


def write_npz(path, members, compression=zipfile.ZIP_DEFLATED):
    """An npz from raw member bytes (name -> bytes), as numpy lays them out."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)


def npy_bytes(array):
    stream = __import__("io").BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def test_a_compressed_member_claiming_a_huge_shape_is_refused_before_decompressing(
        tmp_path, monkeypatch):
    """Issue 14: a 1 MiB compressed weight array cost 1 GiB RSS before its
    shape was checked. Here a member's header claims 100,000 x 100,000 (80 GB)
    over 8 MiB of zeros (8 KB compressed)."""
    members = {key: npy_bytes(value) for key, value in model_arrays().items()}
    members["weights_0"] = npy_header_bytes((100_000, 100_000)) + bytes(8 * 2**20)
    path = tmp_path / "model.npz"
    write_npz(path, members)
    assert path.stat().st_size < 100_000
    counter = Decompressed(monkeypatch)
    with pytest.raises(ValueError, match=r"'weights_0'.*declares shape \(100000, 100000\) "
                                         r"of float64 \(80,000,000,000 bytes\)"):
        fastnn.load(path)
    assert counter.total < 2**20


def test_a_compressed_member_of_the_wrong_shape_is_refused_before_decompressing(
        tmp_path, monkeypatch):
    # a true 1024 x 1024 array (8 MiB) where sizes [3, 4, 2] want 4 x 3
    members = {key: npy_bytes(value) for key, value in model_arrays().items()}
    members["weights_0"] = npy_bytes(np.zeros((1024, 1024)))
    path = tmp_path / "model.npz"
    write_npz(path, members)
    counter = Decompressed(monkeypatch)
    with pytest.raises(ValueError, match=r"'weights_0' has shape \(1024, 1024\), expected \(4, 3\)"):
        fastnn.load(path)
    assert counter.total < 2**20


def test_a_zip_directory_claiming_more_than_deflate_can_give_is_refused(tmp_path, monkeypatch):
    """A zip bomb's directory: 'weights_0' says 1.8 GB, compressed to 1 KB."""
    sizes = np.array([15000, 15000, 10])
    header = npy_header_bytes((15000, 15000))
    members = {"format_version": npy_bytes(np.array(1)), "sizes": npy_bytes(sizes),
               "dtype": npy_bytes(np.array("float64")),
               "weights_0": header + bytes(4096)}
    path = tmp_path / "model.npz"
    write_npz(path, members)
    # patch the central directory's uncompressed size of weights_0.npy
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 1)
    while data[entry + 46:entry + 46 + len(b"weights_0.npy")] != b"weights_0.npy":
        entry = data.index(b"PK\x01\x02", entry + 1)
    claimed = len(header) + 15000 * 15000 * 8
    data[entry + 24:entry + 28] = claimed.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    counter = Decompressed(monkeypatch)
    with pytest.raises(ValueError, match="'weights_0' claims 1,800,000,128 bytes from .* "
                                         "compressed bytes"):
        fastnn.load(path)
    assert counter.total < 2**20


def test_a_member_shorter_than_its_header_is_refused(tmp_path):
    members = {key: npy_bytes(value) for key, value in model_arrays().items()}
    members["biases_0"] = members["biases_0"][:-8]
    path = tmp_path / "model.npz"
    write_npz(path, members, compression=zipfile.ZIP_STORED)
    with pytest.raises(ValueError, match="'biases_0'.*declares shape \\(4,\\).*holds 24 bytes"):
        fastnn.load(path)


def test_load_still_reads_fortran_order_and_compressed_models_bitwise(tmp_path):
    arrays = model_arrays((5, 7, 3), seed=3)
    expected = fastnn.Network([5, 7, 3], seed=3)
    arrays["weights_0"] = np.asfortranarray(arrays["weights_0"])
    np.savez_compressed(tmp_path / "model.npz", **arrays)
    loaded = fastnn.load(tmp_path / "model.npz")
    assert loaded.params.tobytes() == expected.params.tobytes()


# -- loads that cannot be tricked: random damage ---------------------------------------------
@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "model.npz"
    fastnn.Network([4, 3, 2], seed=0).save(path)
    return path.read_bytes()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_model_files_raise_value_error_only(tmp_path, model_bytes, data):
    damaged = bytearray(model_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        damaged = damaged[:data.draw(st.integers(0, len(damaged)))]
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(damaged))
    try:
        net = fastnn.load(path)
    except ValueError:
        return
    assert net.sizes == (4, 3, 2) and np.isfinite(net.params).all()


# -- the small ones of issue 14 --------------------------------------------------------------
@pytest.mark.parametrize("label, shown", [(1e30, "1e+30"), (2.0**63, "9.22337e+18"),
                                          (np.uint64(2**63), "9223372036854775808"),
                                          (np.uint64(2**64 - 1), "18446744073709551615"),
                                          (12.0, "12")])
def test_labels_out_of_range_are_reported_with_their_real_value(label, shown):
    net = fastnn.Network([2, 3], seed=0)
    before = net.params.tobytes()
    labels = np.array([0, label], dtype=np.asarray(label).dtype)
    X = np.zeros((2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from a cast
        for call in (lambda: net.evaluate(X, labels), lambda: net.train(X, labels, epochs=1)):
            with pytest.raises(ValueError, match=rf"\[0, 3\).*found {re.escape(shown)}$"):
                call()
    assert net.params.tobytes() == before


def test_dtype_none_is_refused_everywhere():
    with pytest.raises(TypeError, match="float32 or float64, got None"):
        fastnn.Network([2, 2], dtype=None)
    with pytest.raises(TypeError, match="float32 or float64, got None"):
        fastnn.datasets.read_npz("unused.npz", dtype=None)
    # The estimators' dtype=None is scikit-learn's: the computing dtype
    # follows X (CHANGELOG); what is not a float dtype is still refused.
    pytest.importorskip("sklearn")
    with pytest.raises(ValueError, match="dtype must be None, numpy.float32 or numpy.float64"):
        fastnn.MLPClassifier(dtype=np.float16).fit(np.zeros((4, 2)), [0, 1, 0, 1])


@pytest.mark.parametrize("value", ["no", 0, 1, None, "False", [True]])
def test_check_bool_refuses_anything_but_a_bool(value):
    with pytest.raises(TypeError, match=r"shuffle must be True or False"):
        _validation.check_bool(value, "shuffle")
    assert _validation.check_bool(np.bool_(False), "shuffle") is False


def test_the_estimators_refuse_a_non_bool_shuffle():
    pytest.importorskip("sklearn")
    # scikit-learn's own error (an InvalidParameterError: a ValueError and a TypeError)
    with pytest.raises(TypeError, match="The 'shuffle' parameter of MLPClassifier must be an "
                                        "instance of 'bool'"):
        fastnn.MLPClassifier(shuffle="no").fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_check_epochs_caps_the_count():
    assert _validation.check_epochs(10**9) == 10**9
    with pytest.raises(ValueError, match="epochs must be at most 1,000,000,000, got "
                                         "100,000,000,000"):
        _validation.check_epochs(10**11)
    with pytest.raises(ValueError, match="at least 1"):
        _validation.check_epochs(0)
    with pytest.raises(TypeError, match="integer"):
        _validation.check_epochs(3.0)


def test_a_network_that_cannot_fit_in_memory_is_refused_before_allocating(low_memory):
    low_memory(1 * GiB)
    with pytest.raises(ValueError, match=r"sizes \[64, 30, 100000001\] \(3,100,001,981 "
                                         r"parameters\) needs 23\.10 GiB"):
        fastnn.Network([64, 30, 10**8 + 1])


@pytest.mark.parametrize("y", [[1e308, -1e308], [0.0, 1.7e308], [-1.7e308, 0.0],
                               [-1e300, 1e300]], ids=str)
def test_the_regressor_fails_clearly_on_targets_beyond_its_range_and_keeps_the_model(y):
    # Since the drop-in (issue 24) the regressor fits y as scikit-learn's
    # does, unscaled: targets near the float's end make the weights
    # non-finite, and the fit stops with scikit-learn's error, leaving a
    # fitted model (warm_start) as it was and a new one unfitted.
    pytest.importorskip("sklearn")
    y = np.repeat(y, 5)
    X = np.linspace(0, 1, 20).reshape(10, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow on the way is expected here
        fresh = fastnn.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            fresh.fit(X, y)
        assert not hasattr(fresh, "coefs_")
        warm = fastnn.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0,
                                   warm_start=True).fit(X, np.arange(10.0))
        before = [c.copy() for c in warm.coefs_] + [b.copy() for b in warm.intercepts_]
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            warm.fit(X, y)
    after = warm.coefs_ + warm.intercepts_
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
