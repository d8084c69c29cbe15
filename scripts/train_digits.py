"""Train 64-30-10 on scikit-learn's bundled 8x8 digits and print the test accuracy.

    python scripts/train_digits.py
"""
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import fastnn


def main():
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=450, random_state=0
    )
    net = fastnn.Network([64, 30, 10], seed=0, dtype=np.float32)
    started = time.perf_counter()
    history = net.train(X_train, y_train, epochs=30, batch_size=10, eta=3.0,
                        test_data=(X_test, y_test), seed=0)
    elapsed = time.perf_counter() - started
    print(f"trained 64-30-10 for {history.epochs} epochs in {elapsed:.2f} s "
          f"(compile included), {sum(history.seconds):.3f} s of training")
    print(f"test accuracy: {history.test_accuracy[-1]:.4f}")


if __name__ == "__main__":
    main()
