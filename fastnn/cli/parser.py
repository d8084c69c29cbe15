"""The command line's options: ``build_parser`` and the types it checks them with."""
from __future__ import annotations

import argparse

import numpy as np

from .. import __version__
from .._validation import MAX_EPOCHS
from ..activations import INITS
from ..kernels.activation import HIDDEN_ACTIVATIONS
from ..kernels.objective import OUTPUTS
from .common import CommandError
from .inspect import compile_command, evaluate_command, info_command, predict_command
from .train import DEFAULT_HIDDEN, train_command

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block before the message; one line
    # naming the subcommand and the problem is what the user needs.
    def error(self, message):
        if " " in self.prog:  # a subcommand's parser: name it
            message = f"{self.prog.split(' ', 1)[-1]}: {message}"
        raise CommandError(f"{message} (see {self.prog} --help)")


def _whole_number(text, minimum):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def _positive_int(text):
    return _whole_number(text, 1)


def _seed(text):  # numpy's seeds are non-negative
    return _whole_number(text, 0)


def _epochs(text):
    value = _positive_int(text)
    if value > MAX_EPOCHS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_EPOCHS:,}, got {value:,}")
    return value


def _finite_float(text, *, zero_allowed):
    """A finite number > 0 (>= 0 with zero_allowed), from the command line."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
        bound = ">= 0" if zero_allowed else "> 0"
        raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
    return value


def _non_negative_float(text):
    return _finite_float(text, zero_allowed=True)


def _positive_float(text):
    return _finite_float(text, zero_allowed=False)


def _layer_sizes(text):
    parts = text.replace("-", ",").split(",")
    try:
        sizes = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer widths separated by commas such as 64,30,10, got {text!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"needs at least an input and an output layer, each of at least 1 neuron, got {text!r}"
        )
    return sizes

def _names(text):
    """One activation for every hidden layer, or one per hidden layer,
    separated by commas (checked against the layers by Network)."""
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in HIDDEN_ACTIVATIONS and name != "sigmoid":
            raise argparse.ArgumentTypeError(
                f"expected one of {', '.join(HIDDEN_ACTIVATIONS)} (or one per hidden layer, "
                f"separated by commas), got {name!r}")
    return names[0] if len(names) == 1 else names

def _rates(text):
    """A dropout rate for every hidden layer, or one per hidden layer."""
    rates = []
    for part in text.split(","):
        try:
            rate = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a rate such as 0.5 (or one per hidden layer, separated by commas), "
                f"got {text!r}") from None
        if not 0 <= rate <= 0.99:
            raise argparse.ArgumentTypeError(f"a dropout rate must be in [0, 0.99], got {part}")
        rates.append(rate)
    return rates[0] if len(rates) == 1 else rates

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fastnn",
        description="Train and use sigmoid multilayer perceptrons with fastnn's Numba kernels.",
    )
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    data_help = (
        "'digits' (scikit-learn's bundled 8x8 digits, fixed 1347/450 split), a .npz file "
        "with arrays X and y (and optionally X_test, y_test; otherwise a fixed seeded 80/20 "
        "split), a directory holding the four MNIST IDX files (gzipped or not), or a chunked "
        "store written by fastnn.datasets.write_chunked (trained chunk by chunk, never loaded "
        "whole; its test part, or else its last chunk, is the test set)"
    )

    train = commands.add_parser(
        "train", help="train a network and report its test accuracy",
        description="Train a network with mini-batch SGD; a progress bar shows each epoch.",
    )
    train.add_argument("--data", default="digits", help=data_help + " (default: digits)")
    train.add_argument(
        "--sizes", type=_layer_sizes, default=None,
        help="every layer's width, input first, e.g. 64,30,10; the first must equal the "
             f"data's feature count and the last cover its labels (default: features,"
             f"{DEFAULT_HIDDEN},classes)",
    )
    train.add_argument("--epochs", type=_epochs, default=None,
                       help="default: 30 (with --resume: the run's own total)")
    train.add_argument("--batch-size", type=_positive_int, default=10, help="default: 10")
    train.add_argument("--eta", type=_positive_float, default=3.0,
                       help="learning rate (default: 3.0)")
    train.add_argument("--cost", choices=("quadratic", "cross_entropy"), default=None,
                       help="the cost: 1/2 sum (y - a)^2, or the cross-entropy of Nielsen's "
                            "network2 (docs/theory.md section 10), read for a softmax output "
                            "as the log-likelihood (default: quadratic; with --output "
                            "softmax, cross_entropy)")
    train.add_argument("--output", choices=OUTPUTS, default="sigmoid",
                       help="the output layer's activation (identity: quadratic cost only; "
                            "softmax: cross_entropy only; default: sigmoid)")
    train.add_argument("--activation", type=_names, default="logistic", metavar="NAME",
                       help="the hidden layers' activation: "
                            f"{', '.join(HIDDEN_ACTIVATIONS)}; one for all, or one per hidden "
                            "layer separated by commas (docs/theory.md section 11; default: "
                            "logistic, the design document's sigmoid)")
    train.add_argument("--leaky-slope", type=_non_negative_float, default=0.01,
                       help="leaky_relu's slope below 0 (default: 0.01)")
    train.add_argument("--dropout", type=_rates, default=0.0, metavar="RATE",
                       help="inverted dropout's rate on the hidden layers, one for all or one "
                            "per hidden layer separated by commas (docs/theory.md section 12; "
                            "default: 0, none)")
    train.add_argument("--init", choices=INITS, default="document",
                       help="the initial weights (docs/theory.md section 11): the document's "
                            "N(0, 1/inputs), Glorot's, He's (for relu) or scikit-learn's "
                            "(default: document)")
    train.add_argument("--optimizer", choices=("sgd", "momentum", "nesterov", "adam"),
                       default="sgd",
                       help="the step (docs/theory.md section 13): plain SGD, SGD with "
                            "momentum or Nesterov's momentum, or Adam (default: sgd)")
    train.add_argument("--momentum", type=_non_negative_float, default=None,
                       help="mu of --optimizer momentum or nesterov, in [0, 1] "
                            "(default: 0.9)")
    train.add_argument("--learning-rate", choices=("constant", "invscaling", "adaptive"),
                       default="constant",
                       help="how --eta moves between epochs, as scikit-learn's learning_rate: "
                            "invscaling eta / (t + 1)^0.5 after t samples, adaptive eta / 5 "
                            "when the cost stops falling (sgd, momentum, nesterov; default: "
                            "constant)")
    train.add_argument("--lmbda", type=_non_negative_float, default=0.0,
                       help="L2 regularisation as in network2: w <- (1 - eta lmbda / n) w - "
                            "... (default: 0)")
    train.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                       help="default: float64")
    train.add_argument("--seed", type=_seed, default=0,
                       help="seed of the initial weights and of the shuffling (default: 0)")
    train.add_argument("--out", metavar="MODEL.npz", help="write the trained network here")
    train.add_argument("--plot", metavar="CURVE.png",
                       help="write a PNG of training cost and test accuracy per epoch")
    train.add_argument("--checkpoint", metavar="RUN.ckpt",
                       help="write a checkpoint here after every epoch and on Ctrl-C "
                            "(continue with --resume)")
    train.add_argument("--resume", metavar="RUN.ckpt",
                       help="continue the run saved in this checkpoint, on the same --data; "
                            "its network and settings replace --sizes, --batch-size, --eta, "
                            "--cost, --output, --activation, --leaky-slope, --dropout, --init, "
                            "--lmbda, --dtype and --seed")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=train_command)

    evaluate = commands.add_parser(
        "evaluate", help="accuracy and cost of a saved network on a data set's test part",
        description="Accuracy and mean cost of MODEL on the test part of --data "
                    "(a .npz without X_test/y_test is used whole).",
    )
    evaluate.add_argument("model", metavar="MODEL", help="a file written by train --out")
    evaluate.add_argument("--data", default="digits", help=data_help + " (default: digits)")
    evaluate.set_defaults(handler=evaluate_command)

    predict = commands.add_parser(
        "predict", help="predicted class of each row of an input array",
        description="Predicted class (index of the most active output) of each row of "
                    "INPUT, an array of shape (n, inputs) or (inputs,) saved with numpy.save "
                    "(a .npz with an array X also works). Scale it as the training data was.",
    )
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("input", metavar="INPUT.npy")
    predict.add_argument("--output", metavar="OUT.npy",
                         help="save the predictions (int64, shape (n,)) here instead of "
                              "printing one per line")
    predict.set_defaults(handler=predict_command)

    info = commands.add_parser(
        "info", help="a model's layer sizes, dtype and parameter count; without MODEL, "
                     "where compiled kernels are cached and the threading layer",
        description="With MODEL: its layer sizes, dtype and parameter count. Without: "
                    "fastnn's compiled-kernel cache (directory, size, on or off) and "
                    "numba's threading layer.",
    )
    info.add_argument("model", metavar="MODEL", nargs="?", help="a file written by train --out")
    info.add_argument("--batch-size", type=_positive_int, default=10, metavar="N",
                      help="with MODEL: show the kernel plan of a training with batch size N "
                           "(default: 10)")
    info.add_argument("--clear-cache", action="store_true",
                      help="first delete every cached build of the kernels (the kernels-* "
                           "directories of the cache directory); the next run compiles again")
    info.set_defaults(handler=info_command)

    compile_ = commands.add_parser(
        "compile", help="compile every kernel into the cache ahead of time",
        description="Compile every epoch driver and forward kernel of fastnn for the given "
                    "dtypes and write them to the compiled-kernel cache (see fastnn info), "
                    "so that the first training of a Docker image, CI job or cluster worker "
                    "does not wait for the compiler.",
    )
    compile_.add_argument("--dtype", choices=("float64", "float32", "all"), default="all",
                          help="default: all")
    compile_.add_argument("--tune", nargs="+", metavar="SIZES", default=[], type=_layer_sizes,
                          help="also time the register-blocked kernels against BLAS on the "
                               "layers of these networks (e.g. 784-256-256-10) and store the "
                               "winners beside the cache, for later runs of those shapes")
    compile_.add_argument("--batch-size", type=_positive_int, default=200, metavar="N",
                          help="the batch size --tune measures (default: 200, "
                               "scikit-learn's)")
    compile_.set_defaults(handler=compile_command)
    return parser
