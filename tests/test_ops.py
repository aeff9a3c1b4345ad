"""The op table: every float op's forward against NumPy (float64) and its gradient against central
finite differences of the same NumPy reference. Adding an op = adding a row to CASES.

A case's inputs are generators `rng -> value`. Float NumPy arrays (any shape, 0-d included) are
the differentiable inputs; ints, bools and Python scalars are passed through unchanged as constants.
"""
import math
from dataclasses import dataclass, field

import numpy as np
import pytest

import lamina
from lamina import _core, ops

# ---------------------------------------------------------------- float32 error bounds

EPS32 = float(np.finfo(np.float32).eps)  # 2**-23: float32's unit roundoff is EPS32 / 2


def assert_float32_close(got, want, terms=None, n=1, ulps=4, err_msg=""):
    """`got`, computed by lamina in float32, against `want`, the exact (float64) value, element by
    element: |got - want| <= EPS32 * (ulps * |want| + sqrt(n) * terms).

    `ulps * |want|` is the rounding of the result and of each elementwise step. For a result that
    sums `n` rounded terms whose absolute values add up to `terms` (per element, e.g. |a| @ |b| for
    a @ b), the rounding errors of the partial sums add up like a random walk: sqrt(n) * EPS32 *
    terms (Higham & Mary's probabilistic bound; the worst case, n * EPS32 * terms, is never
    approached by blocked sums). A result made from intermediate values of magnitude 1 or 2
    (sigmoid's 1 + e^-x) passes those as terms. The measured errors stay under 0.4 of the bound in
    every check here (AVX-512 host); a wrong term, a wrong scale or a lost thread's share is far
    outside it."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{err_msg}: shape {got.shape} != {want.shape}"
    bound = ulps * np.abs(want)
    if terms is not None:
        bound = bound + math.sqrt(n) * np.asarray(terms, dtype=np.float64)
    bound = EPS32 * bound
    err = np.abs(got - want)
    bad = ~(err <= bound)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err - bound, -np.inf)), bad.shape) if bad.ndim else ()
        raise AssertionError(f"{err_msg}: {int(bad.sum())} of {bad.size} elements outside the float32 bound; "
                             f"worst at {i}: got {got[i]!r}, want {want[i]!r}, error {err[i]:.3g} > "
                             f"bound {bound[i]:.3g}")


# ---------------------------------------------------------------- input generators


def _f32(a):
    """Values exactly representable in float32 (lamina and NumPy then see the same inputs)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def nz(*shape, lo=0.2, hi=2.0):
    """Floats of magnitude [lo, hi] with random signs: away from 0 (relu, abs, elu kinks)."""
    def gen(rng):
        mag = rng.uniform(lo, hi, size=shape)
        return _f32(mag * rng.choice([-1.0, 1.0], size=shape))
    return gen


def pos(*shape, lo=0.5, hi=2.0):
    """Positive floats (log, sqrt, power's base, divisors)."""
    return lambda rng: _f32(rng.uniform(lo, hi, size=shape))


def distinct(*shape, spacing=0.1):
    """Floats with no two closer than `spacing` (no ties for max/min)."""
    def gen(rng):
        n = int(np.prod(shape)) if shape else 1
        vals = (rng.permutation(n) - n / 2) * spacing + rng.uniform(-0.2, 0.2) * spacing
        return _f32(vals.reshape(shape))
    return gen


def ints(*shape, lo=0, hi=4):
    return lambda rng: rng.integers(lo, hi, size=shape).astype(np.int32)


def const(value):
    return lambda rng: value


def tie_free(shape_a, shape_b, margin=0.1):
    """Generators for a pair (a, b) that broadcast together with |a - b| >= margin everywhere
    (maximum/minimum have no derivative at ties). The larger operand is derived from the smaller."""
    full = np.broadcast_shapes(shape_a, shape_b)
    assert full in (tuple(shape_a), tuple(shape_b))
    state = {}

    def make(rng):
        a_is_base = tuple(shape_b) == full
        base = nz(*(shape_a if a_is_base else shape_b))(rng)
        shift = rng.uniform(margin, 1.0, size=full) * rng.choice([-1.0, 1.0], size=full)
        derived = _f32(np.broadcast_to(base, full) + shift)
        state["pair"] = (base, derived) if a_is_base else (derived, base)

    def ga(rng):
        make(rng)
        return state["pair"][0]

    return ga, lambda rng: state["pair"][1]


def away_from(gen, points, margin=0.05):
    """Pushes generated values at least `margin` away from each of `points` (clip's bounds)."""
    def g(rng):
        x = gen(rng)
        for p in points:
            close = np.abs(x - p) < margin
            x = np.where(close, p + np.sign(x - p + 1e-12) * margin * 2, x)
        return _f32(x)
    return g


# ---------------------------------------------------------------- NumPy references (float64)


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x, axis=-1):
    if axis is None:
        return np_softmax(x.reshape(-1), 0).reshape(x.shape)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    if axis is None:
        return np_log_softmax(x.reshape(-1), 0).reshape(x.shape)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def np_gelu(x, approximate=True):
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(x))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def np_selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))


def np_xent_logits(labels, logits):
    lsm = np_log_softmax(logits, -1)
    return -np.take_along_axis(lsm, labels[..., None].astype(np.int64), -1)[..., 0]


def np_xent_probs(labels, probs):
    p = probs / probs.sum(-1, keepdims=True)
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -np.take_along_axis(np.log(p), labels[..., None].astype(np.int64), -1)[..., 0]


def np_one_hot(labels, n):
    return (labels[..., None] == np.arange(n)).astype(np.float64)


def _np_pad_same(x, window, strides, dilation, fill):
    _, h, w, _ = x.shape
    eff = [(window[i] - 1) * dilation[i] + 1 for i in range(2)]
    out = [-(-h // strides[0]), -(-w // strides[1])]
    pads = [max((out[i] - 1) * strides[i] + eff[i] - (h, w)[i], 0) for i in range(2)]
    widths = ((0, 0), (pads[0] // 2, pads[0] - pads[0] // 2), (pads[1] // 2, pads[1] - pads[1] // 2), (0, 0))
    return np.pad(x, widths, constant_values=fill), out


def _np_windows(x, window, strides, dilation, padding, fill):
    """The input taps of every window, stacked: (kh*kw, N, OH, OW, C), plus each tap's (i, j)."""
    if padding == "same":
        x, (oh, ow) = _np_pad_same(x, window, strides, dilation, fill)
    else:
        oh = (x.shape[1] - (window[0] - 1) * dilation[0] - 1) // strides[0] + 1
        ow = (x.shape[2] - (window[1] - 1) * dilation[1] - 1) // strides[1] + 1
    taps, ij = [], []
    for i in range(window[0]):
        for j in range(window[1]):
            r, c = i * dilation[0], j * dilation[1]
            taps.append(x[:, r:r + (oh - 1) * strides[0] + 1:strides[0], c:c + (ow - 1) * strides[1] + 1:strides[1], :])
            ij.append((i, j))
    return np.stack(taps), ij


def np_conv(x, k, b=None, strides=(1, 1), padding="valid", dilation=(1, 1), relu=False):
    taps, ij = _np_windows(x, k.shape[:2], strides, dilation, padding, 0.0)
    out = sum(t @ k[i, j] for t, (i, j) in zip(taps, ij))
    if b is not None:
        out = out + b
    return np.maximum(out, 0) if relu else out


def np_max_pool(x, pool, strides, padding="valid"):
    return _np_windows(x, pool, strides, (1, 1), padding, -np.inf)[0].max(0)


def np_avg_pool(x, pool, strides, padding="valid"):
    return np.nanmean(_np_windows(x, pool, strides, (1, 1), padding, np.nan)[0], 0)


def np_dense(x, k, b=None, relu=False):
    out = x @ k + (0 if b is None else b)
    return np.maximum(out, 0) if relu else out


# ---------------------------------------------------------------- the table


@dataclass
class Case:
    name: str
    fn: object                 # lamina function of the inputs
    ref: object                # NumPy reference of the inputs (float64)
    inputs: list               # generators rng -> value
    grad: bool = True          # check gradients of every float input
    # float32 rounding: a few ulps of each value, plus 8 EPS32 of the largest value for the sums
    # (the table's longest reduction has 3*3*8 = 72 terms, sqrt(72) = 8.5; measured: under 1.5)
    rtol: float = 4 * EPS32
    atol_norm: float = 8 * EPS32
    marks: list = field(default_factory=list)


C = Case
CASES = [
    # --- binary arithmetic with broadcasting
    C("add", lambda a, b: ops.add(a, b), np.add, [nz(3, 4), nz(3, 4)]),
    C("add_bcast_col_row", lambda a, b: ops.add(a, b), np.add, [nz(3, 1), nz(1, 4)]),
    C("add_bcast_rank", lambda a, b: ops.add(a, b), np.add, [nz(2, 3, 4), nz(4)]),
    C("add_scalar_tensor", lambda a, b: ops.add(a, b), np.add, [nz(), nz(3, 4)]),
    C("add_python_scalar", lambda a: ops.add(a, 2.5), lambda a: a + 2.5, [nz(3, 4)]),
    C("add_python_scalar_left", lambda a: ops.add(2.5, a), lambda a: 2.5 + a, [nz(3, 4)]),
    C("subtract", lambda a, b: ops.subtract(a, b), np.subtract, [nz(2, 3, 4), nz(3, 1)]),
    C("subtract_scalar_left", lambda a: ops.subtract(1.5, a), lambda a: 1.5 - a, [nz(5)]),
    C("multiply", lambda a, b: ops.multiply(a, b), np.multiply, [nz(2, 3, 4), nz(4)]),
    C("multiply_bcast_both", lambda a, b: ops.multiply(a, b), np.multiply, [nz(3, 1, 2), nz(1, 4, 1)]),
    C("multiply_0d", lambda a, b: ops.multiply(a, b), np.multiply, [nz(), nz(2, 3)]),
    C("divide", lambda a, b: ops.divide(a, b), np.divide, [nz(3, 4), nz(3, 4, lo=0.5)]),
    C("divide_bcast", lambda a, b: ops.divide(a, b), np.divide, [nz(2, 3, 4), nz(3, 1, lo=0.5)]),
    C("divide_scalar_left", lambda a: ops.divide(2.0, a), lambda a: 2.0 / a, [nz(3, 4, lo=0.5)]),
    C("true_divide", lambda a, b: ops.true_divide(a, b), np.divide, [nz(4), nz(4, lo=0.5)]),
    C("power", lambda a, b: ops.power(a, b), np.power, [pos(3, 4), nz(3, 4, lo=0.1, hi=2)]),
    C("power_bcast", lambda a, b: ops.power(a, b), np.power, [pos(2, 3), nz(3, lo=0.1)]),
    C("power_scalar_exp", lambda a: ops.power(a, 2.5), lambda a: a ** 2.5, [pos(3, 4)]),
    C("power_int_exp_negative_base", lambda a: ops.power(a, 3), lambda a: a ** 3, [nz(3, 4)]),
    C("maximum", lambda a, b: ops.maximum(a, b), np.maximum, [*tie_free((3, 4), (3, 4))]),
    C("minimum", lambda a, b: ops.minimum(a, b), np.minimum, [*tie_free((3, 4), (3, 4))]),
    C("maximum_bcast", lambda a, b: ops.maximum(a, b), np.maximum, [*tie_free((3, 4), (4,))]),
    C("minimum_bcast", lambda a, b: ops.minimum(a, b), np.minimum, [*tie_free((3, 1), (2, 3, 4))]),
    C("maximum_scalar", lambda a: ops.maximum(a, 0.05), lambda a: np.maximum(a, 0.05), [nz(3, 4)]),
    # --- unary math
    C("negative", lambda a: ops.negative(a), np.negative, [nz(3, 4)]),
    C("abs", lambda a: ops.abs(a), np.abs, [nz(3, 4)]),
    C("absolute", lambda a: ops.absolute(a), np.abs, [nz(2, 3, 2)]),
    C("square", lambda a: ops.square(a), np.square, [nz(3, 4)]),
    C("exp", lambda a: ops.exp(a), np.exp, [nz(3, 4)]),
    C("log", lambda a: ops.log(a), np.log, [pos(3, 4)]),
    C("sqrt", lambda a: ops.sqrt(a), np.sqrt, [pos(3, 4)]),
    C("log1p", lambda a: ops.log1p(a), np.log1p, [nz(3, 4, lo=1e-3, hi=0.9)]),
    C("sign", lambda a: ops.sign(a), np.sign, [nz(3, 4)], grad=False),
    C("clip", lambda a: ops.clip(a, -0.5, 0.8), lambda a: np.clip(a, -0.5, 0.8),
      [away_from(nz(4, 5), [-0.5, 0.8])]),
    C("where", lambda a, b: ops.where(np.array([[True, False, True, False]] * 3), a, b),
      lambda a, b: np.where(np.array([[True, False, True, False]] * 3), a, b), [nz(3, 4), nz(3, 4)]),
    C("where_bcast", lambda c, a, b: ops.where(c, a, b), lambda c, a, b: np.where(c, a, b),
      [lambda rng: rng.random((2, 3, 1)) > 0.5, nz(3, 4), nz(4)]),
    C("where_scalar_branch", lambda a: ops.where(np.array([True, False, True]), a, 0.0),
      lambda a: np.where(np.array([True, False, True]), a, 0.0), [nz(2, 3)]),
    # --- activations
    C("relu", lambda a: ops.relu(a), lambda a: np.maximum(a, 0), [nz(3, 4)]),
    C("sigmoid", lambda a: ops.sigmoid(a), np_sigmoid, [nz(3, 4, hi=4)]),
    C("tanh", lambda a: ops.tanh(a), np.tanh, [nz(3, 4)]),
    C("silu", lambda a: ops.silu(a), lambda a: a * np_sigmoid(a), [nz(3, 4, hi=4)]),
    C("swish", lambda a: ops.swish(a), lambda a: a * np_sigmoid(a), [nz(5)]),
    C("gelu_approx", lambda a: ops.gelu(a), np_gelu, [nz(3, 4, hi=3)]),
    C("gelu_exact", lambda a: ops.gelu(a, approximate=False), lambda a: np_gelu(a, False), [nz(3, 4, hi=3)]),
    C("elu", lambda a: ops.elu(a), np_elu, [nz(3, 4)]),
    C("elu_alpha", lambda a: ops.elu(a, alpha=0.5), lambda a: np_elu(a, 0.5), [nz(3, 4)]),
    C("selu", lambda a: ops.selu(a), np_selu, [nz(3, 4)]),
    C("leaky_relu", lambda a: ops.leaky_relu(a), lambda a: np.where(a > 0, a, 0.2 * a), [nz(3, 4)]),
    C("leaky_relu_slope", lambda a: ops.leaky_relu(a, negative_slope=0.01),
      lambda a: np.where(a > 0, a, 0.01 * a), [nz(3, 4)]),
    C("softplus", lambda a: ops.softplus(a), lambda a: np.log1p(np.exp(a)), [nz(3, 4, hi=5)]),
    C("softmax_last", lambda a: ops.softmax(a), np_softmax, [nz(2, 3, 4)]),
    C("softmax_axis0", lambda a: ops.softmax(a, axis=0), lambda a: np_softmax(a, 0), [nz(2, 3, 4)]),
    C("softmax_axis1", lambda a: ops.softmax(a, axis=1), lambda a: np_softmax(a, 1), [nz(2, 3, 4)]),
    C("softmax_none", lambda a: ops.softmax(a, axis=None), lambda a: np_softmax(a, None), [nz(2, 3)]),
    C("softmax_1d", lambda a: ops.softmax(a), np_softmax, [nz(5)]),
    C("log_softmax_last", lambda a: ops.log_softmax(a), np_log_softmax, [nz(2, 3, 4)]),
    C("log_softmax_axis0", lambda a: ops.log_softmax(a, axis=0), lambda a: np_log_softmax(a, 0), [nz(3, 4)]),
    C("log_softmax_axis1", lambda a: ops.log_softmax(a, axis=-2), lambda a: np_log_softmax(a, -2), [nz(2, 3, 4)]),
    C("log_softmax_none", lambda a: ops.log_softmax(a, axis=None), lambda a: np_log_softmax(a, None), [nz(2, 3)]),
    # --- reductions
    C("sum_all", lambda a: ops.sum(a), np.sum, [nz(2, 3, 4)]),
    C("sum_axis0", lambda a: ops.sum(a, axis=0), lambda a: a.sum(0), [nz(2, 3, 4)]),
    C("sum_axis_neg", lambda a: ops.sum(a, axis=-1), lambda a: a.sum(-1), [nz(2, 3, 4)]),
    C("sum_axis_tuple", lambda a: ops.sum(a, axis=(0, 2)), lambda a: a.sum((0, 2)), [nz(2, 3, 4)]),
    C("sum_axis_tuple_adjacent", lambda a: ops.sum(a, axis=(1, 2)), lambda a: a.sum((1, 2)), [nz(2, 3, 4)]),
    C("sum_keepdims", lambda a: ops.sum(a, axis=1, keepdims=True), lambda a: a.sum(1, keepdims=True), [nz(2, 3, 4)]),
    C("sum_all_keepdims", lambda a: ops.sum(a, keepdims=True), lambda a: a.sum(keepdims=True), [nz(2, 3)]),
    C("sum_0d", lambda a: ops.sum(a), np.sum, [nz()]),
    C("mean_all", lambda a: ops.mean(a), np.mean, [nz(2, 3, 4)]),
    C("mean_axis", lambda a: ops.mean(a, axis=1), lambda a: a.mean(1), [nz(2, 3, 4)]),
    C("mean_axis_tuple_keepdims", lambda a: ops.mean(a, axis=(0, 2), keepdims=True),
      lambda a: a.mean((0, 2), keepdims=True), [nz(2, 3, 4)]),
    C("max_all", lambda a: ops.max(a), np.max, [distinct(2, 3, 4)]),
    C("max_axis", lambda a: ops.max(a, axis=1), lambda a: a.max(1), [distinct(2, 3, 4)]),
    C("max_axis_neg_keepdims", lambda a: ops.max(a, axis=-1, keepdims=True),
      lambda a: a.max(-1, keepdims=True), [distinct(2, 3, 4)]),
    C("max_axis_tuple", lambda a: ops.max(a, axis=(0, 2)), lambda a: a.max((0, 2)), [distinct(2, 3, 4)]),
    C("min_all", lambda a: ops.min(a), np.min, [distinct(3, 4)]),
    C("min_axis0", lambda a: ops.min(a, axis=0), lambda a: a.min(0), [distinct(2, 3, 4)]),
    C("min_axis_tuple_keepdims", lambda a: ops.min(a, axis=(1, 2), keepdims=True),
      lambda a: a.min((1, 2), keepdims=True), [distinct(2, 3, 4)]),
    # --- matmul
    C("matmul_2d", lambda a, b: ops.matmul(a, b), np.matmul, [nz(3, 4), nz(4, 5)]),
    # n a multiple of 8 up to 64 takes the AVX2 small-n kernel (6-row blocks, 16- and 8-wide columns)
    C("matmul_small_n_16", lambda a, b: ops.matmul(a, b), np.matmul, [nz(7, 13), nz(13, 16)]),
    C("matmul_small_n_40", lambda a, b: ops.matmul(a, b), np.matmul, [nz(13, 5), nz(5, 40)]),
    C("matmul_vec_mat", lambda a, b: ops.matmul(a, b), np.matmul, [nz(4), nz(4, 5)]),
    C("matmul_mat_vec", lambda a, b: ops.matmul(a, b), np.matmul, [nz(3, 4), nz(4)]),
    C("matmul_vec_vec", lambda a, b: ops.matmul(a, b), np.matmul, [nz(4), nz(4)]),
    C("matmul_btk_kn", lambda a, b: ops.matmul(a, b), np.matmul, [nz(2, 3, 4), nz(4, 5)]),
    C("matmul_batched", lambda a, b: ops.matmul(a, b), np.matmul, [nz(2, 3, 4), nz(2, 4, 5)]),
    C("matmul_batch_bcast", lambda a, b: ops.matmul(a, b), np.matmul, [nz(2, 1, 3, 4), nz(3, 4, 2)]),
    C("matmul_mat_batched", lambda a, b: ops.matmul(a, b), np.matmul, [nz(3, 4), nz(2, 4, 5)]),
    C("matmul_vec_batched", lambda a, b: ops.matmul(a, b), np.matmul, [nz(4), nz(2, 4, 3)]),
    C("matmul_batched_vec", lambda a, b: ops.matmul(a, b), np.matmul, [nz(2, 3, 4), nz(4)]),
    # --- shapes
    C("reshape", lambda a: ops.reshape(a, (4, -1)), lambda a: a.reshape(4, -1), [nz(2, 3, 4)]),
    C("reshape_flat", lambda a: ops.reshape(a, -1), lambda a: a.reshape(-1), [nz(2, 3)]),
    C("tensor_reshape_method", lambda a: a.reshape(3, 2), lambda a: a.reshape(3, 2), [nz(2, 3)]),
    C("transpose_default", lambda a: ops.transpose(a), np.transpose, [nz(2, 3, 4)]),
    C("transpose_axes", lambda a: ops.transpose(a, (1, 0, 2)), lambda a: a.transpose(1, 0, 2), [nz(2, 3, 4)]),
    C("transpose_axes_neg", lambda a: ops.transpose(a, (2, -3, 1)), lambda a: a.transpose(2, 0, 1), [nz(2, 3, 4)]),
    C("tensor_T", lambda a: a.T, lambda a: a.T, [nz(3, 4)]),
    C("broadcast_to", lambda a: ops.broadcast_to(a, (2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)), [nz(3, 1)]),
    C("broadcast_to_0d", lambda a: ops.broadcast_to(a, (2, 3)), lambda a: np.broadcast_to(a, (2, 3)), [nz()]),
    C("expand_dims", lambda a: ops.expand_dims(a, 1), lambda a: np.expand_dims(a, 1), [nz(2, 3)]),
    C("expand_dims_neg", lambda a: ops.expand_dims(a, -1), lambda a: np.expand_dims(a, -1), [nz(2, 3)]),
    C("squeeze_all", lambda a: ops.squeeze(a), np.squeeze, [nz(1, 3, 1, 4)]),
    C("squeeze_axis", lambda a: ops.squeeze(a, axis=2), lambda a: np.squeeze(a, 2), [nz(1, 3, 1, 4)]),
    C("concatenate_axis0", lambda a, b: ops.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
      [nz(2, 3), nz(1, 3)]),
    C("concatenate_axis1", lambda a, b, c: ops.concatenate([a, b, c], axis=1),
      lambda a, b, c: np.concatenate([a, b, c], axis=1), [nz(2, 1, 3), nz(2, 2, 3), nz(2, 3, 3)]),
    C("concatenate_axis_neg", lambda a, b: ops.concatenate([a, b], axis=-1),
      lambda a, b: np.concatenate([a, b], axis=-1), [nz(2, 3), nz(2, 2)]),
    C("stack", lambda a, b: ops.stack([a, b]), lambda a, b: np.stack([a, b]), [nz(2, 3), nz(2, 3)]),
    C("stack_axis1", lambda a, b, c: ops.stack([a, b, c], axis=1),
      lambda a, b, c: np.stack([a, b, c], axis=1), [nz(2, 3), nz(2, 3), nz(2, 3)]),
    C("stack_axis_neg", lambda a, b: ops.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1),
      [nz(2, 3), nz(2, 3)]),
    C("take_axis0", lambda a, i: ops.take(a, i, axis=0), lambda a, i: np.take(a, i, axis=0),
      [nz(4, 3), const(np.array([2, 0, 2, 3]))]),
    C("take_axis1_2d_indices", lambda a, i: ops.take(a, i, axis=1), lambda a, i: np.take(a, i, axis=1),
      [nz(2, 4, 3), const(np.array([[0, 3], [3, -1]]))]),
    C("take_flat", lambda a, i: ops.take(a, i), lambda a, i: np.take(a, i), [nz(3, 4), const(np.array([11, 0, 5, 5]))]),
    C("slice", lambda a: ops.slice(a, (1, 0), (2, 3)), lambda a: a[1:3, 0:3], [nz(4, 5)]),
    C("slice_3d", lambda a: ops.slice(a, (0, 1, 2), (2, 1, -1)), lambda a: a[0:2, 1:2, 2:], [nz(3, 3, 5)]),
    # --- indexing x[...]
    C("index_int", lambda a: a[1], lambda a: a[1], [nz(3, 4)]),
    C("index_neg_int", lambda a: a[-1, 2], lambda a: a[-1, 2], [nz(3, 4)]),
    C("index_slice", lambda a: a[1:3], lambda a: a[1:3], [nz(4, 3)]),
    C("index_step", lambda a: a[::2, 1::2], lambda a: a[::2, 1::2], [nz(5, 6)]),
    C("index_neg_step", lambda a: a[::-1], lambda a: a[::-1], [nz(4, 3)]),
    C("index_neg_step2", lambda a: a[:, -1:0:-2], lambda a: a[:, -1:0:-2], [nz(3, 6)]),
    C("index_neg_step_full", lambda a: a[3::-2, ::-1], lambda a: a[3::-2, ::-1], [nz(5, 3)]),
    C("index_none", lambda a: a[None, :, None], lambda a: a[None, :, None], [nz(3, 4)]),
    C("index_ellipsis", lambda a: a[..., 1], lambda a: a[..., 1], [nz(2, 3, 4)]),
    C("index_ellipsis_mid", lambda a: a[0, ..., 1:], lambda a: a[0, ..., 1:], [nz(2, 3, 4)]),
    C("index_int_array", lambda a: a[[2, 0, 2]], lambda a: a[[2, 0, 2]], [nz(4, 3)]),
    C("index_int_array_axis1", lambda a: a[:, np.array([3, 0])], lambda a: a[:, np.array([3, 0])], [nz(2, 4)]),
    C("index_int_array_after_int", lambda a: a[1, [0, 2]], lambda a: a[1, [0, 2]], [nz(2, 4)]),
    C("index_int_array_nonadjacent", lambda a: a[1, :, [0, 3]], lambda a: a[1, :, [0, 3]], [nz(2, 3, 4)]),
    C("index_int_array_none_between", lambda a: a[0, None, [2, 0]], lambda a: a[0, None, [2, 0]], [nz(2, 3)]),
    C("index_int_array_2d", lambda a: a[:, np.array([[0, 1], [2, 2]])], lambda a: a[:, np.array([[0, 1], [2, 2]])],
      [nz(2, 3)]),
    C("index_tensor_int", lambda a: a[ops.convert_to_tensor(1)], lambda a: a[1], [nz(3, 2)]),
    C("index_empty_slice", lambda a: a[2:1], lambda a: a[2:1], [nz(4, 3)]),
    # --- losses, encodings, casts
    C("sparse_xent_logits", lambda y, z: ops.sparse_categorical_crossentropy(y, z, from_logits=True),
      np_xent_logits, [ints(5, hi=4), nz(5, 4)]),
    C("sparse_xent_logits_3d", lambda y, z: ops.sparse_categorical_crossentropy(y, z, from_logits=True),
      np_xent_logits, [ints(2, 3, hi=5), nz(2, 3, 5)]),
    C("sparse_xent_logits_label_col", lambda y, z: ops.sparse_categorical_crossentropy(y, z, from_logits=True),
      lambda y, z: np_xent_logits(y[:, 0], z), [ints(5, 1, hi=3), nz(5, 3)]),
    C("sparse_xent_probs", lambda y, p: ops.sparse_categorical_crossentropy(y, p),
      np_xent_probs, [ints(5, hi=4), pos(5, 4, lo=0.1, hi=1.0)]),
    C("sparse_xent_probs_softmaxed", lambda y, z: ops.sparse_categorical_crossentropy(y, ops.softmax(z)),
      lambda y, z: np_xent_probs(y, np_softmax(z)), [ints(6, hi=3), nz(6, 3)]),
    C("one_hot", lambda y: ops.one_hot(y, 4), lambda y: np_one_hot(y, 4), [ints(5, hi=4)], grad=False),
    C("one_hot_2d", lambda y: ops.one_hot(y, 3), lambda y: np_one_hot(y, 3), [ints(2, 3, hi=3)], grad=False),
    C("one_hot_axis0", lambda y: ops.one_hot(y, 3, axis=0), lambda y: np_one_hot(y, 3).T, [ints(4, hi=3)], grad=False),
    C("cast_float", lambda a: ops.cast(a, "float32"), lambda a: a, [nz(3, 4)]),
    C("cast_float_then_scale", lambda a: ops.multiply(ops.cast(a, "float32"), 2.0), lambda a: 2 * a, [nz(3, 4)]),
    C("cast_to_int", lambda a: ops.cast(a, "int32"), lambda a: np.trunc(a).astype(np.int32),
      [nz(3, 4, hi=5)], grad=False),
    C("cast_int_to_float", lambda a: ops.cast(a, "float32"), lambda a: a.astype(np.float64), [ints(3, 4, lo=-5, hi=5)],
      grad=False),
    # --- dense, convolution and pooling (NHWC)
    C("dense", lambda x, k, b: ops.dense(x, k, b), np_dense, [nz(3, 4), nz(4, 5), nz(5)]),
    C("dense_rank3_relu", lambda x, k, b: ops.dense(x, k, b, "relu"), lambda x, k, b: np_dense(x, k, b, True),
      [nz(2, 3, 4), nz(4, 5), nz(5)]),
    C("dense_no_bias", lambda x, k: ops.dense(x, k), np_dense, [nz(3, 4), nz(4, 2)]),
    C("conv_valid", lambda x, k, b: ops.conv(x, k, bias=b), np_conv, [nz(2, 5, 6, 3), nz(3, 3, 3, 4), nz(4)]),
    C("conv_no_bias", lambda x, k: ops.conv(x, k), np_conv, [nz(1, 4, 4, 2), nz(2, 2, 2, 3)]),
    C("conv_8_filters_relu", lambda x, k, b: ops.conv(x, k, bias=b, activation="relu"),
      lambda x, k, b: np_conv(x, k, b, relu=True), [nz(2, 6, 5, 3), nz(3, 3, 3, 8), nz(8)]),
    C("conv_strided", lambda x, k, b: ops.conv(x, k, strides=2, bias=b),
      lambda x, k, b: np_conv(x, k, b, (2, 2)), [nz(2, 7, 8, 2), nz(3, 3, 2, 3), nz(3)]),
    C("conv_same_strided", lambda x, k, b: ops.conv(x, k, strides=(2, 1), padding="same", bias=b),
      lambda x, k, b: np_conv(x, k, b, (2, 1), "same"), [nz(2, 5, 6, 2), nz(3, 2, 2, 3), nz(3)]),
    C("conv_same_even_kernel", lambda x, k: ops.conv(x, k, padding="same"),
      lambda x, k: np_conv(x, k, None, (1, 1), "same"), [nz(1, 4, 5, 2), nz(2, 4, 2, 2)]),
    C("conv_dilated", lambda x, k, b: ops.conv(x, k, dilation_rate=2, bias=b),
      lambda x, k, b: np_conv(x, k, b, (1, 1), "valid", (2, 2)), [nz(1, 7, 7, 2), nz(2, 3, 2, 2), nz(2)]),
    C("conv_1x1_direct", lambda x, k, b: ops.conv(x, k, bias=b), np_conv, [nz(2, 3, 4, 3), nz(1, 1, 3, 5), nz(5)]),
    C("conv_relu_fused", lambda x, k, b: ops.conv(x, k, bias=b, activation="relu"),
      lambda x, k, b: np_conv(x, k, b, relu=True), [nz(2, 5, 5, 2), nz(3, 3, 2, 3), nz(3)]),
    C("max_pool", lambda x: ops.max_pool(x, 2), lambda x: np_max_pool(x, (2, 2), (2, 2)), [distinct(2, 4, 5, 3)]),
    C("max_pool_same_strided", lambda x: ops.max_pool(x, 3, strides=2, padding="same"),
      lambda x: np_max_pool(x, (3, 3), (2, 2), "same"), [distinct(2, 5, 6, 2)]),
    C("max_pool_overlapping", lambda x: ops.max_pool(x, (3, 2), strides=1),
      lambda x: np_max_pool(x, (3, 2), (1, 1)), [distinct(1, 5, 4, 2)]),
    C("average_pool", lambda x: ops.average_pool(x, 2), lambda x: np_avg_pool(x, (2, 2), (2, 2)),
      [nz(2, 4, 5, 3)]),
    C("average_pool_same", lambda x: ops.average_pool(x, 3, strides=2, padding="same"),
      lambda x: np_avg_pool(x, (3, 3), (2, 2), "same"), [nz(2, 5, 6, 2)]),
    # --- compositions (gradients through chains and reused inputs)
    C("chain_reuse", lambda a, b: ops.sum(ops.tanh(ops.matmul(a, b)) * a[:, :1], axis=1),
      lambda a, b: (np.tanh(a @ b) * a[:, :1]).sum(1), [nz(3, 4), nz(4, 5)]),
    C("square_of_sum_with_self", lambda a: ops.multiply(a, a) + a, lambda a: a * a + a, [nz(3, 4)]),
]

_ids = [c.name for c in CASES]
assert len(set(_ids)) == len(_ids), "duplicate case names"


def _materialize(case, seed):
    rng = np.random.default_rng(seed)
    return [g(rng) for g in case.inputs]


def _is_float_input(v):
    return isinstance(v, np.ndarray) and v.dtype.kind == "f"


def _to_lamina(v):
    return ops.convert_to_tensor(v) if _is_float_input(v) else v


def _seed(case):
    return sum(ord(c) for c in case.name)


# ---------------------------------------------------------------- generic tests


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_matches_numpy(case):
    vals = _materialize(case, _seed(case))
    out = case.fn(*[_to_lamina(v) for v in vals])
    expected = np.asarray(case.ref(*vals))
    assert isinstance(out, lamina.Tensor)
    got = np.asarray(out)
    assert got.shape == expected.shape, f"{case.name}: shape {got.shape} != {expected.shape}"
    if expected.dtype.kind == "f":
        assert out.dtype == "float32"
    elif expected.dtype.kind in "iu":
        assert out.dtype in ("int32", "int64")
    largest = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(got, expected, rtol=case.rtol, atol=case.atol_norm * largest)


def _numeric_grad(ref, vals, i, cot, eps=1e-3):
    """d sum(ref(vals) * cot) / d vals[i], central differences in float64."""
    x = np.array(vals[i], dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        args = list(vals)
        flat[j] = old + eps
        args[i] = x.copy()
        fp = np.sum(np.asarray(ref(*args), dtype=np.float64) * cot)
        flat[j] = old - eps
        args[i] = x.copy()
        fm = np.sum(np.asarray(ref(*args), dtype=np.float64) * cot)
        flat[j] = old
        gflat[j] = (fp - fm) / (2 * eps)
    return g


GRAD_CASES = [c for c in CASES if c.grad]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.name for c in GRAD_CASES])
def test_gradient_matches_finite_differences(case):
    vals = _materialize(case, _seed(case))
    float_idx = [i for i, v in enumerate(vals) if _is_float_input(v)]
    assert float_idx, f"{case.name}: a gradient case needs a float input"
    expected_out = np.asarray(case.ref(*vals), dtype=np.float64)
    cot = _f32(np.random.default_rng(1).uniform(-1, 1, size=expected_out.shape))

    tensors = [_to_lamina(v) for v in vals]
    with lamina.GradientTape() as tape:
        for i in float_idx:
            tape.watch(tensors[i])
        out = case.fn(*tensors)
        loss = ops.sum(ops.multiply(out, cot))
    grads = tape.gradient(loss, [tensors[i] for i in float_idx])

    for i, g in zip(float_idx, grads):
        assert g is not None, f"{case.name}: no gradient for input {i}"
        assert tuple(g.shape) == vals[i].shape, f"{case.name}: gradient shape for input {i}"
        assert g.dtype == "float32"
        numeric = _numeric_grad(case.ref, vals, i, cot)
        # Central differences with step 1e-3 are off by about 1e-6 times the third derivative
        # (measured: at most 8e-6 of the largest gradient, for 1/x near x = 0.5); float32 gradients
        # by about 1e-7.
        np.testing.assert_allclose(np.asarray(g), numeric, rtol=1e-4, atol=1e-4 * np.max(np.abs(numeric)) + 1e-7,
                                   err_msg=f"{case.name}: gradient of input {i}")


def test_table_covers_every_float_op():
    """Every differentiable op in lamina.ops has at least one gradient case in the table, and every
    row of the C++ unary table (cpp/include/lamina/unary_ops.def) a case: a gradient case unless
    its case says grad=False."""
    unary = [name for name, _ in _core.unary_ops]
    float_ops = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "clip", "where",
                 "softmax", "log_softmax", "sum", "mean", "max", "min", "matmul", "reshape", "transpose",
                 "broadcast_to", "expand_dims", "squeeze", "concatenate", "stack", "take", "slice", "index",
                 "sparse_xent", "cast", "dense", "conv", "max_pool", "average_pool"]
    no_grad = {c.name for c in CASES if not c.grad}
    float_ops += [op for op in unary if op not in no_grad]
    names = [c.name for c in GRAD_CASES]
    missing = [op for op in float_ops if not any(n == op or n.startswith(op + "_") for n in names)]
    assert not missing, missing
    unlisted = [op for op in unary if not any(n == op or n.startswith(op + "_") for n in _ids)]
    assert not unlisted, unlisted


# ---------------------------------------------------------------- non-gradient checks


def test_argmax_argmin():
    x = np.array([[1.0, 5.0, 5.0, -2.0], [7.0, 0.0, 7.0, -3.0], [0.5, 0.5, 0.25, 9.0]], np.float32)
    for fn, ref in ((ops.argmax, np.argmax), (ops.argmin, np.argmin)):
        for axis in (None, 0, 1, -1):
            out = fn(x, axis=axis)
            assert out.dtype == "int32"
            np.testing.assert_array_equal(np.asarray(out), ref(x, axis=axis))  # ties -> first index
        out = fn(x, axis=1, keepdims=True)
        assert out.shape == (3, 1)
        np.testing.assert_array_equal(np.asarray(out), ref(x, axis=1, keepdims=True))
        out = fn(x, axis=None, keepdims=True)
        assert out.shape == (1, 1)
        assert int(np.asarray(out).ravel()[0]) == ref(x)
    ix = np.array([[3, -1, 8], [8, 2, 8]], np.int32)
    np.testing.assert_array_equal(np.asarray(ops.argmax(ix, axis=1)), [2, 0])
    np.testing.assert_array_equal(np.asarray(ops.argmin(ix, axis=0)), [0, 0, 0])


@pytest.mark.parametrize("name,ref", [
    ("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less),
    ("less_equal", np.less_equal), ("greater", np.greater), ("greater_equal", np.greater_equal)])
def test_comparisons(name, ref):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)
    b = np.array([2.0, 2.0, 2.0], np.float32)
    fn = getattr(ops, name)
    out = fn(a, b)
    assert out.dtype == "bool" and out.shape == (2, 3)
    np.testing.assert_array_equal(np.asarray(out), ref(a, b))
    # int vs float, and with a Python scalar
    ai = np.array([1, 2, 3], np.int32)
    np.testing.assert_array_equal(np.asarray(fn(ai, 2.5)), ref(ai, 2.5))
    np.testing.assert_array_equal(np.asarray(fn(ai, 2)), ref(ai, 2))


def test_tensor_comparison_operators():
    a = ops.convert_to_tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(a < 2), [True, False, False])
    np.testing.assert_array_equal(np.asarray(a <= 2), [True, True, False])
    np.testing.assert_array_equal(np.asarray(a > 2), [False, False, True])
    np.testing.assert_array_equal(np.asarray(a >= 2), [False, True, True])


def test_logical_ops():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    np.testing.assert_array_equal(np.asarray(ops.logical_and(a, b)), a & b)
    np.testing.assert_array_equal(np.asarray(ops.logical_or(a, b)), a | b)
    np.testing.assert_array_equal(np.asarray(ops.logical_not(a)), ~a)
    assert ops.logical_and(a, b).dtype == "bool"
    # non-bool inputs are truthiness-converted, with broadcasting
    x = np.array([[0.0, 1.5], [-2.0, 0.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(ops.logical_and(x, np.array([1, 0], np.int32))),
                                  np.logical_and(x, [1, 0]))
    np.testing.assert_array_equal(np.asarray(ops.logical_not(x)), np.logical_not(x))
    ta, tb = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    np.testing.assert_array_equal(np.asarray(ta & tb), a & b)
    np.testing.assert_array_equal(np.asarray(ta | tb), a | b)
    np.testing.assert_array_equal(np.asarray(~ta), ~a)


def test_int_arithmetic_dtypes():
    a = ops.convert_to_tensor(np.array([1, 2, 3], np.int32))
    b = ops.convert_to_tensor(np.array([4, 5, 7], np.int32))
    s = ops.add(a, b)
    assert s.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(s), [5, 7, 10])
    assert ops.subtract(a, b).dtype == "int32"
    assert ops.multiply(a, b).dtype == "int32"
    np.testing.assert_array_equal(np.asarray(ops.multiply(a, b)), [4, 10, 21])
    assert ops.add(a, 2).dtype == "int32"  # Python int keeps int32
    f = ops.add(a, np.array([0.5, 0.5, 0.5], np.float32))
    assert f.dtype == "float32"
    np.testing.assert_allclose(np.asarray(f), [1.5, 2.5, 3.5])
    assert ops.add(a, 0.5).dtype == "float32"
    assert ops.multiply(a, 1.5).dtype == "float32"
    d = ops.divide(a, b)
    assert d.dtype == "float32"
    np.testing.assert_allclose(np.asarray(d), np.array([1, 2, 3]) / np.array([4, 5, 7]), rtol=1e-6)
    assert ops.divide(np.array([7], np.int32), 2).dtype == "float32"
    np.testing.assert_allclose(np.asarray(ops.divide(np.array([7], np.int32), 2)), [3.5])
    l64 = ops.convert_to_tensor(np.array([1, 2, 3], np.int64))
    assert ops.add(a, l64).dtype == "int64"
    assert ops.negative(a).dtype == "int32"
    np.testing.assert_array_equal(np.asarray(ops.negative(a)), [-1, -2, -3])
    assert ops.abs(ops.negative(a)).dtype == "int32"
    assert ops.square(a).dtype == "int32"
    np.testing.assert_array_equal(np.asarray(ops.square(a)), [1, 4, 9])
    assert ops.sum(a).dtype == "int32" and int(ops.sum(a)) == 6
    assert ops.sum(l64).dtype == "int64"
    assert ops.mean(a).dtype == "float32" and float(ops.mean(a)) == pytest.approx(2.0)
    assert ops.max(b).dtype == "int32" and int(ops.max(b)) == 7
    assert int(ops.min(b, axis=0)) == 4
    np.testing.assert_array_equal(np.asarray(ops.maximum(a, 2)), [2, 2, 3])
    assert ops.maximum(a, 2).dtype == "int32"
    # bool with int counts as int32 (bool with bool: tests/test_hardening_core.py)
    t = ops.convert_to_tensor(np.array([True, False]))
    assert ops.add(t, a[:2]).dtype == "int32"
    # exp/log/sqrt of ints give floats
    assert ops.exp(a).dtype == "float32"
    np.testing.assert_allclose(np.asarray(ops.sqrt(b)), np.sqrt([4, 5, 7]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ops.power(a, 2)), [1, 4, 9])
    # large int32 values stay exact (no float round trip)
    big = ops.convert_to_tensor(np.array([2 ** 30 + 1], np.int32))
    assert int(ops.add(big, 2)) == 2 ** 30 + 3
    # clip of ints stays int
    c = ops.clip(np.array([-3, 0, 9], np.int32), -1, 5)
    assert c.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(c), [-1, 0, 5])


def test_where_dtypes():
    cond = np.array([True, False, True])
    out = ops.where(cond, np.array([1, 2, 3], np.int32), np.array([-1, -2, -3], np.int32))
    assert out.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(out), [1, -2, 3])
    out = ops.where(cond, np.array([1, 2, 3], np.int32), 0.5)
    assert out.dtype == "float32"
    np.testing.assert_allclose(np.asarray(out), [1, 0.5, 3])
    with pytest.raises(ValueError):
        ops.where(cond)


def test_arange():
    r = ops.arange(5)
    assert r.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(r), np.arange(5))
    np.testing.assert_array_equal(np.asarray(ops.arange(2, 9, 3)), np.arange(2, 9, 3))
    np.testing.assert_array_equal(np.asarray(ops.arange(5, 0, -2)), np.arange(5, 0, -2))
    f = ops.arange(0.0, 1.0, 0.25)
    assert f.dtype == "float32"
    np.testing.assert_allclose(np.asarray(f), np.arange(0.0, 1.0, 0.25))
    np.testing.assert_allclose(np.asarray(ops.arange(1, 2, 0.1)), np.arange(1, 2, 0.1), rtol=1e-6)
    assert ops.arange(0).shape == (0,)
    assert ops.arange(3, 1).shape == (0,)
    assert ops.arange(4, dtype="float32").dtype == "float32"
    assert ops.arange(4, dtype="int64").dtype == "int64"
    with pytest.raises(ValueError):
        ops.arange(0, 5, 0)


def test_zeros_ones_full():
    z = ops.zeros((2, 3))
    assert z.shape == (2, 3) and z.dtype == "float32"
    np.testing.assert_array_equal(np.asarray(z), np.zeros((2, 3)))
    o = ops.ones(4, dtype="int32")
    assert o.shape == (4,) and o.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(o), np.ones(4))
    assert ops.zeros(()).shape == ()
    f = ops.full((2, 2), 1.5)
    assert f.dtype == "float32"
    np.testing.assert_array_equal(np.asarray(f), np.full((2, 2), 1.5))
    np.testing.assert_array_equal(np.asarray(ops.full((3,), 7)), [7, 7, 7])
    assert ops.full((3,), 7, dtype="int32").dtype == "int32"
    assert ops.full((2,), True, dtype="bool").numpy().tolist() == [True, True]
    assert ops.full((2,), 3, dtype="float32").dtype == "float32"
    assert ops.full((1,), 2 ** 40, dtype="int64").numpy()[0] == 2 ** 40
    x = ops.convert_to_tensor(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert ops.zeros_like(x).dtype == "int32" and ops.zeros_like(x).shape == (2, 3)
    assert ops.ones_like(x, dtype="float32").dtype == "float32"
    np.testing.assert_array_equal(np.asarray(ops.full_like(x, 4)), np.full((2, 3), 4))
    assert ops.shape(x) == (2, 3) and ops.ndim(x) == 2 and ops.size(x) == 6 and ops.dtype(x) == "int32"
    with pytest.raises(ValueError):
        ops.zeros((2, -1))


def test_one_hot_dtype():
    y = np.array([0, 2, 1], np.int32)
    assert ops.one_hot(y, 3).dtype == "float32"
    h = ops.one_hot(y, 3, dtype="int32")
    assert h.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(h), np.eye(3, dtype=np.int32)[y])
    # labels out of [0, num_classes) give an all-zero row, as Keras/TF do
    np.testing.assert_array_equal(np.asarray(ops.one_hot(np.array([5]), 3)), [[0, 0, 0]])


def test_cast_rules():
    x = np.array([-1.7, -0.2, 0.0, 0.6, 2.9], np.float32)
    np.testing.assert_array_equal(np.asarray(ops.cast(x, "int32")), [-1, 0, 0, 0, 2])
    np.testing.assert_array_equal(np.asarray(ops.cast(x, "bool")), x != 0)
    assert ops.cast(x, "int64").dtype == "int64"
    assert ops.cast(x, "float64").dtype == "float32"  # floats map to the compute dtype
    assert ops.cast(np.array([True, False]), "float32").numpy().tolist() == [1.0, 0.0]


# ---------------------------------------------------------------- random


def test_random_uniform():
    u = lamina.random.uniform((200, 50), minval=-2.0, maxval=3.0, seed=3)
    assert u.shape == (200, 50) and u.dtype == "float32"
    a = np.asarray(u)
    assert a.min() >= -2.0 and a.max() < 3.0
    assert abs(a.mean() - 0.5) < 0.05
    assert a.std() == pytest.approx(5 / np.sqrt(12), rel=0.05)
    np.testing.assert_array_equal(a, np.asarray(lamina.random.uniform((200, 50), -2.0, 3.0, seed=3)))
    assert not np.array_equal(a, np.asarray(lamina.random.uniform((200, 50), -2.0, 3.0, seed=4)))
    assert lamina.random.uniform((3,), dtype="float64").dtype == "float32"
    assert lamina.random.uniform(()).shape == ()


def test_random_normal():
    n = lamina.random.normal((20000,), mean=1.0, stddev=2.0, seed=7)
    assert n.shape == (20000,) and n.dtype == "float32"
    a = np.asarray(n)
    assert abs(a.mean() - 1.0) < 0.05
    assert abs(a.std() - 2.0) < 0.05
    np.testing.assert_array_equal(a, np.asarray(lamina.random.normal((20000,), 1.0, 2.0, seed=7)))
    assert not np.array_equal(a, np.asarray(lamina.random.normal((20000,), 1.0, 2.0, seed=8)))
    odd = lamina.random.normal((3, 5), seed=1)  # odd element count
    assert np.isfinite(np.asarray(odd)).all()


def test_set_random_seed_reproducibility():
    lamina.utils.set_random_seed(123)
    a1 = np.asarray(lamina.random.normal((4, 3)))
    b1 = np.asarray(lamina.random.uniform((5,)))
    n1 = np.random.rand()
    lamina.utils.set_random_seed(123)
    a2 = np.asarray(lamina.random.normal((4, 3)))
    b2 = np.asarray(lamina.random.uniform((5,)))
    n2 = np.random.rand()
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert n1 == n2
    # successive unseeded draws differ
    assert not np.array_equal(a2, np.asarray(lamina.random.normal((4, 3))))
    lamina.utils.set_random_seed(124)
    assert not np.array_equal(a1, np.asarray(lamina.random.normal((4, 3))))
    with pytest.raises(ValueError):
        lamina.utils.set_random_seed(-1)
    with pytest.raises(ValueError):
        lamina.utils.set_random_seed(1.5)


# ---------------------------------------------------------------- large inputs (parallel kernels)


@pytest.fixture
def two_threads():
    n = lamina.get_num_threads()
    lamina.set_num_threads(2)
    yield
    lamina.set_num_threads(n)


def test_large_inputs_forward(two_threads):
    """Shapes above the kernels' parallel threshold (65536 elements) take the threaded paths."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 400)).astype(np.float32)
    b = rng.normal(size=(400,)).astype(np.float32)
    c = rng.normal(size=(300, 1)).astype(np.float32)
    a64 = a.astype(np.float64)
    abs_a = np.abs(a64)
    # Moved values and max/min/argmax: exact.
    exact = [
        (ops.where(a > 0, a, c), np.where(a > 0, a64, c)), (ops.max(a, axis=0), a64.max(0)),
        (ops.min(a, axis=1), a64.min(1)), (ops.transpose(a), a64.T),
        (ops.convert_to_tensor(a)[::-3, 5:390:7], a64[::-3, 5:390:7]),
        (ops.concatenate([a, a], axis=1), np.concatenate([a64, a64], axis=1)),
        (ops.broadcast_to(b, (300, 400)), np.broadcast_to(b, (300, 400))), (ops.argmax(a, axis=0), a.argmax(0)),
    ]
    for i, (got, want) in enumerate(exact):
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=f"exact check {i}")
    # (name, lamina, exact value, terms, n): see assert_float32_close.
    checks = [
        ("add", ops.add(a, b), a64 + b, None, 1), ("multiply", ops.multiply(a, c), a64 * c, None, 1),
        ("exp", ops.exp(a), np.exp(a64), None, 1),
        # sigmoid, tanh: quotients of 1 +- e^-x, values in [1, 2]: their rounding is absolute (terms 2)
        ("sigmoid", ops.sigmoid(a), np_sigmoid(a64), 2.0, 1), ("tanh", ops.tanh(a), np.tanh(a64), 2.0, 1),
        ("sum axis 0", ops.sum(a, axis=0), a64.sum(0), abs_a.sum(0), 300),
        ("sum axis 1", ops.sum(a, axis=1), a64.sum(1), abs_a.sum(1), 400),
        ("sum", ops.sum(a), a64.sum(), abs_a.sum(), a.size),
        # softmax: a quotient by a sum of 300 positive terms (relative error sqrt(300) EPS32)
        ("softmax axis 0", ops.softmax(a, axis=0), np_softmax(a64, 0), np_softmax(a64, 0), 300),
        # log_softmax = (x - max) - log(sum of 400 terms): the log turns the sum's relative error
        # into an absolute one (terms 1); |want| = |x - max| + log(sum) covers the roundings
        ("log_softmax", ops.log_softmax(a), np_log_softmax(a64), 1.0, 400),
        ("matmul", ops.matmul(a, a.T), a64 @ a64.T, abs_a @ abs_a.T, 400),
    ]
    x3 = rng.normal(size=(8, 64, 96)).astype(np.float32)
    y3 = rng.normal(size=(8, 96, 64)).astype(np.float32)
    x64, y64 = x3.astype(np.float64), y3.astype(np.float64)
    checks += [("batched matmul", ops.matmul(x3, y3), x64 @ y64, np.abs(x64) @ np.abs(y64), 96),
               ("sum axes (0, 2)", ops.sum(x3, axis=(0, 2)), x64.sum((0, 2)), np.abs(x64).sum((0, 2)), 8 * 64)]
    for name, got, want, terms, n in checks:
        assert_float32_close(got, want, terms, n, err_msg=name)


def test_large_inputs_gradients(two_threads):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 400)).astype(np.float32)
    b = rng.normal(size=(400,)).astype(np.float32)
    w = rng.normal(size=(400, 200)).astype(np.float32)
    labels = rng.integers(0, 400, size=300)
    ta, tb, tw = (ops.convert_to_tensor(v) for v in (a, b, w))
    r = rng.normal(size=(300, 400)).astype(np.float32)
    r2 = rng.normal(size=(300, 200)).astype(np.float32)
    with lamina.GradientTape(persistent=True) as tape:
        tape.watch([ta, tb, tw])
        mul = ops.sum(ops.multiply(ta, tb) * r)
        sm = ops.sum(ops.softmax(ta, axis=0) * r)
        lsm = ops.sum(ops.log_softmax(ta) * r)
        mm = ops.sum(ops.matmul(ta, tw) * r2)
        xent = ops.sum(ops.sparse_categorical_crossentropy(labels, ta, from_logits=True))
    a64, b64, w64, r64, r2_64 = (v.astype(np.float64) for v in (a, b, w, r, r2))
    ga, gb = tape.gradient(mul, [ta, tb])
    assert_float32_close(ga, r64 * b64, err_msg="multiply: d/da")
    assert_float32_close(gb, (r64 * a64).sum(0), np.abs(r64 * a64).sum(0), 300, err_msg="multiply: d/db")
    s = np_softmax(a64, 0)
    assert_float32_close(tape.gradient(sm, ta), s * (r64 - (r64 * s).sum(0)),
                         s * (np.abs(r64) + (np.abs(r64) * s).sum(0)), 300, err_msg="softmax")
    s1 = np_softmax(a64, -1)
    assert_float32_close(tape.gradient(lsm, ta), r64 - s1 * r64.sum(1, keepdims=True),
                         np.abs(r64) + s1 * np.abs(r64).sum(1, keepdims=True), 400, err_msg="log_softmax")
    gma, gmw = tape.gradient(mm, [ta, tw])
    assert_float32_close(gma, r2_64 @ w64.T, np.abs(r2_64) @ np.abs(w64.T), 200, err_msg="matmul: d/da")
    assert_float32_close(gmw, a64.T @ r2_64, np.abs(a64.T) @ np.abs(r2_64), 300, err_msg="matmul: d/dw")
    expected = s1.copy()
    expected[np.arange(300), labels] -= 1
    # softmax minus the one-hot label: the softmax's relative error (a sum of 400 positive terms)
    assert_float32_close(tape.gradient(xent, ta), expected, s1, 400, err_msg="cross-entropy")


@pytest.mark.parametrize("m", [1, 3, 7, 8, 13, 32, 95])
def test_small_batch_products_split_across_threads(two_threads, m):
    """Products with few rows and much work split the columns across threads (under 8 rows: Eigen
    on each thread's column block; up to 95: the packed kernel with B read in place, or packed per
    thread when transposed): forward and both gradients against NumPy."""
    rng = np.random.default_rng(m)
    x = rng.normal(size=(m, 784)).astype(np.float32)
    w = rng.normal(size=(784, 515)).astype(np.float32)
    r = rng.normal(size=(m, 515)).astype(np.float32)
    tx, tw = ops.convert_to_tensor(x), ops.convert_to_tensor(w)
    x64, w64, r64 = x.astype(np.float64), w.astype(np.float64), r.astype(np.float64)
    for _ in range(16):  # threads race only now and then: repeat (gx's k = 515 takes two slices)
        with lamina.GradientTape() as tape:
            tape.watch([tx, tw])
            y = ops.matmul(tx, tw)
            loss = ops.sum(y * r)
        gx, gw = tape.gradient(loss, [tx, tw])
        assert_float32_close(y, x64 @ w64, np.abs(x64) @ np.abs(w64), 784, err_msg="x @ w")
        assert_float32_close(gx, r64 @ w64.T, np.abs(r64) @ np.abs(w64.T), 515, err_msg="d/dx")
        assert_float32_close(gw, x64.T @ r64, np.abs(x64.T) @ np.abs(r64), m, err_msg="d/dw")


@pytest.mark.parametrize("h, w, c, kh, kw, f, stride, padding, dilation", [
    (9, 11, 8, 3, 3, 16, 1, "valid", 1),     # window rows of 24 floats packed from the image
    (9, 11, 8, 3, 3, 16, 1, "same", 1),      # border panels through the 6-row im2col
    (12, 10, 16, 3, 3, 32, 2, "same", 1),
    (15, 15, 3, 5, 5, 32, 2, "valid", 1),    # RGB 5x5: 15-float rows, an overlapping last vector
    (10, 10, 32, 3, 3, 20, 1, "valid", 1),   # 20 filters: a partial 16-column panel
    (10, 13, 8, 3, 2, 8, 1, "same", 2),      # dilation: im2col rows
    (7, 7, 8, 7, 7, 8, 1, "valid", 1),       # one output position
    (30, 30, 64, 3, 3, 16, 1, "same", 1),    # K = 576
    (6, 6, 160, 3, 3, 8, 1, "valid", 1),     # K = 1440: deeper than the packed path, im2col + GEMM
])
def test_conv_forward_shapes_against_numpy(h, w, c, kh, kw, f, stride, padding, dilation):
    """The convolution's packing paths (from the image, 6-row im2col, whole im2col) give NumPy's
    numbers, with and without bias and relu, for one image (positions split across threads) and
    several (images across threads)."""
    rng = np.random.default_rng(h * w + c)
    for n in (1, 3):
        x = rng.normal(size=(n, h, w, c)).astype(np.float32)
        k = rng.normal(size=(kh, kw, c, f)).astype(np.float32)
        b = rng.normal(size=(f,)).astype(np.float32)
        got = np.asarray(ops.conv(x, k, strides=stride, padding=padding, dilation_rate=dilation))
        geometry = ((stride, stride), padding, (dilation, dilation))
        want = np_conv(x.astype(np.float64), k.astype(np.float64), None, *geometry)
        terms = np_conv(np.abs(x.astype(np.float64)), np.abs(k.astype(np.float64)), None, *geometry)
        assert_float32_close(got, want, terms, kh * kw * c, err_msg=f"n={n}")
        # bias and relu, applied by the GEMM's tile writes
        got = np.asarray(ops.conv(x, k, bias=b, strides=stride, padding=padding, dilation_rate=dilation,
                                  activation="relu"))
        assert_float32_close(got, np.maximum(want + b, 0), np.where(want + b > 0, terms + np.abs(b), 0),
                             kh * kw * c + 1, err_msg=f"n={n}, bias and relu")


def _np_conv_input_gradient(gy, k, x_shape, strides, padding):
    """d sum(conv(x, k) * gy) / dx: each output position's gy @ k[i, j].T added back at its taps."""
    n, h, w, c = x_shape
    kh, kw = k.shape[:2]
    oh, ow = gy.shape[1:3]
    if padding == "valid":
        pt = pl = 0
    else:
        pt = max((oh - 1) * strides + kh - h, 0) // 2
        pl = max((ow - 1) * strides + kw - w, 0) // 2
    dx = np.zeros((n, h + 2 * kh + strides * oh, w + 2 * kw + strides * ow, c))
    for i in range(kh):
        for j in range(kw):
            dx[:, i:i + (oh - 1) * strides + 1:strides, j:j + (ow - 1) * strides + 1:strides] += gy @ k[i, j].T
    return dx[:, pt:pt + h, pl:pl + w]


@pytest.mark.parametrize("h, w, c, kh, kw, f, stride, padding", [
    (9, 11, 8, 3, 3, 16, 1, "valid"),   # stride 1: dx is a convolution of dy with the flipped kernel
    (9, 11, 8, 3, 3, 16, 1, "same"),
    (12, 10, 16, 5, 5, 32, 1, "same"),
    (10, 10, 32, 3, 3, 20, 1, "valid"),
    (8, 9, 4, 2, 4, 8, 1, "same"),      # even kernel: unequal padding
    (12, 10, 16, 3, 3, 32, 2, "same"),  # strided: col2im
    (40, 40, 32, 3, 3, 32, 1, "same"),  # one image: its positions split across threads
])
def test_conv_input_gradient_shapes_against_numpy(h, w, c, kh, kw, f, stride, padding):
    rng = np.random.default_rng(h * w + c + f)
    for n in (1, 3):
        x = ops.convert_to_tensor(rng.normal(size=(n, h, w, c)).astype(np.float32))
        k = rng.normal(size=(kh, kw, c, f)).astype(np.float32)
        with lamina.GradientTape() as tape:
            tape.watch(x)
            y = ops.conv(x, k, strides=stride, padding=padding)
            gy = rng.normal(size=tuple(y.shape)).astype(np.float32)
            loss = ops.sum(y * gy)
        got = np.asarray(tape.gradient(loss, x))
        gy64, k64 = gy.astype(np.float64), k.astype(np.float64)
        want = _np_conv_input_gradient(gy64, k64, (n, h, w, c), stride, padding)
        terms = _np_conv_input_gradient(np.abs(gy64), np.abs(k64), (n, h, w, c), stride, padding)
        assert_float32_close(got, want, terms, kh * kw * f, err_msg=f"n={n}")


def test_conv_and_pool_parallel_paths_match_one_thread():
    """Large batches take the parallel-over-images paths: with one thread and with two, the forward
    and the convolution's three gradients (from the gradient that reaches its output) give NumPy's
    numbers."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 34, 34, 8)).astype(np.float32)
    k = rng.normal(size=(3, 3, 8, 16)).astype(np.float32) * 0.2
    b = rng.normal(size=(16,)).astype(np.float32)
    r = rng.normal(size=(4, 17, 17, 16)).astype(np.float32)

    def run(threads):
        old = lamina.get_num_threads()
        lamina.set_num_threads(threads)
        try:
            tx, tk, tb = (ops.convert_to_tensor(v) for v in (x, k, b))
            with lamina.GradientTape() as tape:
                tape.watch([tx, tk, tb])
                y = ops.conv(tx, tk, strides=2, padding="same", bias=tb, activation="relu")
                tape.watch(y)
                p = ops.max_pool(ops.average_pool(y, 2, strides=1, padding="same"), 2, strides=1, padding="same")
                loss = ops.sum(p * r)
            return [np.asarray(g) for g in [y] + tape.gradient(loss, [y, tx, tk, tb])]
        finally:
            lamina.set_num_threads(old)

    x64, k64, b64 = x.astype(np.float64), k.astype(np.float64), b.astype(np.float64)
    pre = np_conv(x64, k64, b64, (2, 2), "same")
    pre_terms = np_conv(np.abs(x64), np.abs(k64), np.abs(b64), (2, 2), "same")
    taps, ij = _np_windows(x64, (3, 3), (2, 2), (1, 1), "same", 0.0)  # (9, N, 17, 17, 8)
    for threads in (1, 2):
        y, gy, dx, dk, db = run(threads)
        assert_float32_close(y, np.maximum(pre, 0), np.where(pre > 0, pre_terms, 0), 3 * 3 * 8 + 1,
                             err_msg=f"{threads} threads: y")
        # The conv's backward from the gradient reaching y (through the pools), against NumPy.
        g = np.where(y > 0, gy.astype(np.float64), 0.0)
        positions = g.shape[0] * g.shape[1] * g.shape[2]
        assert_float32_close(db, g.sum((0, 1, 2)), np.abs(g).sum((0, 1, 2)), positions,
                             err_msg=f"{threads} threads: d/db")
        want_dk = np.stack([np.einsum("nhwc,nhwf->cf", t, g) for t in taps]).reshape(k.shape)
        terms_dk = np.stack([np.einsum("nhwc,nhwf->cf", np.abs(t), np.abs(g)) for t in taps]).reshape(k.shape)
        assert [tuple(v) for v in ij] == [(i, j) for i in range(3) for j in range(3)]
        assert_float32_close(dk, want_dk, terms_dk, positions, err_msg=f"{threads} threads: d/dk")
        assert_float32_close(dx, _np_conv_input_gradient(g, k64, x.shape, 2, "same"),
                             _np_conv_input_gradient(np.abs(g), np.abs(k64), x.shape, 2, "same"), 3 * 3 * 16,
                             err_msg=f"{threads} threads: d/dx")
