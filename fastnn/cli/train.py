"""``fastnn train``: a new run, a resumed one, or a chunked store streamed."""
from __future__ import annotations

import contextlib
import sys
import time

import numpy as np
from numba.core import event as numba_event

from .. import datasets
from .._precompile import CompileCounter
from ..kernels.objective import output_rule
from ..network import Network
from ..checkpoint import read_checkpoint
from ..persistence import network_from, resume
from .common import (CLI_EXTRA, CommandError, check_writable, dashed, label_max, load_data)
from .plot import import_pyplot, plot_history

__all__ = ["train_command", "DEFAULT_HIDDEN"]

EXIT_ERROR = 2
DEFAULT_HIDDEN = 30


def train_command(args) -> int:
    # Everything that can be checked is checked before the (long) training.
    if args.plot:
        check_writable(args.plot, "--plot")
        pyplot = import_pyplot()
    if args.out:
        check_writable(args.out, "--out")
    if args.checkpoint:
        check_writable(args.checkpoint, "--checkpoint")
    progress_bar = None if args.quiet else _import_tqdm()

    resumed = None
    if args.resume:
        resumed = read_checkpoint(args.resume)
        args.dtype = resumed.network.dtype.name
    X_train, y_train, X_test, y_test, description = load_data(args.data, args.dtype)
    streaming = isinstance(X_train, datasets.ChunkedArray)
    if streaming and (args.resume or args.checkpoint):
        raise CommandError(f"--data {args.data}: a chunked store trains without checkpoints; "
                           "drop --checkpoint and --resume")
    n_features = int(np.prod(X_train.shape[1:]))
    if n_features == 0:
        raise CommandError(f"{description} has 0 features per sample (X of shape "
                           f"{X_train.shape}): there is nothing to train on")
    if X_test.shape[1] != n_features:
        raise CommandError(
            f"{description}: training data has {n_features} features but test data {X_test.shape[1]}"
        )
    n_classes = _count_classes(y_train, y_test, description,
                               sized=args.sizes is not None or resumed is not None)
    if resumed is not None:
        net, state = network_from(resumed.network), resumed.state
        sizes = list(net.sizes)
        epochs = state.epochs if args.epochs is None else args.epochs
        batch_size, eta = state.batch_size, state.eta
    else:
        sizes = args.sizes or [n_features, DEFAULT_HIDDEN, n_classes]
        epochs = 30 if args.epochs is None else args.epochs
        batch_size, eta = args.batch_size, args.eta
    if sizes[0] != n_features:
        raise CommandError(
            f"--sizes {dashed(sizes)} has {sizes[0]} inputs but {description} has "
            f"{n_features} features per sample (use --sizes {n_features},...)"
        )
    if sizes[-1] < n_classes:
        raise CommandError(
            f"--sizes {dashed(sizes)} has {sizes[-1]} outputs but {description} has labels "
            f"up to {n_classes - 1}, which need at least {n_classes}"
        )

    if resumed is None:
        cost = args.cost or ("cross_entropy" if args.output == "softmax" else "quadratic")
        try:
            output_rule(cost, args.output)
        except ValueError as error:  # a refused pair (docs/theory.md §11)
            raise CommandError(f"--cost {cost} --output {args.output}: {error}") from None
        try:
            net = Network(sizes, cost=cost, output=args.output, seed=args.seed,
                          dtype=args.dtype, activation=args.activation,
                          leaky_slope=args.leaky_slope, dropout=args.dropout, init=args.init)
        except ValueError as error:  # activations or rates for other layers than --sizes'
            message = _layers_error(error, args, sizes)
            if message is None:
                raise
            raise CommandError(message) from None
    optimizer = cli_optimizer(args)
    n_train = X_train.shape[0]
    # The kernels are compiled (first run) or loaded before the progress
    # bar starts, so that its ETA counts epochs only.
    with _announce_compiling(quiet=args.quiet):
        if streaming:  # the kernels of the whole run, on its first batch
            first = min(batch_size, n_train)
            net.prepare(X_train[:first].reshape(first, -1), y_train[:first],
                        batch_size=batch_size, test_data=(X_test, y_test))
        else:
            net.prepare(X_train, y_train, batch_size=batch_size, test_data=(X_test, y_test))
    bar = None
    first_epoch = resumed.state.epochs_done if resumed is not None else 0
    if progress_bar is not None:
        # counted in samples, so that it moves within long epochs
        bar = progress_bar(total=epochs * n_train, initial=first_epoch * n_train,
                           desc=f"{dashed(sizes)} on {description}", unit="sample",
                           unit_scale=True, file=sys.stderr, dynamic_ncols=True)

    def show_progress(epoch, samples, n_samples):
        if bar is not None:
            bar.update((epoch - 1) * n_samples + samples - bar.n)

    def show_epoch(epoch, history):
        if bar is not None:
            bar.set_postfix_str(
                f"epoch {epoch}/{epochs}, cost={history.cost[-1]:.4f}, "
                f"test acc={history.test_accuracy[-1]:.2%}, "
                f"{n_train / max(history.seconds[-1], 1e-9):,.0f} samples/s",
                refresh=True,
            )
        return False

    settings = dict(test_data=(X_test, y_test), callback=show_epoch, progress=show_progress,
                    checkpoint=args.checkpoint, on_divergence="warn")
    try:
        if resumed is not None:
            net, history = resume(args.resume, X_train, y_train, epochs=epochs, **{
                **settings, "checkpoint": args.checkpoint or args.resume})
        elif streaming:
            del settings["checkpoint"]
            history = net.train_streaming(X_train, y_train, epochs=epochs,
                                          batch_size=batch_size, eta=eta, lmbda=args.lmbda,
                                          seed=args.seed, optimizer=optimizer, **settings)
        else:
            history = net.train(X_train, y_train, epochs=epochs, batch_size=batch_size,
                                eta=eta, lmbda=args.lmbda, seed=args.seed,
                                optimizer=optimizer, **settings)
    except KeyboardInterrupt as interrupt:
        if bar is not None:
            bar.close()
            bar = None
        return _interrupted(interrupt, net, args)
    finally:
        if bar is not None:
            bar.close()

    if not history.test_accuracy:  # diverged in its first epoch (warned)
        print("training stopped before an epoch was completed", file=sys.stderr)
        return EXIT_ERROR
    accuracy = history.test_accuracy[-1]
    correct = int(round(accuracy * X_test.shape[0]))
    n_epochs = f"{history.epochs} epoch" + ("s" if history.epochs != 1 else "")
    print(f"test accuracy: {accuracy:.2%} ({correct}/{X_test.shape[0]}) after {n_epochs}, "
          f"{sum(history.seconds):.2f} s of training")
    if args.out:
        print(f"model written to {net.save(args.out)}")
    else:
        print("model not saved (add --out MODEL.npz to keep it)")
    if args.plot:
        title = (f"fastnn {dashed(sizes)} on {description}: batch {batch_size}, "
                 f"eta {eta:g}, {net.dtype.name}")
        plot_history(pyplot, history, args.plot, title)
        print(f"plot written to {args.plot}")
    return 0

def _layers_error(error, args, sizes):
    """The option a ValueError of Network about the hidden layers came
    from, with its message; None for any other error."""
    message = str(error)
    for option, words in (("--activation", "activation"), ("--dropout", "dropout"),
                          ("--leaky-slope", "leaky_slope")):
        if words in message:
            value = getattr(args, option[2:].replace("-", "_"))
            value = ",".join(map(str, value)) if isinstance(value, list) else value
            return f"{option} {value} (layers {dashed(sizes)}): {message}"
    return None

def _count_classes(y_train, y_test, description, *, sized):
    """Largest label + 1. Without --sizes this is the output layer's width,
    so it must not exceed the number of samples: labels such as 10**8 (ids,
    not class indices) would otherwise ask for a network of gigabytes."""
    n_classes = int(max(label_max(y_train), y_test.max())) + 1
    n_samples = y_train.shape[0] + y_test.shape[0]
    if not sized and n_classes > max(n_samples, 2):
        raise CommandError(
            f"{description}: labels go up to {n_classes - 1:,}, which would need "
            f"{n_classes:,} output neurons for {n_samples:,} samples; labels must be "
            "class indices 0, 1, ..., with no more classes than samples (renumber them, e.g. "
            "with numpy.unique(y, return_inverse=True)), or give the layers with --sizes"
        )
    return n_classes


def _interrupted(interrupt, net, args) -> int:
    """Ctrl-C during training: keep what was trained, say so in one line."""
    history = getattr(interrupt, "history", None)
    where = "before training started"
    if history is not None and history.interrupted_at is not None:
        epoch, samples = history.interrupted_at
        where = f"in epoch {epoch} after {samples} samples"
    kept = []
    if args.out and history is not None:
        kept.append(f"model saved to {net.save(args.out)}")
    if (args.checkpoint or args.resume) and history is not None:
        kept.append(f"checkpoint {args.checkpoint or args.resume} (continue with --resume)")
    print(f"fastnn: interrupted {where}; " + ("; ".join(kept) if kept else
          "nothing saved (add --out or --checkpoint)"), file=sys.stderr)
    return 130


class _CompileAnnouncer(CompileCounter):
    """Prints one line when the first kernel starts compiling (nothing
    when every kernel comes from the cache)."""

    def __init__(self, quiet):
        super().__init__()
        self.quiet = quiet
        self.started = None

    def on_first_compile(self):
        self.started = time.perf_counter()
        if not self.quiet:
            print("compiling kernels, first run only (they are cached for later runs; "
                  "`fastnn compile` does it ahead of time) ...", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _announce_compiling(quiet):
    announcer = _CompileAnnouncer(quiet)
    with numba_event.install_listener("numba:compile", announcer):
        yield
    if announcer.started is not None and not quiet:
        print(f"compiled in {time.perf_counter() - announcer.started:.1f} s",
              file=sys.stderr, flush=True)


def _import_tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        raise CommandError(
            f"the progress bar needs tqdm: {CLI_EXTRA} (or pass --quiet)"
        ) from None
    return tqdm


def cli_optimizer(args):
    """Network.train's optimizer for --optimizer, --momentum, --learning-rate."""
    from ..optimizers import SGD, Adam

    if args.optimizer == "adam":
        if args.momentum is not None or args.learning_rate != "constant":
            raise CommandError("--momentum and --learning-rate go with --optimizer sgd, "
                               "momentum or nesterov, not adam")
        return Adam()
    momentum = args.momentum
    if momentum is None:
        momentum = 0.0 if args.optimizer == "sgd" else 0.9
    elif args.optimizer == "sgd" and momentum:
        raise CommandError("--momentum needs --optimizer momentum or nesterov")
    if momentum > 1:
        raise CommandError(f"--momentum must be in [0, 1], got {momentum:g}")
    if args.optimizer == "sgd" and args.learning_rate == "constant":
        return "sgd"
    return SGD(momentum=momentum, nesterov=args.optimizer == "nesterov",
               schedule=args.learning_rate)
