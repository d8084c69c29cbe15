"""fastnn.datasets on files the tests write themselves."""
import gzip
import struct

import numpy as np
import pytest

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
