"""What training reports when it goes wrong (docs/reliability.md)."""
from __future__ import annotations

__all__ = ["DivergenceError", "DivergenceWarning", "SaturationWarning"]


class DivergenceError(ArithmeticError):
    """The cost or the parameters became NaN or inf during an epoch.

    ``Network.train(on_divergence="raise")`` raises it after restoring the
    parameters of the last finite epoch; ``history`` holds the epochs
    before it (``history.diverged_at`` is the epoch that diverged).
    """

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history


class DivergenceWarning(RuntimeWarning):
    """``on_divergence="warn"``: training stopped at a non-finite epoch; the
    parameters of the last finite epoch are restored."""


class SaturationWarning(RuntimeWarning):
    """The output neurons are pinned at 0 or 1 and the cost stopped moving:
    the step is too large for the gradient to get through f'(z) ~ 0."""
