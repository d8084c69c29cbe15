"""The layer equations of big layers through BLAS's matrix product
(docs/theory.md §1, §6, §7; docs/performance.md, "The big-layer engine").

Each kernel here computes one equation for a part of a layer (a range of
rows j, or of samples n) with one call of the BLAS ``gemm`` that SciPy
ships (``scipy.linalg.cython_blas``, reached through numba's own
``numba_xxgemm`` helper, the one ``np.dot`` calls in compiled code), then
the same small loops as the register-blocked path around it: f after the
weighted sums (``neurons.activate_rows``, the layer's rule: its activation
and dropout), f' after the backward sums (``neurons.scale_by_derivative``),
the bias gradient and the step after
the weight gradient (``step_rows``). Nothing is copied or allocated: the
product reads and writes the parts of the epoch's own buffers in place,
through their leading dimensions.

Why: BLAS packs its operands into panels sized for the caches and runs an
assembly micro-kernel on them; on big layers (hundreds of rows, a batch of
a hundred or more) it reaches 90-100 G FLOP/s per Zen 4 core with AVX2 or
AVX-512 code, where the register-blocked loops reach 60-100
(scripts/bench_engine.py).

Bitwise: a part is always one call of the same shape, whichever thread
runs it, and BLAS is kept to one thread (``fastnn._blas``), so results do
not depend on the thread count. Layouts (row-major arrays seen by the
column-major BLAS as their transposes): w (J, K), x (m, K), a (m, J),
delta (m, J), delta_prev (m, K), grad_w (J, K).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core import config as numba_config
from numba.extending import intrinsic

from ._jit import jit
from .activation import cast_like
from .blocked import bias_gradient_rows
from .neurons import activate_rows, scale_by_derivative

__all__ = ["gemm", "forward_rows_blas", "backward_samples_blas", "gradient_rows_blas",
           "step_rows"]

_KINDS = {types.float32: "s", types.float64: "d"}


@intrinsic
def _gemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, a_offset, lda, b, b_offset, ldb,
          c, c_offset, ldc):
    if not all(isinstance(x, types.Array) for x in (a, b, c)):
        return None
    dtype = c.dtype
    if dtype not in _KINDS or a.dtype != dtype or b.dtype != dtype:
        return None
    from numba.np.linalg import ensure_blas

    ensure_blas()  # imports scipy.linalg.cython_blas, which numba_xxgemm calls
    signature = types.void(trans_a, trans_b, m, n, k, alpha, a, a_offset, lda, b, b_offset,
                           ldb, c, c_offset, ldc)

    def codegen(context, builder, sig, args):
        (trans_a_, trans_b_, m_, n_, k_, alpha_, a_, a_offset_, lda_, b_, b_offset_, ldb_, c_,
         c_offset_, ldc_) = args
        intp = context.get_value_type(types.intp)
        char = ir.IntType(8)
        void_pointer = char.as_pointer()
        function_type = ir.FunctionType(ir.IntType(32), [
            char, char, char, intp, intp, intp, void_pointer, void_pointer, intp,
            void_pointer, intp, void_pointer, void_pointer, intp])
        function = cgutils.get_or_insert_function(builder.module, function_type, "numba_xxgemm")

        def pointer(position, value, offset):
            array = context.make_array(sig.args[position])(context, builder, value)
            offset = context.cast(builder, offset, sig.args[position + 1], types.intp)
            return builder.bitcast(builder.gep(array.data, [offset]), void_pointer)

        def flag(value, position):
            value = context.cast(builder, value, sig.args[position], types.intp)
            return builder.select(builder.icmp_signed("!=", value, intp(0)),
                                  char(ord("t")), char(ord("n")))

        def integer(value, position):
            return context.cast(builder, value, sig.args[position], types.intp)

        value_type = context.get_value_type(dtype)
        alpha_slot = cgutils.alloca_once_value(
            builder, context.cast(builder, alpha_, sig.args[5], dtype))
        beta_slot = cgutils.alloca_once_value(builder, value_type(0.0))
        builder.call(function, [
            char(ord(_KINDS[dtype])), flag(trans_a_, 0), flag(trans_b_, 1),
            integer(m_, 2), integer(n_, 3), integer(k_, 4),
            builder.bitcast(alpha_slot, void_pointer), pointer(6, a_, a_offset_),
            integer(lda_, 8), pointer(9, b_, b_offset_), integer(ldb_, 11),
            builder.bitcast(beta_slot, void_pointer), pointer(12, c_, c_offset_),
            integer(ldc_, 14)])
        return context.get_dummy_value()

    return signature, codegen


def _gemm_python(trans_a, trans_b, m, n, k, alpha, a, a_offset, lda, b, b_offset, ldb, c,
                 c_offset, ldc):  # pragma: no cover - NUMBA_DISABLE_JIT=1 only
    """C = alpha op(A) op(B) in BLAS's column-major terms, with NumPy."""
    import numpy as np

    def matrix(array, offset, rows, columns, ld, transposed):
        flat = array.reshape(-1)
        if transposed:  # op(X) = X^T: X is columns x rows, column-major
            rows, columns = columns, rows
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=(rows, columns),
            strides=(flat.itemsize, ld * flat.itemsize))
        return view.T if transposed else view

    product = alpha * (matrix(a, a_offset, m, k, lda, trans_a)
                       @ matrix(b, b_offset, k, n, ldb, trans_b))
    flat = c.reshape(-1)
    for column in range(n):
        flat[c_offset + column * ldc:c_offset + column * ldc + m] = product[:, column]


# gemm(trans_a, trans_b, m, n, k, alpha, a, a_offset, lda, b, b_offset, ldb, c, c_offset, ldc):
# C <- alpha op(A) op(B) in BLAS's column-major terms (beta = 0), each
# matrix given as an array, the offset of its first element and its
# leading dimension; trans_* nonzero for the transposed operand.
gemm = _gemm_python if numba_config.DISABLE_JIT else _gemm


@jit(inline=True)
def _leading(array):
    """The distance between rows of a 2-D C-ordered array, in elements."""
    return array.strides[0] // array.itemsize


@jit
def forward_rows_blas(w, b, a_prev, a, j_begin, j_end, rule, rows):
    """§1 for the neurons j_begin..j_end-1 of a batch, by one BLAS product:
    z[n, j] = sum_k w[j, k] a_prev[n, k], then the bias and what the layer's
    ``rule`` does (f, dropout; ``neurons.activate_rows``, as the blocked
    path; a softmax layer is completed by the caller). rows: the batch's
    rows of the epoch's inputs (dropout's masks).

    In BLAS's terms z^T[j_begin:j_end, :] = w[j_begin:j_end, :] a_prev^T:
    w's rows read as the transpose of a K x J column-major matrix.
    """
    m, n_k = a_prev.shape
    if j_end > j_begin and m > 0:
        gemm(1, 0, j_end - j_begin, m, n_k, 1.0, w, j_begin * _leading(w), _leading(w),
             a_prev, 0, _leading(a_prev), a, j_begin, _leading(a))
    activate_rows(b, a, 0, m, j_begin, j_end, rule, rows)


@jit
def backward_samples_blas(w, delta, a_prev, delta_prev, n_begin, n_end, rule, rows):
    """§6 for the samples n_begin..n_end-1, by one BLAS product:
    delta_prev[n, k] = sum_j delta[n, j] w[j, k], then the factor f'(z_k)
    of layer i-1's ``rule`` on those rows (``neurons.scale_by_derivative``,
    as the blocked path).

    In BLAS's terms delta_prev^T[:, n_begin:n_end] = w^T delta^T[:, n_begin:n_end].
    """
    n_j, n_k = w.shape
    if n_end > n_begin:
        gemm(0, 0, n_k, n_end - n_begin, n_j, 1.0, w, 0, _leading(w),
             delta, n_begin * _leading(delta), _leading(delta),
             delta_prev, n_begin * _leading(delta_prev), _leading(delta_prev))
    scale_by_derivative(a_prev, delta_prev, n_begin, n_end, rule, rows)


@jit(inline=True)
def step_rows(delta, w, b, grad_w, grad_b, scale, eta, decay, j_begin, j_end):
    """§7's bias gradient and the step, for the rows j_begin..j_end-1 whose
    weight gradient (already scaled) is in grad_w: dC/db_j = scale sum_n
    delta[n, j]; with eta != 0, w <- decay w - eta dC/dw and b <- b - eta
    dC/db (§10: decay = 1 without L2)."""
    bias_gradient_rows(delta, grad_b, scale, j_begin, j_end)
    if eta != 0:
        for j in range(j_begin, j_end):
            g = grad_w[j]
            w_j = w[j]
            if decay != 1:
                for k in range(g.shape[0]):
                    w_j[k] = decay * w_j[k] - eta * g[k]
            else:
                for k in range(g.shape[0]):
                    w_j[k] -= eta * g[k]
            b[j] -= eta * grad_b[j]


@jit
def gradient_rows_blas(delta, a_prev, w, b, grad_w, grad_b, scale, eta, decay, j_begin, j_end):
    """§7 for the rows j_begin..j_end-1, by one BLAS product:
    dC/dw_jk = scale sum_n delta[n, j] a_prev[n, k], then the bias gradient
    and (eta != 0) the step (``step_rows``).

    In BLAS's terms grad_w^T[:, j_begin:j_end] = scale a_prev^T delta[:, j_begin:j_end].
    """
    m, n_k = a_prev.shape
    scale = cast_like(scale, w)
    if j_end > j_begin:
        if m > 0:
            gemm(0, 1, n_k, j_end - j_begin, m, scale, a_prev, 0, _leading(a_prev),
                 delta, j_begin, _leading(delta), grad_w, j_begin * _leading(grad_w),
                 _leading(grad_w))
        else:
            for j in range(j_begin, j_end):
                for k in range(n_k):
                    grad_w[j, k] = 0
    step_rows(delta, w, b, grad_w, grad_b, scale, cast_like(eta, w), cast_like(decay, w),
              j_begin, j_end)
