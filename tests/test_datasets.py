"""fastnn.datasets on files the tests write themselves."""
import gzip
import re
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastnn import datasets


def idx_bytes(array, type_code=0x08):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1" if type_code == 0x08 else array.dtype).tobytes()


def write_mnist(directory, n_train=7, n_test=3, rows=4, cols=5, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_idx_files_and_scales_pixels(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    X_train, y_train, X_test, y_test = datasets.load_mnist(tmp_path)
    assert X_train.shape == (7, 20) and X_test.shape == (3, 20)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    np.testing.assert_array_equal(X_train * 255, arrays["train-images-idx3-ubyte"].reshape(7, 20))
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0
    assert datasets.load_mnist(tmp_path, dtype=np.float32)[0].dtype == np.float32


def test_load_mnist_rejects_bad_files_with_clear_errors(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    good = labels.read_bytes()

    labels.write_bytes(b"\x00\x00\x08\x03" + good[4:])  # images' magic on a label file
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path)
    labels.write_bytes(b"\x12\x34\x08\x01" + good[4:])
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.load_mnist(tmp_path)
    labels.write_bytes(good[:-2])
    with pytest.raises(ValueError, match=r"declares shape \(7,\).*holds 5 bytes"):
        datasets.load_mnist(tmp_path)
    labels.write_bytes(idx_bytes(np.zeros(6, np.uint8)))
    with pytest.raises(ValueError, match="7 images but .* 6 labels"):
        datasets.load_mnist(tmp_path)
    labels.unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.load_mnist(tmp_path / "missing")
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    labels.write_bytes(good)
    with pytest.raises(ValueError, match="cannot be read"):
        datasets.load_mnist(tmp_path)


def test_load_digits_is_the_fixed_1347_450_split():
    pytest.importorskip("sklearn")
    X_train, y_train, X_test, y_test = datasets.load_digits()
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    again = datasets.load_digits()
    np.testing.assert_array_equal(again[2], X_test)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    expected = train_test_split(digits.data / 16.0, digits.target, test_size=450, random_state=0)
    np.testing.assert_array_equal(X_test, expected[1])
    np.testing.assert_array_equal(y_train, expected[2])


def test_load_npz_with_and_without_a_test_set(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.random((40, 3, 2)), rng.integers(0, 4, 40)
    np.savez(tmp_path / "split.npz", X=X, y=y)
    X_train, y_train, X_test, y_test = datasets.load_npz(tmp_path / "split.npz")
    assert X_train.shape == (32, 6) and X_test.shape == (8, 6)
    # A seeded split: the same each time, and every sample is used once.
    np.testing.assert_array_equal(datasets.load_npz(tmp_path / "split.npz")[2], X_test)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == sorted(y.tolist())

    np.savez(tmp_path / "both.npz", X=X[:30], y=y[:30], X_test=X[30:], y_test=y[30:].astype(float))
    X_train, y_train, X_test, y_test = datasets.load_npz(tmp_path / "both.npz")
    np.testing.assert_array_equal(X_test, X[30:].reshape(10, 6))
    assert y_test.dtype == np.int64


@pytest.mark.parametrize("arrays, message", [
    ({"A": np.zeros(3)}, "has no array X or y"),
    ({"X": np.zeros((4, 2))}, "has no array y"),
    ({"X": np.zeros((4, 2)), "y": np.zeros(3, int)}, "4 samples but 'y' has 3"),
    ({"X": np.zeros((4, 2)), "y": np.full(4, 0.5)}, "integer class labels"),
    ({"X": np.zeros((4, 2)), "y": np.array([0, 1, -1, 0])}, "negative label"),
    ({"X": np.full((4, 2), np.nan), "y": np.zeros(4, int)}, "NaN"),
    ({"X": np.zeros(4), "y": np.zeros(4, int)}, "must have shape"),
    ({"X": np.zeros((4, 2)), "y": np.zeros(4, int), "X_test": np.zeros((2, 2))}, "only one of"),
])
def test_load_npz_rejects_malformed_files(tmp_path, arrays, message):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        datasets.load_npz(path)


def test_load_npz_rejects_a_file_that_is_not_an_archive(tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="not a .npz archive"):
        datasets.load_npz(path)
    with pytest.raises(FileNotFoundError):
        datasets.load_npz(tmp_path / "none.npz")


@pytest.mark.parametrize("test_size, seed", [(450, 0), (0.3, 5), (1, 123)])
def test_load_digits_equals_scikit_learns_load_and_split(test_size, seed):
    """fastnn reads the digits file itself (no scikit-learn import); the
    arrays must be exactly those of scikit-learn's load_digits and
    train_test_split."""
    from sklearn.datasets import load_digits as sklearn_load_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=test_size, random_state=seed)
    ours = datasets.load_digits(test_size, seed)
    for expected, got in zip((X_train, y_train, X_test, y_test), ours):
        np.testing.assert_array_equal(got, expected)


def test_load_digits_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = ("import sys, fastnn.datasets as d; d.load_digits(); "
            "print('sklearn' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


# -- hostile files: checked from their headers before anything big is read ----------------
def peak_allocation(function):
    """(exception raised, peak bytes Python and numpy allocated meanwhile)."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            function()
        except Exception as error:  # noqa: BLE001 - returned to the test
            raised = error
        else:
            raised = None
        return raised, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_idx_gz_with_a_bad_magic_is_refused_without_decompressing_it(tmp_path):
    """Issue 14: the reader decompressed all of a 1 MiB .gz (2 GiB) first."""
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as stream:
        stream.write(b"\x1f\x8b\x08\x01")
        for _ in range(64):
            stream.write(bytes(2**20))  # 64 MiB of zeros, about 300 KB compressed
    error, peak = peak_allocation(lambda: datasets.read_idx(path))
    assert isinstance(error, ValueError) and "not an IDX file (magic number 0x1f8b0801" in str(error)
    assert peak < 2**20


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_header_whose_size_overflows_int64_is_refused(tmp_path, gz):
    """Issue 14: 2^22 * 2^21 * 2^21 overflowed the size check to 0."""
    data = struct.pack(">BBBB3I", 0, 0, 0x08, 3, 2**22, 2**21, 2**21) + bytes(100)
    path = tmp_path / ("images.gz" if gz else "images")
    path.write_bytes(gzip.compress(data) if gz else data)
    error, peak = peak_allocation(lambda: datasets.read_idx(path))
    assert isinstance(error, ValueError), error
    assert "declares shape (4194304, 2097152, 2097152) (18,446,744,073,709,551,616 bytes" in str(error)
    assert peak < 2**20


def test_an_idx_gz_claiming_more_than_it_can_hold_is_refused_before_decompressing(tmp_path):
    # 60,000 x 28 x 28 (47 MB) declared in a .gz of a few hundred bytes
    data = struct.pack(">BBBB3I", 0, 0, 0x08, 3, 60000, 28, 28) + bytes(10_000)
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(data))
    error, peak = peak_allocation(lambda: datasets.read_idx(path))
    assert isinstance(error, ValueError) and "cannot hold that much" in str(error)
    assert peak < 2**20


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_file_must_hold_exactly_what_its_header_declares(tmp_path, gz):
    header = struct.pack(">BBBB2I", 0, 0, 0x08, 2, 30, 40)
    for body, message in [(bytes(1199), "holds 1,199 bytes"),
                          (bytes(1201), "holds 1,201 bytes" if not gz else "more data than that")]:
        path = tmp_path / ("x.gz" if gz else "x")
        path.write_bytes(gzip.compress(header + body) if gz else header + body)
        with pytest.raises(ValueError, match=r"declares shape \(30, 40\) \(1,200 bytes"):
            datasets.read_idx(path)
        with pytest.raises(ValueError, match=message):
            datasets.read_idx(path)
    path.write_bytes(gzip.compress(header + bytes(1200)) if gz else header + bytes(1200))
    assert datasets.read_idx(path).shape == (30, 40)


def test_an_idx_file_bigger_than_the_memory_is_refused(tmp_path, monkeypatch):
    from fastnn import _validation

    monkeypatch.setattr(_validation, "available_memory", lambda: 1000)
    monkeypatch.setattr(_validation, "MEMORY_CHECK_FROM", 1)
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5000, np.uint8)))
    with pytest.raises(ValueError, match="labels: its array of shape \\(5000,\\) needs"):
        datasets.read_idx(path)


def npy_member(array_or_header, body=b""):
    import io

    stream = io.BytesIO()
    if isinstance(array_or_header, dict):
        np.lib.format.write_array_header_1_0(stream, array_or_header)
        stream.write(body)
    else:
        np.save(stream, array_or_header)
    return stream.getvalue()


@pytest.mark.parametrize("members, message", [
    ({"X": np.array([[1, None]], dtype=object), "y": np.zeros(1, int)}, "Python objects"),
    ({"X": np.zeros((4, 2), complex), "y": np.zeros(4, int)}, "'X' must hold numbers, got dtype complex128"),
    ({"X": np.array([["a", "b"]]), "y": np.zeros(1, int)}, "'X' must hold numbers"),
    ({"X": np.zeros((2, 2)), "y": np.array(["0", "1"])}, "integer class labels 0, 1, ..., got dtype <U1"),
    ({"X": np.zeros((2, 2)), "y": np.array([0, 1e30])}, "holds the label 1e\\+30, too large"),
    ({"X": np.zeros((2, 2)), "y": np.array([0, 2**63], np.uint64)},
     "holds the label 9223372036854775808, too large"),
    ({"X": np.zeros((2, 2)), "y": np.array([0, -2**63])}, "negative label \\(-9223372036854775808\\)"),
    ({"X": {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**5)}, "y": np.zeros(3)},
     "'X'.*declares shape \\(1000000, 100000\\) of float64 \\(800,000,000,000 bytes\\) but it "
     "holds 0 bytes"),
])
def test_npz_data_is_checked_from_its_headers(tmp_path, members, message):
    import warnings
    import zipfile

    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in members.items():
            archive.writestr(name + ".npy", npy_member(value))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from casting 1e30 or 2**63
        error, peak = peak_allocation(lambda: datasets.read_npz(path))
    assert isinstance(error, ValueError), error
    assert re.search(message, str(error)), str(error)
    assert peak < 2**20


def test_npz_data_bigger_than_the_memory_is_refused_before_reading(tmp_path, monkeypatch):
    from fastnn import _validation

    np.savez(tmp_path / "data.npz", X=np.zeros((1000, 50), np.uint8), y=np.zeros(1000, int))
    monkeypatch.setattr(_validation, "available_memory", lambda: 100_000)
    monkeypatch.setattr(_validation, "MEMORY_CHECK_FROM", 1)
    error, peak = peak_allocation(lambda: datasets.read_npz(tmp_path / "data.npz"))
    assert isinstance(error, ValueError)
    assert "reading 'X' of shape (1000, 50) as float64 and 'y' needs" in str(error)
    assert peak < 50_000


idx_like = st.one_of(
    st.binary(max_size=64),
    # a plausible header (known type, 1-3 small dimensions) and a random body
    st.builds(lambda code, dims, body: struct.pack(f">BBBB{len(dims)}I", 0, 0, code, len(dims),
                                                   *dims) + body,
              st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]),
              st.lists(st.integers(0, 6), min_size=1, max_size=3), st.binary(max_size=300)),
)


@settings(max_examples=150, deadline=None)
@given(data=idx_like, gz=st.booleans())
def test_random_idx_bytes_give_the_declared_array_or_value_error(tmp_path_factory, data, gz):
    path = tmp_path_factory.mktemp("idx") / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(data) if gz else data)
    try:
        array = datasets.read_idx(path)
    except ValueError:
        return
    assert 4 + 4 * array.ndim + array.nbytes == len(data)
    assert array.tobytes() == data[4 + 4 * array.ndim:]
