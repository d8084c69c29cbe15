"""Training on scikit-learn's bundled 8x8 digits reaches a useful accuracy."""
import numpy as np
import pytest

import fastnn

sklearn = pytest.importorskip("sklearn")


def digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.data / 16.0  # pixel intensities 0..16 scaled to [0, 1]
    return train_test_split(X, digits.target, test_size=450, random_state=0)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_digits_reach_95_percent_within_30_epochs(dtype):
    X_train, X_test, y_train, y_test = digits_split()
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    net = fastnn.Network([64, 30, 10], seed=0, dtype=dtype)
    history = net.train(X_train, y_train, epochs=30, batch_size=10, eta=3.0,
                        test_data=(X_test, y_test), seed=0)
    assert history.test_accuracy[-1] >= 0.95
    assert history.test_accuracy[-1] == net.evaluate(X_test, y_test)
    assert history.cost[-1] < history.cost[0] / 3
