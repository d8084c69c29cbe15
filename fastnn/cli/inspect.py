"""The commands that use a saved model or look at this installation:
``evaluate``, ``predict``, ``info`` and ``compile``."""
from __future__ import annotations

import os
import sys
import zipfile
import zlib

import numpy as np

from .. import __version__, _cache, _config
from .._files import atomic_write, npz_headers, read_npy_header, read_npz_member
from .._precompile import DTYPES, compile_kernels
from .._validation import check_memory
from .common import (CommandError, check_fits, check_writable, dashed, load_data, load_model,
                     one_line, regular_file)

__all__ = ["evaluate_command", "predict_command", "info_command", "compile_command"]


def compile_command(args) -> int:
    dtypes = DTYPES if args.dtype == "all" else (args.dtype,)
    print(f"compiling fastnn's kernels for {', '.join(dtypes)} into "
          f"{_cache_location()} ...", flush=True)

    def report(dtype, name, seconds, compiled):
        state = f"compiled {compiled} kernel{'s' if compiled != 1 else ''}" if compiled else (
            "loaded from the cache")
        print(f"  {dtype:8s} {name:32s} {seconds:6.1f} s  {state}", flush=True)

    total = compile_kernels(dtypes, report)
    print(f"done in {total:.1f} s")
    if args.tune:
        _tune(args, dtypes)
    return 0

def _tune(args, dtypes):
    """Time the blocked kernels against BLAS on the layers of --tune's
    networks and store the winners (fastnn.engine.tune)."""
    from .. import _blas, engine

    shapes = [(args.batch_size, sizes[i], sizes[i - 1])
              for sizes in args.tune for i in range(1, len(sizes))]
    if not _blas.available():
        print(f"tuning skipped: the BLAS engine is {_blas.describe()}; every layer runs the "
              "register-blocked kernels")
        return
    path = engine.wisdom_path()
    print(f"tuning {len(shapes)} layer shape{'s' if len(shapes) != 1 else ''} (batch "
          f"{args.batch_size}): register-blocked kernels against {_blas.describe()}", flush=True)
    engine.tune(sorted(set(shapes)), dtypes, report=lambda line: print("  " + line, flush=True))
    print(f"winners stored in {path}" if path is not None
          else "winners not stored: the cache is off (FASTNN_CACHE=0)")


def _cache_location() -> str:
    return str(_cache.kernels_dir()) if _config.CACHE else "memory only (FASTNN_CACHE=0)"


def evaluate_command(args) -> int:
    net = load_model(args.model)
    _, _, X_test, y_test, description = load_data(args.data, net.dtype.name, whole_npz=True)
    check_fits(net, X_test, y_test, description)
    accuracy = net.evaluate(X_test, y_test)
    cost = net.cost(X_test, y_test)
    correct = int(round(accuracy * X_test.shape[0]))
    print(f"test accuracy: {accuracy:.2%} ({correct}/{X_test.shape[0]}) on {description}")
    print(f"mean {net.cost_name.replace('_', '-')} cost: {cost:.6f}")
    return 0


def predict_command(args) -> int:
    net = load_model(args.model)
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
    check_fits(net, inputs, None, args.input)
    predictions = np.asarray(net.predict(inputs), dtype=np.int64)
    if args.output:
        check_writable(args.output, "--output")
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
    if not os.path.exists(path):
        raise CommandError(f"input file {path} does not exist")
    if os.path.isdir(path):
        raise CommandError(f"input {path} is a directory, not a .npy file")
    regular_file(path, "input")
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
        raise CommandError(f"{path} is not a readable NumPy file: {one_line(error)}") from None


def _check_input_header(path, header):
    if header.dtype.kind not in "biuf":
        raise CommandError(f"{path} must hold numbers, got dtype {header.dtype}")
    try:  # read, then converted to the model's dtype
        check_memory(header.nbytes * 2, f"{path} (shape {header.shape}, {header.dtype})")
    except ValueError as error:
        raise CommandError(one_line(error)) from None


def _read_npy_data(stream, header):
    """The data after a checked .npy header, read in one go (its length is
    the file's, checked against the header)."""
    data = stream.read(header.nbytes)
    if len(data) != header.nbytes:
        raise ValueError(f"it ends after {len(data):,} of {header.nbytes:,} bytes of data")
    order = "F" if header.fortran_order else "C"
    return np.frombuffer(data, header.dtype).reshape(header.shape, order=order)


def info_command(args) -> int:
    if args.clear_cache:
        _clear_cache()
    if args.model is None:
        return _environment_info()
    net = load_model(args.model)
    n_weights = sum(w.size for w in net.weights)
    n_biases = sum(b.size for b in net.biases)
    print(f"sizes: {dashed(net.sizes)}")
    print(f"dtype: {net.dtype.name}")
    print(f"cost: {net.cost_name}, output: {net.output}")
    print(f"hidden layers: {_hidden_layers(net)}")
    print(f"parameters: {net.n_params} ({n_weights} weights, {n_biases} biases)")
    _plan_info(net, args.batch_size)
    return 0

def _hidden_layers(net) -> str:
    """Each hidden layer's activation, and its dropout rate if any."""
    neurons = net.neurons
    if not neurons.activation:
        return "none"
    layers = []
    for name, slope, rate in zip(neurons.activation, neurons.leaky_slope, neurons.dropout):
        text = f"{name} (slope {slope:g})" if name == "leaky_relu" else name
        layers.append(text + (f", dropout {rate:g}" if rate else ""))
    return "; ".join(layers)

def _environment_info() -> int:
    import numba

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
    _machine_info()
    return 0

def _machine_info():
    """The CPU, the ISA the kernels are built for and their tiles, the BLAS
    engine and the stored wisdom (docs/performance.md)."""
    from .. import _blas, _machine, engine
    from ..kernels import isa

    host = isa.host_isa()
    print(f"CPU: {_machine.cpu_model()}, {_machine.machine_facts()['cores']} cores")
    emulated = (" (set by NUMBA_CPU_NAME/NUMBA_CPU_FEATURES)"
                if os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES")
                else "")
    print(f"kernels built for: {host.describe()}{emulated}")
    print(f"register tiles: {isa.tiles_for(host).label()}")
    print(f"BLAS engine: {_blas.describe()}")
    path = engine.wisdom_path()
    wisdom = engine.load_wisdom()
    if path is None:
        print("wisdom: none (the cache is off)")
    elif wisdom:
        print(f"wisdom: {len(wisdom)} measured shape{'s' if len(wisdom) != 1 else ''} in {path}")
    else:
        print(f"wisdom: none yet (fastnn compile --tune SIZES --batch-size N measures; "
              f"{path})")

def _plan_info(net, batch_size):
    """The kernel plan a training of ``net`` with batch_size would run."""
    from .. import engine
    from ..plan import EpochPlan

    plan = EpochPlan(net.sizes, batch_size, net.dtype, batch_size, _threads_for_info(),
                     cost=net.cost_name, output=net.output)
    layer_plan = plan.layer_plan
    print(f"kernel plan for batch {batch_size} ({layer_plan.source}; {layer_plan.isa} tiles, "
          f"{layer_plan.parts} part{'s' if layer_plan.parts != 1 else ''} per layer): "
          f"{plan.driver}")
    for i in range(1, len(net.sizes)):
        engines = [layer_plan.engine(i, e) if (e != "backward" or i > 1) else "-"
                   for e in engine.EQUATIONS]
        rows, samples = plan.layer_plan.array[i, 3], plan.layer_plan.array[i, 4]
        print(f"  layer {i} ({net.sizes[i - 1]}->{net.sizes[i]}): forward {engines[0]}, "
              f"backward {engines[1]}, gradient {engines[2]}; parts of {rows} rows, "
              f"{samples} samples")

def _threads_for_info():
    from .._threads import default_thread_count

    return default_thread_count()


def _threading_layer() -> str:
    import numba

    try:
        # numba loads its threading layer on first use; asking for the
        # thread count loads it without compiling anything.
        threads = numba.get_num_threads()
        return f"{numba.threading_layer()} ({threads} thread{'' if threads == 1 else 's'})"
    except Exception as error:  # no layer could be loaded
        return f"unavailable ({one_line(error)})"


def _usage(directory) -> str:
    size, files = _cache.directory_usage(directory)
    return f"{_megabytes(size)} in {_files(files)}"


def _megabytes(size) -> str:
    return f"{size / 1e6:.1f} MB"


def _files(count) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def _clear_cache():
    root = _cache.cache_root()
    removed, freed = _cache.clear_cache(root)
    left = _cache.key_directories(root)
    print(f"removed {removed} cached build{'' if removed == 1 else 's'} of the kernels "
          f"({_megabytes(freed)}) from {root}")
    if left:
        raise CommandError(f"could not remove {', '.join(str(path) for path in left)}")
