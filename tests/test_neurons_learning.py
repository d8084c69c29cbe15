"""Issue 23's real-learning floors on scikit-learn's digits, with the
settings of scripts/activations_digits.py (slow: about a minute)."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
import activations_digits as study  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_64_100_10_with_a_softmax_output_reaches_97_percent(activation):
    for seed in study.SEEDS:
        _, history = study.learning_run(activation, seed=seed, **study.LEARNING[activation])
        assert history.test_accuracy[-1] >= 0.97, (activation, seed, history.test_accuracy[-1])


def test_dropout_keeps_the_test_accuracy_and_narrows_the_gap():
    """64-200-10, 60 epochs, three seeds: each rate of 0.2-0.5 loses at most
    1 point of mean test accuracy against none, and narrows the mean
    train/test gap of the accuracy and of the cost."""
    summary = {rate: np.mean([study.dropout_run(rate, seed) for seed in study.DROPOUT["seeds"]],
                             axis=0)
               for rate in study.DROPOUT["rates"]}
    base_train, base_test, base_train_cost, base_test_cost = summary[0.0]
    for rate in study.DROPOUT["rates"][1:]:
        train, test, train_cost, test_cost = summary[rate]
        assert test >= base_test - 0.01, (rate, test, base_test)
        assert train - test < base_train - base_test, rate
        assert test_cost - train_cost < base_test_cost - base_train_cost, rate
