"""Register-blocked inner loops of the layer equations, for a batch.

Each kernel here computes one equation of docs/theory.md for a block of
samples n and rows j, so that every value loaded from memory serves several
multiply-adds and a dozen or more independent sums are in flight (the loop
is then bound by the multiply-add units, not by loads or by the latency of
one addition). Each names its equation (§N) and is tested against that
equation's reference kernel in ``fastnn.kernels.reference``
(tests/test_reference.py), for every block size the rule of
``fastnn.kernels.isa`` can choose.

One source per equation: ``weighted_sums_for(samples, rows)``,
``backward_sums_for(samples, rows)`` and ``gradient_rows_for(rows,
samples)`` build the kernel of a block size from closure constants. The
block's sums (or coefficients) live in a small array on the stack
(``_registers``) indexed by constants only; LLVM unrolls the loops over the
block and keeps the array in registers, so the compiled loop is the one a
hand-unrolled kernel gives (bitwise the same results, measured the same
speed). The host's blocks (``HOST_TILES``) are built at import; only those
are compiled unless a test or ``scripts/tune_tiles.py`` asks for others.
"""
from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.core import config as numba_config
from numba.extending import intrinsic
from numba.np.numpy_support import carray
import numpy as np

from ._jit import jit, prefer_wide_vectors
from .activation import cast_like
from .isa import HOST_TILES, Tiles, rows_per_part

__all__ = [
    "HOST_TILES", "SAMPLE_BLOCK", "FORWARD_BLOCK", "FORWARD_SMALL_BLOCK", "ROW_BLOCK",
    "GRADIENT_ROW_BLOCK", "GRADIENT_SMALL_ROWS", "BACKWARD_BLOCK", "written_out",
    "weighted_sums_for", "backward_sums_for", "gradient_rows_for", "kernels_for",
    "weighted_sums_block", "weighted_sums_small", "weighted_sums_one",
    "backward_sums_block", "backward_sums_one",
    "gradient_rows_block", "gradient_rows_small", "gradient_row_one", "bias_gradient_rows",
]


def written_out(constant, value, expected, kernels):
    """Fail the import if a block size no longer matches the kernels that
    are built or unrolled for it: they would silently skip or repeat work."""
    if value != expected:
        raise ImportError(
            f"fastnn.kernels.blocked: {constant} = {value}, but {kernels} are written for "
            f"{expected}; rewrite them before changing the constant")


# ---------------------------------------------------------------------------
# A block's values in registers
# ---------------------------------------------------------------------------
@intrinsic
def _stack_pointer(typingctx, count, like):
    dtype = like.dtype if isinstance(like, types.Array) else like
    signature = types.CPointer(dtype)(count, like)

    def codegen(context, builder, sig, args):
        # In the function's entry block, with a constant count (a closure
        # constant): LLVM's SROA then turns the array into registers once
        # the loops over it are unrolled.
        return cgutils.alloca_once(builder, context.get_value_type(dtype), size=args[0])

    return signature, codegen


def _registers_python(count, like):  # pragma: no cover - NUMBA_DISABLE_JIT=1 only
    return np.zeros(count, np.asarray(like).dtype)


@jit(inline=True)
def _registers_compiled(count, like):
    return carray(_stack_pointer(count, like), (count,))


# count values of like's dtype, uninitialised, that live in registers when
# every index into them is a constant.
_registers = _registers_python if numba_config.DISABLE_JIT else _registers_compiled


_BUILT = {}


def _named(kernel, name):
    # Each block size gets its own name: the disk cache files are named by it.
    kernel.__name__ = kernel.__qualname__ = name
    return kernel


def _built(key, build):
    if key not in _BUILT:
        _BUILT[key] = build()
    return _BUILT[key]


# ---------------------------------------------------------------------------
# §1: the weighted sums
# ---------------------------------------------------------------------------
def weighted_sums_for(samples: int, rows: int):
    """The kernel of §1 without the bias for blocks of ``samples`` samples and
    ``rows`` rows:

        weighted_sums(w, x, out, n0, j_begin, j_end)

    out[n, j] = sum_k w[j, k] x[n, k] for the samples n = n0..n0+samples-1
    and the rows j = j_begin..j_end-1. ``rows`` rows j and the samples
    share one pass over k: samples x rows independent sums, each w_jk
    loaded serving every sample and each x_k every row. Rows past the last
    full block go one at a time (with all the samples).
    w: (J, K); x: (m, K); out: (m, J).
    """
    samples, rows = int(samples), int(rows)

    def build():
        sums = samples * rows

        def weighted_sums(w, x, out, n0, j_begin, j_end):
            prefer_wide_vectors()
            n_k = w.shape[1]
            zero = cast_like(0.0, w)
            z = _registers(sums, w)  # z[r * samples + s]: row j + r, sample n0 + s
            j = j_begin
            while j + rows <= j_end:
                for q in range(sums):
                    z[q] = zero
                for k in range(n_k):
                    for r in range(rows):
                        w_jk = w[j + r, k]
                        for s in range(samples):
                            z[r * samples + s] += w_jk * x[n0 + s, k]
                for r in range(rows):
                    for s in range(samples):
                        out[n0 + s, j + r] = z[r * samples + s]
                j += rows
            while j < j_end:
                for s in range(samples):
                    z[s] = zero
                for k in range(n_k):
                    w_jk = w[j, k]
                    for s in range(samples):
                        z[s] += w_jk * x[n0 + s, k]
                for s in range(samples):
                    out[n0 + s, j] = z[s]
                j += 1

        weighted_sums.__doc__ = weighted_sums_for.__doc__
        return jit(_named(weighted_sums, f"weighted_sums_{samples}x{rows}"))

    return _built(("weighted_sums", samples, rows), build)


@jit
def weighted_sums_one(w, x, out, n, j_begin, j_end):
    """§1 without the bias: out[n, j] = sum_k w[j, k] x[n, k] for the
    single sample n and the rows j = j_begin..j_end-1.

    Four rows j per pass over k: four independent sums keep the multiply-add
    units busy where one sum would wait on each addition's latency.
    """
    n_j, n_k = w.shape
    zero = cast_like(0.0, w)
    j = j_begin
    while j + 4 <= j_end:
        z0 = zero
        z1 = zero
        z2 = zero
        z3 = zero
        for k in range(n_k):
            x_k = x[n, k]
            z0 += w[j, k] * x_k
            z1 += w[j + 1, k] * x_k
            z2 += w[j + 2, k] * x_k
            z3 += w[j + 3, k] * x_k
        out[n, j] = z0
        out[n, j + 1] = z1
        out[n, j + 2] = z2
        out[n, j + 3] = z3
        j += 4
    while j < j_end:
        z = zero
        for k in range(n_k):
            z += w[j, k] * x[n, k]
        out[n, j] = z
        j += 1


# ---------------------------------------------------------------------------
# §6: the backward sums
# ---------------------------------------------------------------------------
def backward_sums_for(samples: int, rows: int):
    """The kernel of §6 before the factor f'(z_k) for blocks of ``samples``
    samples, ``rows`` rows j per pass:

        backward_sums(w, delta, delta_prev, n0)

    delta_prev[n, k] = sum_j delta[n, j] w[j, k] for the samples
    n = n0..n0+samples-1. The sum over j is taken as rows of w added into
    the samples' rows of delta_prev, ``rows`` rows j per pass over k: each
    w_jk loaded serves every sample and each delta_prev element is loaded
    and stored once per samples x rows products. Vectorized over k, so it
    needs no transposed copy of w and stays efficient when layer i is
    narrow (the output layer). w: (J, K); delta: (m, J); delta_prev: (m, K).
    """
    samples, rows = int(samples), int(rows)

    def build():
        coefficients = samples * rows

        def backward_sums(w, delta, delta_prev, n0):
            prefer_wide_vectors()
            n_j, n_k = w.shape
            d = _registers(coefficients, w)  # d[s * rows + r] = delta[n0 + s, j + r]
            w_k = _registers(rows, w)  # w_k[r] = w[j + r, k], loaded before any store
            for s in range(samples):
                p = delta_prev[n0 + s]
                for k in range(n_k):
                    p[k] = 0
            j = 0
            while j + rows <= n_j:
                for s in range(samples):
                    for r in range(rows):
                        d[s * rows + r] = delta[n0 + s, j + r]
                for k in range(n_k):
                    for r in range(rows):
                        w_k[r] = w[j + r, k]
                    for s in range(samples):
                        t = d[s * rows] * w_k[0]
                        for r in range(1, rows):
                            t += d[s * rows + r] * w_k[r]
                        delta_prev[n0 + s, k] += t
                j += rows
            while j < n_j:
                for s in range(samples):
                    d[s] = delta[n0 + s, j]
                for k in range(n_k):
                    w_jk = w[j, k]
                    for s in range(samples):
                        delta_prev[n0 + s, k] += d[s] * w_jk
                j += 1

        backward_sums.__doc__ = backward_sums_for.__doc__
        return jit(_named(backward_sums, f"backward_sums_{samples}x{rows}"))

    return _built(("backward_sums", samples, rows), build)


@jit
def backward_sums_one(w, delta, delta_prev, n):
    """§6 before the factor f'(z_k): delta_prev[n, k] = sum_j delta[n, j] w[j, k]
    for the single sample n."""
    n_j, n_k = w.shape
    p = delta_prev[n]
    for k in range(n_k):
        p[k] = 0
    for j in range(n_j):
        d = delta[n, j]
        for k in range(n_k):
            p[k] += d * w[j, k]


# ---------------------------------------------------------------------------
# §7: the weight gradient and the step
# ---------------------------------------------------------------------------
@jit(inline=True)
def bias_gradient_rows(delta, grad_b, scale, j_begin, j_end):
    """§7's bias gradient for the rows j_begin..j_end-1:
    dC/db_j = scale sum_n delta[n, j], into grad_b[j].

    The sums are taken along the rows of delta (contiguous in j), all rows
    at once: taken down one column per row, they cost more than the rest
    of a group of eight rows at m = 8 (2 of its 2.5 us at 16 columns).
    """
    bias = grad_b[j_begin:j_end]
    for r in range(bias.shape[0]):
        bias[r] = 0
    for n in range(delta.shape[0]):
        row = delta[n, j_begin:j_end]
        for r in range(bias.shape[0]):
            bias[r] += row[r]
    for r in range(bias.shape[0]):
        bias[r] *= scale


@jit(inline=True)
def _finish_gradient_rows(delta, w, b, grad_w, grad_b, scale, eta, j_begin, j_end):
    """§7 and the step, finished: the bias gradient, the 1/m scale and
    (eta != 0) the step for the rows j_begin..j_end-1, whose weight
    gradients are summed (the bias gradient: ``bias_gradient_rows``).
    """
    bias_gradient_rows(delta, grad_b, scale, j_begin, j_end)
    for j in range(j_begin, j_end):
        g = grad_w[j]
        if eta != 0:
            # The weights of layer i are no longer needed by the backward
            # pass (delta^(i-1) was computed before this), so the step is
            # taken while the gradient row is still in L1.
            for k in range(g.shape[0]):
                g[k] *= scale
                w[j, k] -= eta * g[k]
            b[j] -= eta * grad_b[j]
        else:
            for k in range(g.shape[0]):
                g[k] *= scale


def gradient_rows_for(rows: int, samples: int):
    """The kernel of §7 (and the step) for ``rows`` rows j together,
    ``samples`` samples per pass:

        gradient_rows(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j)

    dC/dw_jk = scale sum_n delta[n, j] a_prev[n, k] for the rows j..j+rows-1
    (see layers.layer_gradient), then the bias gradient, the scale and the
    step (_finish_gradient_rows). Each a_k^(i-1) loaded serves every row,
    and each gradient element is loaded and stored once per ``samples``
    products; the samples left over go two at a time, then one.
    """
    rows, samples = int(rows), int(samples)

    def build():
        coefficients = rows * samples

        def gradient_rows(delta, a_prev, w, b, grad_w, grad_b, scale, eta, j):
            prefer_wide_vectors()
            m, n_k = a_prev.shape
            d = _registers(coefficients, w)  # d[r * samples + s] = delta[n + s, j + r]
            x_k = _registers(samples, w)  # x_k[s] = a_prev[n + s, k], loaded before any store
            for r in range(rows):
                g = grad_w[j + r]
                for k in range(n_k):
                    g[k] = 0
            n = 0
            while n + samples <= m:
                for r in range(rows):
                    for s in range(samples):
                        d[r * samples + s] = delta[n + s, j + r]
                for k in range(n_k):
                    for s in range(samples):
                        x_k[s] = a_prev[n + s, k]
                    for r in range(rows):
                        t = d[r * samples] * x_k[0]
                        for s in range(1, samples):
                            t += d[r * samples + s] * x_k[s]
                        grad_w[j + r, k] += t
                n += samples
            if samples > 2 and n + 2 <= m:
                # Two samples left (a batch of 10 has two after two blocks
                # of four): one pass for both halves the loads and stores
                # of the gradient rows.
                for r in range(rows):
                    d[2 * r] = delta[n, j + r]
                    d[2 * r + 1] = delta[n + 1, j + r]
                for k in range(n_k):
                    x_0 = a_prev[n, k]
                    x_1 = a_prev[n + 1, k]
                    for r in range(rows):
                        grad_w[j + r, k] += d[2 * r] * x_0 + d[2 * r + 1] * x_1
                n += 2
            while n < m:
                for r in range(rows):
                    d[r] = delta[n, j + r]
                for k in range(n_k):
                    x = a_prev[n, k]
                    for r in range(rows):
                        grad_w[j + r, k] += d[r] * x
                n += 1
            _finish_gradient_rows(delta, w, b, grad_w, grad_b, scale, eta, j, j + rows)

        gradient_rows.__doc__ = gradient_rows_for.__doc__
        return jit(_named(gradient_rows, f"gradient_rows_{rows}x{samples}"))

    return _built(("gradient_rows", rows, samples), build)


def kernels_for(tiles: Tiles) -> dict:
    """Every blocked kernel of §1, §6 and §7 a set of tiles uses, by role
    (the names of the module-level kernels below)."""
    return {
        "weighted_sums_block": weighted_sums_for(tiles.forward_samples, tiles.forward_rows),
        "weighted_sums_small": weighted_sums_for(tiles.forward_small_samples, tiles.forward_rows),
        "backward_sums_block": backward_sums_for(tiles.backward_samples, tiles.backward_rows),
        "gradient_rows_block": gradient_rows_for(tiles.gradient_rows, tiles.gradient_samples),
        "gradient_rows_small": gradient_rows_for(tiles.gradient_small_rows,
                                                 tiles.gradient_samples),
        "gradient_row_one": gradient_rows_for(1, tiles.gradient_samples),
    }


# The host's blocks: the callers (layers, per_sample) name these constants
# and kernels; numba freezes them into the compiled code.
FORWARD_BLOCK = HOST_TILES.forward_samples
FORWARD_SMALL_BLOCK = HOST_TILES.forward_small_samples
ROW_BLOCK = HOST_TILES.forward_rows
BACKWARD_BLOCK = HOST_TILES.backward_samples
GRADIENT_ROW_BLOCK = HOST_TILES.gradient_rows
GRADIENT_SMALL_ROWS = HOST_TILES.gradient_small_rows
# Samples of a block of the gradient passes.
SAMPLE_BLOCK = HOST_TILES.gradient_samples
ROWS_PER_PART = rows_per_part(HOST_TILES)

_host = kernels_for(HOST_TILES)
weighted_sums_block = _host["weighted_sums_block"]
weighted_sums_small = _host["weighted_sums_small"]
backward_sums_block = _host["backward_sums_block"]
gradient_rows_block = _host["gradient_rows_block"]
gradient_rows_small = _host["gradient_rows_small"]
gradient_row_one = _host["gradient_row_one"]
del _host

written_out("ROWS_PER_PART", ROWS_PER_PART % GRADIENT_ROW_BLOCK + ROWS_PER_PART % ROW_BLOCK
            + ROWS_PER_PART % GRADIENT_SMALL_ROWS, 0,
            "the row splits of layers.forward_layer and scheduler.part_rows (a part must start "
            "where a block of rows starts)")
written_out("FORWARD_SMALL_BLOCK", FORWARD_SMALL_BLOCK < FORWARD_BLOCK, True,
            "layers._forward_blocks (big blocks first, then small ones)")
