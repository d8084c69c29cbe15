"""Data sets for training and evaluating fastnn networks; nothing is downloaded.

Every loader returns ``(X_train, y_train, X_test, y_test)``:

* ``X_*``: float array of shape (n_samples, n_features),
* ``y_*``: int64 class labels of shape (n_samples,).

``load_digits`` uses the copy of the 8x8 digits that ships inside
scikit-learn (``pip install "fastnn[data]"``); ``load_mnist`` reads the four
MNIST files in the IDX format from a directory the user already has;
``load_npz`` reads arrays the user saved with ``numpy.savez``.

Data larger than memory: ``write_chunked`` writes a data set as a directory
of ``.npy`` chunks and a JSON manifest, and ``open_chunked`` reads it back
lazily (:class:`ChunkedArray`), for ``fastnn.streaming.train_streaming``
(docs/streaming.md).

Modules: ``loaders`` (digits, MNIST, split), ``npz`` (numpy.savez files),
``store`` (the chunked store).
"""
from __future__ import annotations

from .loaders import load_digits, load_mnist, read_idx, split
from .npz import load_npz, read_npz
from .store import (ChunkedArray, is_chunked_store, open_chunked, release_pages,
                    write_chunked)

__all__ = ["load_digits", "load_mnist", "load_npz", "read_npz", "read_idx", "split",
           "write_chunked", "open_chunked", "is_chunked_store", "ChunkedArray",
           "release_pages"]
