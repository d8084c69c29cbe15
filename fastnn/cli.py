"""The ``fastnn`` command: train, evaluate, predict and inspect networks.

    fastnn train [--data digits|FILE.npz|MNIST_DIR|STORE_DIR] [--sizes 64,30,10] ...
    fastnn evaluate MODEL [--data ...]
    fastnn predict MODEL INPUT.npy [--output OUT.npy]
    fastnn info [MODEL] [--clear-cache]
    fastnn compile [--dtype float32|float64|all]

Every expected failure (missing or corrupt file, data that does not fit the
model, a bad option) prints one line ``fastnn: error: ...`` on stderr and
exits with status 2. See ``docs/cli.md``.

tqdm (progress bar), matplotlib (``--plot``) and scikit-learn (the digits)
come with ``pip install "fastnn[cli]"`` and are imported only when used.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import zipfile
import zlib

import numpy as np
from numba.core import event as numba_event

from . import __version__, datasets
from ._files import atomic_write, npz_headers, read_npy_header, read_npz_member
from ._precompile import DTYPES, CompileCounter, compile_kernels
from ._validation import MAX_EPOCHS, check_memory
from .checkpoint import resume
from .network import Network, load

__all__ = ["main"]

EXIT_ERROR = 2
DEFAULT_HIDDEN = 30
CLI_EXTRA = 'pip install "fastnn[cli]"'


class CommandError(Exception):
    """An error the user can fix; shown as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block before the message; one line
    # naming the subcommand and the problem is what the user needs.
    def error(self, message):
        if " " in self.prog:  # a subcommand's parser: name it
            message = f"{self.prog.split(' ', 1)[-1]}: {message}"
        raise CommandError(f"{message} (see {self.prog} --help)")


# ---------------------------------------------------------------------------
# Option types
# ---------------------------------------------------------------------------
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


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
    train.add_argument("--cost", choices=("quadratic", "cross_entropy"), default="quadratic",
                       help="the cost: 1/2 sum (y - a)^2, or the cross-entropy of Nielsen's "
                            "network2 (docs/theory.md section 10; default: quadratic)")
    train.add_argument("--output", choices=("sigmoid", "identity"), default="sigmoid",
                       help="the output layer's activation (identity: quadratic cost only; "
                            "default: sigmoid)")
    train.add_argument("--lmbda", type=_non_negative_float, default=0.0,
                       help="L2 regularisation as in network2: w <- (1 - eta lmbda / n) w - "
                            "... (default: 0)")
    train.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                       help="default: float64")
    train.add_argument("--seed", type=_int, default=0,
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
                            "--cost, --output, --lmbda, --dtype and --seed")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser(
        "evaluate", help="accuracy and cost of a saved network on a data set's test part",
        description="Accuracy and mean cost of MODEL on the test part of --data "
                    "(a .npz without X_test/y_test is used whole).",
    )
    evaluate.add_argument("model", metavar="MODEL", help="a file written by train --out")
    evaluate.add_argument("--data", default="digits", help=data_help + " (default: digits)")
    evaluate.set_defaults(handler=_evaluate)

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
    predict.set_defaults(handler=_predict)

    info = commands.add_parser(
        "info", help="a model's layer sizes, dtype and parameter count; without MODEL, "
                     "where compiled kernels are cached and the threading layer",
        description="With MODEL: its layer sizes, dtype and parameter count. Without: "
                    "fastnn's compiled-kernel cache (directory, size, on or off) and "
                    "numba's threading layer.",
    )
    info.add_argument("model", metavar="MODEL", nargs="?", help="a file written by train --out")
    info.add_argument("--clear-cache", action="store_true",
                      help="first delete every cached build of the kernels (the kernels-* "
                           "directories of the cache directory); the next run compiles again")
    info.set_defaults(handler=_info)

    compile_ = commands.add_parser(
        "compile", help="compile every kernel into the cache ahead of time",
        description="Compile every epoch driver and forward kernel of fastnn for the given "
                    "dtypes and write them to the compiled-kernel cache (see fastnn info), "
                    "so that the first training of a Docker image, CI job or cluster worker "
                    "does not wait for the compiler.",
    )
    compile_.add_argument("--dtype", choices=("float64", "float32", "all"), default="all",
                          help="default: all")
    compile_.set_defaults(handler=_compile)
    return parser


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def _load_model(path) -> Network:
    if not os.path.exists(path):
        raise CommandError(f"model file {path} does not exist")
    if os.path.isdir(path):
        raise CommandError(f"model {path} is a directory, not a file written by train --out")
    if not zipfile.is_zipfile(path):
        raise CommandError(
            f"model file {path} is not a .npz archive (corrupt, or not written by fastnn train --out)"
        )
    try:
        return load(path)
    except ValueError as error:
        # load's messages start with the path: "X is not a valid fastnn model
        # (corrupt, ...)", "X has format_version 99 ...", "X holds a network
        # of sizes ... that needs 1.68 GiB of memory ..."
        raise CommandError(f"model file {_one_line(error)}") from None


def _load_data(spec, dtype, *, whole_npz=False):
    """(X_train, y_train, X_test, y_test, description) for a --data value."""
    if spec == "digits":
        return (*datasets.load_digits(dtype=dtype), "digits")
    if os.path.isdir(spec):
        if datasets.is_chunked_store(spec):
            return _load_chunked(spec, dtype)
        return (*datasets.load_mnist(spec, dtype=dtype), f"MNIST in {spec}")
    if os.path.isfile(spec):
        if whole_npz:
            X_train, y_train, X_test, y_test = _load_npz_for_evaluation(spec, dtype)
        else:
            X_train, y_train, X_test, y_test = datasets.load_npz(spec, dtype=dtype)
        return X_train, y_train, X_test, y_test, spec
    raise CommandError(
        f"--data {spec}: no such file or directory (give 'digits', a .npz file, a "
        "directory of MNIST IDX files or a chunked store)"
    )


def _load_chunked(spec, dtype):
    """A chunked store: its training part lazy (ChunkedArray, streamed by
    train), its test part (else its last chunk, held out) in memory."""
    X, y = datasets.open_chunked(spec)
    if len(y.shape) != 1:
        raise CommandError(f"--data {spec}: its y holds targets of shape {y.shape}; the "
                           "command line trains on class labels of shape (n,)")
    if "test" in X.parts:
        X_test, y_test = datasets.open_chunked(spec, part="test")
    elif X.n_chunks > 1:
        X_test, y_test = X.subset(-1, None), y.subset(-1, None)
        X, y = X.subset(0, -1), y.subset(0, -1)
    else:
        raise CommandError(f"--data {spec}: the store has one chunk and no test part; write "
                           "it with X_test and y_test, or in several chunks (the last one is "
                           "then held out as the test set)")
    X_test = np.asarray(X_test).reshape(X_test.shape[0], -1).astype(dtype, copy=False)
    return X, y, X_test, np.asarray(y_test), f"chunked store {spec}"


def _label_max(labels):
    """Largest label, read chunk by chunk from a chunked store."""
    if isinstance(labels, datasets.ChunkedArray):
        return max(labels.read_chunk(i).max() for i in range(labels.n_chunks))
    return labels.max()


def _load_npz_for_evaluation(path, dtype):
    # A file with its own test arrays is evaluated on them; one with only X
    # and y is taken whole as the evaluation set.
    X, y, X_test, y_test = datasets.read_npz(path, dtype=dtype)
    if X_test is None:
        return X, y, X, y
    return X, y, X_test, y_test


def _check_fits(net: Network, X, labels, what):
    if X.shape[1] != net.sizes[0]:
        raise CommandError(
            f"{what} has {X.shape[1]} features per sample but the model's input layer has "
            f"{net.sizes[0]} (model sizes {_dashed(net.sizes)})"
        )
    if labels is not None and labels.size and labels.max() >= net.sizes[-1]:
        raise CommandError(
            f"{what} has labels up to {labels.max()} but the model has only "
            f"{net.sizes[-1]} outputs (classes 0..{net.sizes[-1] - 1})"
        )


def _dashed(sizes):
    return "-".join(str(s) for s in sizes)


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
def _train(args) -> int:
    # Everything that can be checked is checked before the (long) training.
    if args.plot:
        _check_writable(args.plot, "--plot")
        pyplot = _import_pyplot()
    if args.out:
        _check_writable(args.out, "--out")
    if args.checkpoint:
        _check_writable(args.checkpoint, "--checkpoint")
    progress_bar = None if args.quiet else _import_tqdm()

    resumed = None
    if args.resume:
        from .checkpoint import read_checkpoint

        resumed = read_checkpoint(args.resume)
        args.dtype = resumed[0].dtype.name
    X_train, y_train, X_test, y_test, description = _load_data(args.data, args.dtype)
    streaming = isinstance(X_train, datasets.ChunkedArray)
    if streaming and (args.resume or args.checkpoint):
        raise CommandError(f"--data {args.data}: a chunked store trains without checkpoints; "
                           "drop --checkpoint and --resume")
    n_features = int(np.prod(X_train.shape[1:]))
    if X_test.shape[1] != n_features:
        raise CommandError(
            f"{description}: training data has {n_features} features but test data {X_test.shape[1]}"
        )
    n_classes = _count_classes(y_train, y_test, description,
                               sized=args.sizes is not None or resumed is not None)
    if resumed is not None:
        net, state = resumed[0], resumed[1]
        sizes = list(net.sizes)
        epochs = state.epochs if args.epochs is None else args.epochs
        batch_size, eta = state.batch_size, state.eta
    else:
        sizes = args.sizes or [n_features, DEFAULT_HIDDEN, n_classes]
        epochs = 30 if args.epochs is None else args.epochs
        batch_size, eta = args.batch_size, args.eta
    if sizes[0] != n_features:
        raise CommandError(
            f"--sizes {_dashed(sizes)} has {sizes[0]} inputs but {description} has "
            f"{n_features} features per sample (use --sizes {n_features},...)"
        )
    if sizes[-1] < n_classes:
        raise CommandError(
            f"--sizes {_dashed(sizes)} has {sizes[-1]} outputs but {description} has labels "
            f"up to {n_classes - 1}, which need at least {n_classes}"
        )

    if resumed is None:
        try:
            net = Network(sizes, cost=args.cost, output=args.output, seed=args.seed,
                          dtype=args.dtype)
        except ValueError as error:  # the cross-entropy of an identity output
            raise CommandError(f"--cost {args.cost} --output {args.output}: {error}") from None
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
    first_epoch = resumed[1].epochs_done if resumed is not None else 0
    if progress_bar is not None:
        # counted in samples, so that it moves within long epochs
        bar = progress_bar(total=epochs * n_train, initial=first_epoch * n_train,
                           desc=f"{_dashed(sizes)} on {description}", unit="sample",
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
                                          seed=args.seed, **settings)
        else:
            history = net.train(X_train, y_train, epochs=epochs, batch_size=batch_size,
                                eta=eta, lmbda=args.lmbda, seed=args.seed, **settings)
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
        title = (f"fastnn {_dashed(sizes)} on {description}: batch {batch_size}, "
                 f"eta {eta:g}, {net.dtype.name}")
        _plot(pyplot, history, args.plot, title)
        print(f"plot written to {args.plot}")
    return 0


def _count_classes(y_train, y_test, description, *, sized):
    """Largest label + 1. Without --sizes this is the output layer's width,
    so it must not exceed the number of samples: labels such as 10**8 (ids,
    not class indices) would otherwise ask for a network of gigabytes."""
    n_classes = int(max(_label_max(y_train), y_test.max())) + 1
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


def _compile(args) -> int:
    dtypes = DTYPES if args.dtype == "all" else (args.dtype,)
    print(f"compiling fastnn's kernels for {', '.join(dtypes)} into "
          f"{_cache_location()} ...", flush=True)

    def report(dtype, name, seconds, compiled):
        state = f"compiled {compiled} kernel{'s' if compiled != 1 else ''}" if compiled else (
            "loaded from the cache")
        print(f"  {dtype:8s} {name:32s} {seconds:6.1f} s  {state}", flush=True)

    total = compile_kernels(dtypes, report)
    print(f"done in {total:.1f} s")
    return 0


def _cache_location() -> str:
    from . import _cache, _config

    return str(_cache.kernels_dir()) if _config.CACHE else "memory only (FASTNN_CACHE=0)"


def _evaluate(args) -> int:
    net = _load_model(args.model)
    _, _, X_test, y_test, description = _load_data(args.data, net.dtype.name, whole_npz=True)
    _check_fits(net, X_test, y_test, description)
    accuracy = net.evaluate(X_test, y_test)
    cost = net.cost(X_test, y_test)
    correct = int(round(accuracy * X_test.shape[0]))
    print(f"test accuracy: {accuracy:.2%} ({correct}/{X_test.shape[0]}) on {description}")
    print(f"mean {net.cost_name.replace('_', '-')} cost: {cost:.6f}")
    return 0


def _predict(args) -> int:
    net = _load_model(args.model)
    inputs = _read_input_array(args.input)
    if inputs.ndim == 0 or inputs.size == 0:
        what = "a single number (a 0-d array)" if inputs.ndim == 0 else (
            f"no samples (shape {inputs.shape})")
        raise CommandError(
            f"{args.input} holds {what}; expected an array of shape (n, {net.sizes[0]}) "
            f"or ({net.sizes[0]},)"
        )
    if inputs.ndim == 1:
        inputs = inputs.reshape(1, -1)
    elif inputs.ndim > 2:
        inputs = inputs.reshape(inputs.shape[0], -1)
    _check_fits(net, inputs, None, args.input)
    predictions = np.asarray(net.predict(inputs), dtype=np.int64)
    if args.output:
        _check_writable(args.output, "--output")
        path = args.output if args.output.endswith(".npy") else args.output + ".npy"
        atomic_write(path, lambda stream: np.save(stream, predictions))
        print(f"{predictions.size} predictions written to {path}")
    else:
        sys.stdout.write("".join(f"{p}\n" for p in predictions))
    return 0


def _read_input_array(path):
    """The array of a .npy file, or X of a .npz; its header (shape, dtype)
    is checked against the file's size and the available memory before the
    data is read."""
    if not os.path.isfile(path):
        raise CommandError(f"input file {path} does not exist")
    with open(path, "rb") as stream:
        magic = stream.read(6)
    if magic != b"\x93NUMPY" and not zipfile.is_zipfile(path):
        raise CommandError(f"{path} is not a NumPy .npy file (save the inputs with numpy.save)")
    try:
        if magic == b"\x93NUMPY":
            with open(path, "rb") as stream:
                header = read_npy_header(stream, os.fstat(stream.fileno()).st_size)
                _check_input_header(path, header)
                return _read_npy_data(stream, header)
        with zipfile.ZipFile(path) as archive:
            headers = npz_headers(archive)
            if "X" not in headers:
                raise CommandError(f"{path} is a .npz without an array X (it holds "
                                   f"{', '.join(headers) or 'nothing'})")
            _check_input_header(path, headers["X"])
            return read_npz_member(archive, "X", headers["X"])
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError,
            RuntimeError, OSError) as error:
        raise CommandError(f"{path} is not a readable NumPy file: {_one_line(error)}") from None


def _check_input_header(path, header):
    if header.dtype.kind not in "biuf":
        raise CommandError(f"{path} must hold numbers, got dtype {header.dtype}")
    try:  # read, then converted to the model's dtype
        check_memory(header.nbytes * 2, f"{path} (shape {header.shape}, {header.dtype})")
    except ValueError as error:
        raise CommandError(_one_line(error)) from None


def _read_npy_data(stream, header):
    """The data after a checked .npy header, read in one go (its length is
    the file's, checked against the header)."""
    data = stream.read(header.nbytes)
    if len(data) != header.nbytes:
        raise ValueError(f"it ends after {len(data):,} of {header.nbytes:,} bytes of data")
    order = "F" if header.fortran_order else "C"
    return np.frombuffer(data, header.dtype).reshape(header.shape, order=order)


def _info(args) -> int:
    if args.clear_cache:
        _clear_cache()
    if args.model is None:
        return _environment_info()
    net = _load_model(args.model)
    n_weights = sum(w.size for w in net.weights)
    n_biases = sum(b.size for b in net.biases)
    print(f"sizes: {_dashed(net.sizes)}")
    print(f"dtype: {net.dtype.name}")
    print(f"cost: {net.cost_name}, output: {net.output}")
    print(f"parameters: {net.n_params} ({n_weights} weights, {n_biases} biases)")
    return 0


def _environment_info() -> int:
    import numba

    from . import _cache, _config

    root = _cache.cache_root()
    if os.environ.get(_cache.ENV_DIR, "").strip():
        origin = f"from {_cache.ENV_DIR}"
    elif numba.config.CACHE_DIR:
        origin = "under NUMBA_CACHE_DIR"
    else:
        origin = f"the user's cache directory; set {_cache.ENV_DIR} to move it"
    print(f"fastnn {__version__}, numba {numba.__version__}, Python {sys.version.split()[0]}")
    if numba.config.DISABLE_JIT:
        print("cache: unused (NUMBA_DISABLE_JIT=1: nothing is compiled)")
    else:
        print("cache: " + ("on" if _config.CACHE else "off (FASTNN_CACHE=0)"))
    print(f"cache directory: {root} ({origin})")
    build = _cache.kernels_dir()
    if build.is_dir():
        print(f"this build's kernels: {build} ({_usage(build)})")
    else:
        print(f"this build's kernels: {build} (none yet)")
    builds = _cache.key_directories(root)
    if builds:
        total, files = 0, 0
        for directory in builds:
            size, count = _cache.directory_usage(directory)
            total, files = total + size, files + count
        print(f"all builds: {len(builds)} director{'y' if len(builds) == 1 else 'ies'}, "
              f"{_megabytes(total)} in {_files(files)} (fastnn info --clear-cache deletes them)")
    print(f"threading layer: {_threading_layer()}"
          + ("" if _config.PARALLEL else "; fastnn's threaded kernels are off (FASTNN_PARALLEL=0)"))
    return 0


def _threading_layer() -> str:
    import numba

    try:
        # numba loads its threading layer on first use; asking for the
        # thread count loads it without compiling anything.
        threads = numba.get_num_threads()
        return f"{numba.threading_layer()} ({threads} thread{'' if threads == 1 else 's'})"
    except Exception as error:  # no layer could be loaded
        return f"unavailable ({_one_line(error)})"


def _usage(directory) -> str:
    from . import _cache

    size, files = _cache.directory_usage(directory)
    return f"{_megabytes(size)} in {_files(files)}"


def _megabytes(size) -> str:
    return f"{size / 1e6:.1f} MB"


def _files(count) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def _clear_cache():
    from . import _cache

    root = _cache.cache_root()
    removed, freed = _cache.clear_cache(root)
    left = _cache.key_directories(root)
    print(f"removed {removed} cached build{'' if removed == 1 else 's'} of the kernels "
          f"({_megabytes(freed)}) from {root}")
    if left:
        raise CommandError(f"could not remove {', '.join(str(path) for path in left)}")


# ---------------------------------------------------------------------------
# Optional dependencies and output files
# ---------------------------------------------------------------------------
def _import_tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        raise CommandError(
            f"the progress bar needs tqdm: {CLI_EXTRA} (or pass --quiet)"
        ) from None
    return tqdm


def _import_pyplot():
    try:
        import matplotlib
    except ImportError:
        raise CommandError(f"--plot needs matplotlib: {CLI_EXTRA}") from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as pyplot

    return pyplot


def _check_writable(path, option):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CommandError(f"{option} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise CommandError(f"{option} {path}: directory {directory} is not writable")
    if os.path.isdir(path):
        raise CommandError(f"{option} {path} is a directory")


def _plot(pyplot, history, path, title):
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


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------
def _one_line(error) -> str:
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"{error.filename}: no such file"
    text = str(error) or type(error).__name__
    return " ".join(text.split())


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0, or 2 on an error)."""
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()  # bare `fastnn`: what it can do, not an error
        return 0
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except (CommandError, ValueError, TypeError, OSError, ImportError) as error:
        if isinstance(error, BrokenPipeError):
            return 0  # e.g. `fastnn predict ... | head`: the reader has all it wanted
        print(f"fastnn: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError as error:
        # numpy's message names the size it could not allocate
        detail = _one_line(error) if str(error) else "an allocation failed"
        print(f"fastnn: error: out of memory: {detail}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return 130
