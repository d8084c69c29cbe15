"""``fastnn train --plot``: the learning curves as a PNG (matplotlib, imported when asked)."""
from __future__ import annotations

import os

import numpy as np

from .._files import atomic_write
from .common import CLI_EXTRA, CommandError

__all__ = ["import_pyplot", "plot_history"]


def import_pyplot():
    try:
        import matplotlib
    except ImportError:
        raise CommandError(f"--plot needs matplotlib: {CLI_EXTRA}") from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as pyplot

    return pyplot


def plot_history(pyplot, history, path, title):
    epochs = np.arange(1, history.epochs + 1)
    accuracy = 100.0 * np.asarray(history.test_accuracy)
    figure, (cost_axes, accuracy_axes) = pyplot.subplots(
        2, 1, sharex=True, figsize=(7.5, 6.0), constrained_layout=True
    )
    cost_axes.plot(epochs, history.cost, marker="o", markersize=3, color="tab:blue")
    costs = np.asarray(history.cost)
    positive = bool(np.all(np.isfinite(costs)) and costs.min() > 0)
    decades = float(np.log10(costs.max() / costs.min())) if positive else 0.0
    # A log axis only helps once the cost has fallen by a decade or more.
    log_scale = decades >= 1
    cost_axes.set_yscale("log" if log_scale else "linear")
    cost_axes.set_ylabel("training cost, mean C" + ("\n(log scale)" if log_scale else ""))
    if log_scale:
        # Plain decimals ("0.04") read faster than "4 x 10^-2"; over few
        # decades some in-between ticks are labelled too.
        labelled = {2, 3, 5} if decades < 2 else set()

        def minor_label(value, _):
            mantissa = round(value / 10 ** np.floor(np.log10(value)))
            return f"{value:g}" if mantissa in labelled else ""

        cost_axes.yaxis.set_major_formatter(pyplot.FuncFormatter(lambda value, _: f"{value:g}"))
        cost_axes.yaxis.set_minor_formatter(pyplot.FuncFormatter(minor_label))
    cost_axes.grid(True, which="both", alpha=0.3)
    accuracy_axes.plot(epochs, accuracy, marker="o", markersize=3, color="tab:green")
    accuracy_axes.set_ylabel("test accuracy (%)")
    accuracy_axes.set_xlabel("epoch")
    accuracy_axes.grid(True, alpha=0.3)
    best = int(np.argmax(accuracy))
    accuracy_axes.annotate(
        f"final {accuracy[-1]:.2f}%  (best {accuracy[best]:.2f}% at epoch {best + 1})",
        xy=(0.99, 0.04), xycoords="axes fraction", ha="right", va="bottom",
        bbox=dict(boxstyle="round", facecolor="white", edgecolor="0.8"),
    )
    accuracy_axes.xaxis.get_major_locator().set_params(integer=True)
    figure.suptitle(title, fontsize=10)
    extension = os.path.splitext(path)[1][1:].lower()
    try:
        atomic_write(path, lambda stream: figure.savefig(stream, dpi=120,
                                                         format=extension or None))
    finally:
        pyplot.close(figure)
