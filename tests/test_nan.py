"""NaN propagation through every kernel that compares, and pooling cost bounded by the input.

Forward values are checked against NumPy in float64 (NumPy, torch and TensorFlow all propagate NaN
through relu / max / min / maximum / minimum / clip / pooling / softmax); gradients at NaN inputs
against torch's rules, quoted at each test. Each op runs on small inputs and on inputs large enough
for the vectorised and threaded paths (the AVX2 micro-kernel's full and edge tiles, multi-threaded
reductions), with NaN at the first, a middle and the last position of rows and windows.

The same file runs against the portable build (no AVX2: Eigen GEMM, scalar epilogues) as well;
see BUILD_NOTES.md / the report of issue 12 for the command.
"""
import subprocess
import sys
import time

import numpy as np
import pytest

import lamina
from lamina import callbacks, layers, ops

NAN, INF = np.nan, np.inf
RNG = np.random.default_rng(12)


def _np(x):
    return np.asarray(x, dtype=np.float64)


def _same(got, want, rtol=1e-5, atol=1e-5):
    """NaN exactly where `want` has NaN (and inf where it has inf), close values elsewhere."""
    got, want = _np(got), _np(want)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


def _with_nans(shape, positions, rng=RNG):
    """Random float32 values with NaN at the given flat positions."""
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[list(positions)] = NAN
    return x


# ---------------------------------------------------------------- elementwise


@pytest.mark.parametrize("n", [3, 7, 100_003])  # 100_003: threaded map and a vector remainder
def test_relu_keeps_nan(n):
    # the case: relu([nan, -1, 2]) was [0, 0, 2]; NumPy's maximum(x, 0) gives [nan, 0, 2]
    x = _with_nans((n,), [0, n // 2, n - 1])
    x[1] = -1.0
    _same(ops.relu(x), np.maximum(_np(x), 0.0))
    np.testing.assert_array_equal(np.isnan(_np(ops.relu(np.array([NAN, -1, 2], np.float32)))), [True, False, False])


@pytest.mark.parametrize("n", [4, 100_003])
@pytest.mark.parametrize("op,ref", [(ops.maximum, np.maximum), (ops.minimum, np.minimum)])
def test_maximum_minimum_keep_nan_in_either_operand(op, ref, n):
    a = _with_nans((n,), [0, n - 1])
    b = _with_nans((n,), [1, n // 2])
    _same(op(a, b), ref(_np(a), _np(b)))
    _same(op(b, a), ref(_np(b), _np(a)))
    # broadcast against a scalar NaN and a NaN row
    _same(op(a, np.float32(NAN)), ref(_np(a), NAN))
    m = _with_nans((3, 5), [2, 7, 14])
    row = np.array([NAN, 0, 1, -1, 2], np.float32)
    _same(op(m, row), ref(_np(m), _np(row)))


def test_maximum_minimum_of_ints_unchanged():
    a, b = np.array([1, 5, -3], np.int32), np.array([2, 4, -3], np.int32)
    np.testing.assert_array_equal(np.asarray(ops.maximum(a, b)), np.maximum(a, b))
    np.testing.assert_array_equal(np.asarray(ops.minimum(a, b)), np.minimum(a, b))


def test_clip_keeps_nan():
    x = _with_nans((50,), [0, 25, 49])
    _same(ops.clip(x, -0.5, 0.5), np.clip(_np(x), -0.5, 0.5))


def test_sign_of_nan_is_nan():
    # NumPy: sign(nan) is nan (lamina gave 0)
    x = np.array([NAN, -2.0, 0.0, 3.0], np.float32)
    _same(ops.sign(x), np.sign(_np(x)), rtol=0, atol=0)


@pytest.mark.parametrize("op", ["leaky_relu", "elu", "selu", "softplus", "gelu", "silu", "sigmoid", "tanh"])
def test_other_activations_keep_nan(op):
    x = np.array([NAN, -3.0, -0.5, 0.0, 0.5, 3.0, 30.0], np.float32)
    y = _np(getattr(ops, op)(x))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))


# ---------------------------------------------------------------- reductions


@pytest.mark.parametrize("n", [1, 3, 8, 9, 17, 100_003])  # < one lane group, lanes + tail, threaded
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_of_a_vector_with_nan(name, where, n):
    pos = {"first": 0, "middle": n // 2, "last": n - 1}[where]
    x = _with_nans((n,), [pos])
    got = _np(getattr(ops, name)(x))
    assert np.isnan(got), (name, where, n, got)  # was the max of the other values, or -inf for [nan]


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_without_nan_and_with_inf(name):
    x = RNG.standard_normal(1001).astype(np.float32)
    ref = getattr(np, name)
    _same(getattr(ops, name)(x), ref(_np(x)), rtol=0, atol=0)
    x[500] = INF
    x[3] = -INF
    _same(getattr(ops, name)(x), ref(_np(x)), rtol=0, atol=0)
    _same(getattr(ops, name)(np.array([-INF, -INF], np.float32)), -INF, rtol=0, atol=0)


@pytest.mark.parametrize("shape,axis", [
    ((7, 13), 1), ((7, 13), 0), ((300, 2000), 1), ((2000, 300), 0),  # rows / strided, threaded
    ((4, 5, 6, 3), (1, 2)), ((16, 32, 32, 64), (1, 2)),  # global max pooling
    ((3, 4, 5), (0, 2)), ((3, 4, 5), None)])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_along_axes_with_nan(name, shape, axis):
    size = int(np.prod(shape))
    x = _with_nans(shape, [0, size // 2 + 1, size - 1, size // 3])
    ref = getattr(np, name)
    _same(getattr(ops, name)(x, axis=axis), ref(_np(x), axis=axis), rtol=0, atol=0)
    _same(getattr(ops, name)(x, axis=axis, keepdims=True), ref(_np(x), axis=axis, keepdims=True), rtol=0, atol=0)


def test_global_max_pooling_keeps_nan():
    x = _with_nans((4, 6, 6, 8), [5, 300, 4 * 6 * 6 * 8 - 1])
    _same(layers.GlobalMaxPooling2D()(x), np.max(_np(x), axis=(1, 2)), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_index_the_first_nan(name):
    # NumPy: "In case of multiple occurrences of the maximum values [...] NaN values are propagated":
    # the index of the first NaN
    x = np.array([[1, NAN, 3, NAN], [5, 4, 3, 2], [NAN, 1, 2, 3], [1, 2, 3, NAN]], np.float32)
    ref = getattr(np, name)
    np.testing.assert_array_equal(np.asarray(getattr(ops, name)(x, axis=1)), ref(x, axis=1))
    np.testing.assert_array_equal(np.asarray(getattr(ops, name)(x, axis=0)), ref(x, axis=0))
    assert int(getattr(ops, name)(x)) == int(ref(x))


# ---------------------------------------------------------------- softmax family


def _np_softmax(x, axis=-1):
    x = _np(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(x, axis=-1):
    x = _np(x)
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


SOFTMAX_ROWS = np.array([
    [1.0, 2.0, 3.0, 4.0],
    [INF, 1.0, 2.0, 3.0],      # NumPy / torch: all NaN (lamina gave [nan, 0, 0, 0])
    [1.0, NAN, 2.0, 3.0],
    [-INF, 1.0, 2.0, 3.0],     # finite: the -inf gets 0 / -inf
    [-INF, -INF, -INF, -INF],  # all NaN (0 / 0)
    [1.0, 2.0, 3.0, INF],
], np.float32)


@pytest.mark.parametrize("op,ref", [(ops.softmax, _np_softmax), (ops.log_softmax, _np_log_softmax)])
def test_softmax_with_inf_and_nan_as_numpy(op, ref):
    with np.errstate(invalid="ignore", divide="ignore"):
        _same(op(SOFTMAX_ROWS), ref(SOFTMAX_ROWS))
        _same(op(SOFTMAX_ROWS.T, axis=0), ref(SOFTMAX_ROWS.T, axis=0))  # strided (inner > 1)
        big = np.tile(SOFTMAX_ROWS, (2000, 1))  # threaded
        _same(op(big), ref(big))


def test_sparse_crossentropy_from_logits_with_inf_and_nan():
    labels = np.array([3, 1, 0, 2, 0, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        want = -_np_log_softmax(SOFTMAX_ROWS)[np.arange(6), labels]
    got = ops.sparse_categorical_crossentropy(labels, SOFTMAX_ROWS, from_logits=True)
    _same(got, want)
    assert np.isnan(_np(got)[[1, 2, 4, 5]]).all()


# ---------------------------------------------------------------- pooling


def _np_pool(x, k, s, padding, reduce):
    """Reference 2-D pooling in float64 (NHWC, windows clipped to the image as Keras's "same")."""
    x = _np(x)
    n, h, w, c = x.shape
    if padding == "valid":
        oh, ow, pt, pl = (h - k) // s + 1, (w - k) // s + 1, 0, 0
    else:
        oh, ow = -(-h // s), -(-w // s)
        pt, pl = max((oh - 1) * s + k - h, 0) // 2, max((ow - 1) * s + k - w, 0) // 2
    out = np.empty((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s - pt, j * s - pl
            win = x[:, max(h0, 0):min(h0 + k, h), max(w0, 0):min(w0 + k, w), :]
            out[:, i, j, :] = reduce(win, axis=(1, 2))
    return out


@pytest.mark.parametrize("shape", [(1, 3, 3, 1), (2, 9, 9, 5), (8, 24, 24, 64)])
@pytest.mark.parametrize("tap", [0, 4, 8])  # first, middle and last position of a 3x3 window
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pool_nan_anywhere_in_the_window(shape, tap, padding):
    # the issue: a NaN that is not the window's first tap was dropped
    x = RNG.standard_normal(shape).astype(np.float32)
    i, j = divmod(tap, 3)
    x[0, i, j, 0] = NAN  # in the first window
    if shape[1] >= 6:  # and in a window of the last image that is not the first
        x[-1, 3 + i, 3 + j, shape[3] - 1] = NAN
    _same(ops.max_pool(x, 3, 3, padding), _np_pool(x, 3, 3, padding, np.max), rtol=0, atol=0)
    _same(ops.max_pool(x, 3, 1, padding), _np_pool(x, 3, 1, padding, np.max), rtol=0, atol=0)
    _same(ops.average_pool(x, 3, 1, padding), _np_pool(x, 3, 1, padding, np.mean), rtol=1e-5)
    assert np.isnan(_np(layers.MaxPooling2D(3, padding=padding)(x))[0, 0, 0, 0])


def test_max_pool_gradient_goes_to_the_nan():
    # torch's max_pool2d takes a NaN (`val > maxval || isnan(val)`): the gradient goes to it
    x = np.array([1, NAN, 3, 2], np.float32).reshape(1, 2, 2, 1)
    v = lamina.Variable(x)
    with lamina.GradientTape() as tape:
        y = ops.sum(ops.max_pool(v, 2))
    np.testing.assert_array_equal(_np(tape.gradient(y, v)).ravel(), [0, 1, 0, 0])


# ---------------------------------------------------------------- fused Dense / Conv relu


@pytest.mark.parametrize("rows,units", [(3, 5), (12, 32), (13, 37), (200, 64)])  # Eigen; full tiles; edges; threaded
def test_dense_relu_keeps_nan(rows, units):
    x = RNG.standard_normal((rows, 11)).astype(np.float32)
    x[rows // 2, 4] = NAN
    k = RNG.standard_normal((11, units)).astype(np.float32)
    b = RNG.standard_normal(units).astype(np.float32)
    want = np.maximum(_np(x) @ _np(k) + _np(b), 0.0)
    _same(ops.dense(x, k, b, "relu"), want, rtol=1e-4, atol=1e-4)
    assert np.isnan(_np(ops.dense(x, k, b, "relu"))[rows // 2]).all()
    b[units - 1] = NAN  # a NaN bias: its column is NaN
    _same(ops.dense(x, k, b, "relu"), np.maximum(_np(x) @ _np(k) + _np(b), 0.0), rtol=1e-4, atol=1e-4)


def _np_conv(x, k, b, padding):
    x, k = _np(x), _np(k)
    kh, kw = k.shape[:2]
    if padding == "same":
        x = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    out = np.zeros((n, oh, ow, k.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,cf->nhwf", x[:, i:i + oh, j:j + ow, :], k[i, j])
    return out + _np(b)


@pytest.mark.parametrize("n,hw,c,f", [(1, 6, 3, 4), (2, 12, 4, 32), (2, 13, 8, 20), (4, 20, 16, 48)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_relu_keeps_nan(n, hw, c, f, padding):
    # the packed convolution GEMM applies bias and relu in its tile writes (_mm256_max_ps returns
    # its second operand when either is NaN: the order matters); other shapes take im2col + GEMM
    x = RNG.standard_normal((n, hw, hw, c)).astype(np.float32)
    x[0, 0, 0, 0] = NAN
    x[n - 1, hw // 2, hw // 2, c - 1] = NAN
    k = (RNG.standard_normal((3, 3, c, f)) / np.sqrt(9 * c)).astype(np.float32)
    b = RNG.standard_normal(f).astype(np.float32)
    want = np.maximum(_np_conv(x, k, b, padding), 0.0)
    got = ops.conv(x, k, padding=padding, bias=b, activation="relu")
    _same(got, want, rtol=1e-4, atol=1e-4)
    assert np.isnan(_np(got)).sum() >= 2 * f
    one = ops.conv(x, k[:1, :1], padding=padding, bias=b, activation="relu")  # 1x1: GEMM + epilogue
    _same(one, np.maximum(_np_conv(x, k[:1, :1], b, padding), 0.0), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- gradients at NaN (torch's rules)


def _grad(fn, *values):
    vs = [lamina.Variable(np.asarray(v, np.float32)) for v in values]
    with lamina.GradientTape() as tape:
        y = ops.sum(fn(*vs))
    g = tape.gradient(y, vs)
    return [_np(t) for t in g]


def test_relu_gradient_passes_at_nan():
    # torch: relu's backward is threshold_backward(g, y, 0) = (y <= 0 ? 0 : g): g at a NaN
    (g,) = _grad(ops.relu, [NAN, -1, 2, 0])
    np.testing.assert_array_equal(g, [1, 0, 1, 0])
    x = np.array([[NAN, 1.0], [-1.0, 2.0]], np.float32)
    k = np.eye(2, dtype=np.float32)
    gx, _ = _grad(lambda a, w: ops.dense(a, w, None, "relu"), x, k)
    np.testing.assert_array_equal(gx, [[1, 1], [0, 1]])


def test_conv_relu_gradient_passes_at_nan_outputs():
    # torch's rule for the fused relu too: dK = sum over positions of window * g', g' = g where the
    # output is > 0 or NaN. The NaN at (2, 2) is in every 3x3 window, so every output is NaN and
    # g' = 1 everywhere (it was 0: dK's channel 0 came out 0 instead of the window sums)
    x = RNG.standard_normal((1, 5, 5, 2)).astype(np.float32)
    x[0, 2, 2, 1] = NAN
    k = RNG.standard_normal((3, 3, 2, 16)).astype(np.float32)
    _, gk = _grad(lambda a, w: ops.conv(a, w, activation="relu"), x, k)
    win = np.array([[_np(x)[0, i:i + 3, j:j + 3, :].sum(axis=(0, 1)) for j in range(3)] for i in range(3)])
    # win[i, j, c] = sum over outputs of x[output + (i, j), c] (the sums of 3x3 blocks, shifted)
    want = np.repeat(win[:, :, :, None], 16, axis=3)
    _same(gk, want, rtol=1e-5)
    assert np.isnan(gk[:, :, 1]).all() and np.isfinite(gk[:, :, 0]).all()


def test_maximum_minimum_gradient_at_nan_goes_to_both():
    # torch: maximum's backward masks self by (self < other) and other by (self > other), both false
    # at a NaN, so both inputs get the gradient; elsewhere lamina gives ties to the first operand
    a, b = [NAN, 1.0, 2.0, 3.0], [1.0, NAN, 2.0, 1.0]
    ga, gb = _grad(ops.maximum, a, b)
    np.testing.assert_array_equal(ga, [1, 1, 1, 1])
    np.testing.assert_array_equal(gb, [1, 1, 0, 0])
    ga, gb = _grad(ops.minimum, a, b)
    np.testing.assert_array_equal(ga, [1, 1, 1, 0])
    np.testing.assert_array_equal(gb, [1, 1, 0, 1])


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_gradient_goes_to_the_nans(name):
    # torch.max()'s backward (evenly_distribute_backward) sends the gradient to the NaNs when the
    # result is NaN; it was NaN everywhere here (0 * g / 0)
    (g,) = _grad(lambda v: getattr(ops, name)(v, axis=1), [[1, NAN, 3, NAN], [1, 2, 3, 4]])
    want_row1 = [0, 0, 0, 1] if name == "max" else [1, 0, 0, 0]
    np.testing.assert_array_equal(g, [[0, 0.5, 0, 0.5], want_row1])


@pytest.mark.parametrize("op", ["elu", "selu"])
def test_elu_gradient_at_nan_as_torch(op):
    # torch's elu_backward: x <= 0 ? g * negcoef * exp(x) : g * poscoef (NaN takes the second)
    (g,) = _grad(getattr(ops, op), [NAN, 1.0])
    scale = 1.0507009873554805 if op == "selu" else 1.0
    np.testing.assert_allclose(g, [scale, scale], rtol=1e-6)


# ---------------------------------------------------------------- end to end


def _nan_model(conv):
    lamina.utils.set_random_seed(0)
    if conv:
        net = [lamina.Input((6, 6, 2)), layers.Conv2D(16, 3, activation="relu", padding="same"),
               layers.MaxPooling2D(2), layers.Conv2D(8, 3, activation="relu"), layers.GlobalMaxPooling2D(),
               layers.Dense(1)]
    else:
        net = [lamina.Input((4,)), layers.Dense(32, activation="relu"), layers.Dense(1)]
    model = lamina.Sequential(net)
    model.compile(lamina.optimizers.SGD(0.01), "mse")
    return model


@pytest.mark.parametrize("conv", [False, True])
def test_fit_with_a_nan_sample_stops_on_nan(conv, capsys):
    # Keras (any backend): the batch holding the NaN sample has a NaN loss and TerminateOnNaN
    # stops there. lamina reported a finite loss while the weights became NaN (fused relu).
    model = _nan_model(conv)
    shape = (32, 6, 6, 2) if conv else (32, 4)
    x = RNG.standard_normal(shape).astype(np.float32)
    y = RNG.standard_normal((32, 1)).astype(np.float32)
    x[20].reshape(-1)[1] = NAN  # batch 2 of 8
    seen = []
    batches = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN(), batches])
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"
    assert seen == [0, 1, 2] and len(history.history["loss"]) == 1
    assert np.isnan(history.history["loss"][0])


@pytest.mark.parametrize("conv", [False, True])
def test_predict_on_a_nan_row_is_nan(conv):
    model = _nan_model(conv)
    shape = (40, 6, 6, 2) if conv else (40, 4)
    x = RNG.standard_normal(shape).astype(np.float32)
    x[7].reshape(-1)[0] = NAN
    x[39].reshape(-1)[-1] = NAN
    p = model.predict(x, verbose=0)
    assert np.isnan(p[[7, 39]]).all() and np.isfinite(np.delete(p, [7, 39], axis=0)).all()


# ---------------------------------------------------------------- huge pooling windows


def test_same_pooling_with_a_window_of_2_40_takes_one_pass():
    # The issue: pool_size 2**40 with "same" padding took time linear in the window (days here).
    # Run in a subprocess with a timeout, so that a regression fails instead of hanging the suite.
    code = (
        "import numpy as np\n"
        "from lamina import layers, ops\n"
        "x = np.random.rand(2, 5, 7, 3).astype('float32')\n"
        "for p in (2 ** 40, 2 ** 62, (3, 2 ** 40)):\n"
        "    for op in (ops.max_pool, ops.average_pool):\n"
        "        assert op(x, p, strides=1, padding='same').shape == x.shape\n"
        "# the layers refuse sizes past lamina.utils.limits.MAX_DIMENSION (2**31 - 1): the largest they take\n"
        "for p in (2 ** 31 - 1, (3, 2 ** 31 - 1)):\n"
        "    assert layers.MaxPooling2D(p, strides=1, padding='same')(x).shape == x.shape\n"
        "    ph, pw = (p, p) if isinstance(p, int) else p\n"
        "    want = (2, -(-5 // ph), -(-7 // pw), 3)\n"
        "    assert layers.AveragePooling2D(p, padding='same')(x).shape == want\n")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert time.perf_counter() - start < 60


# 2**20: as huge as 2**40 for an image of 5x7 once windows are clipped (and finite before the fix)
@pytest.mark.parametrize("pool", [2 ** 20, (3, 2 ** 20), (2 ** 20, 2)])
def test_same_pooling_with_a_huge_window_is_correct(pool):
    # "same" padding with a window far larger than the image: each window is clipped to the image
    # and the padding is not counted (as Keras), forward and backward
    x = _with_nans((2, 5, 7, 3), [])
    x[1, 4, 6, 2] = NAN
    ph, pw = (pool, pool) if isinstance(pool, int) else pool
    for op, ref in [(ops.max_pool, np.max), (ops.average_pool, np.mean)]:
        got = _np(op(x, pool, strides=1, padding="same"))
        assert got.shape == (2, 5, 7, 3)
        for i in range(5):
            for j in range(7):
                rows = slice(None) if ph > 5 else slice(max(i - (ph - 1) // 2, 0), i + ph // 2 + 1)
                cols = slice(None) if pw > 7 else slice(max(j - (pw - 1) // 2, 0), j + pw // 2 + 1)
                _same(got[:, i, j], ref(_np(x)[:, rows, cols], axis=(1, 2)), rtol=1e-5)
        v = lamina.Variable(x)
        with lamina.GradientTape() as tape:
            y = ops.sum(op(v, pool, strides=1, padding="same"))
        assert tape.gradient(y, v).shape == x.shape


def test_avg_pool_gradient_with_a_huge_window():
    # every output averages the whole 3x4 image, so each input gets (outputs) / 12
    x = RNG.standard_normal((1, 3, 4, 2)).astype(np.float32)
    (g,) = _grad(lambda v: ops.average_pool(v, 2 ** 20, strides=1, padding="same"), x)
    np.testing.assert_allclose(g, np.ones_like(x), rtol=1e-5)
    (g,) = _grad(lambda v: ops.average_pool(v, 2 ** 20, strides=2 ** 40, padding="same"), x)
    np.testing.assert_allclose(g, np.full_like(x, 1 / 12), rtol=1e-5)


def test_amsgrad_running_maximum_keeps_nan():
    # torch's Adam(amsgrad=True): max_exp_avg_sq = torch.maximum(max_exp_avg_sq, exp_avg_sq), NaN
    # kept; the fused kernel's std::max(vhat, v) returned the old finite vhat
    opt = lamina.optimizers.Adam(0.1, amsgrad=True)
    w = lamina.Variable(np.ones(10, np.float32))
    opt.apply_gradients([(np.ones(10, np.float32), w)])
    g = np.ones(10, np.float32)
    g[3] = NAN
    opt.apply_gradients([(g, w)])
    slots = [v for v in opt.variables if _np(v.value).ndim]  # the slots of w, not the counters
    assert sorted(v.name.rsplit("_", 2)[-1] for v in slots) == ["hat", "momentum", "velocity"]
    for s in (_np(v.value) for v in slots):
        np.testing.assert_array_equal(np.isnan(s), np.arange(10) == 3)
    np.testing.assert_array_equal(np.isnan(_np(w.value)), np.arange(10) == 3)
