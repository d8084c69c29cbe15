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

import sys

from .common import CommandError, one_line
from .parser import build_parser

__all__ = ["main", "build_parser", "CommandError"]

EXIT_ERROR = 2


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
        print(f"fastnn: error: {one_line(error)}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError as error:
        # numpy's message names the size it could not allocate
        detail = one_line(error) if str(error) else "an allocation failed"
        print(f"fastnn: error: out of memory: {detail}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return 130
