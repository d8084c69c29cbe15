"""Files that survive faults: atomic_write and Network.save.

docs/reliability.md ("Files") says what each test here proves.
"""
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn._files import TEMPORARY_SUFFIX, atomic_write

ROOT = Path(__file__).resolve().parents[1]


def temporaries(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(TEMPORARY_SUFFIX))


@pytest.fixture
def umask():
    """Set the umask for one test; the old one comes back after it."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


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
