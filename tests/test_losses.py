"""Losses: every loss and option against a float64 NumPy reference of Keras's formulas and against the
values Keras 3.15.1 (torch backend) gives for the same inputs; gradients w.r.t. y_pred against
central finite differences of the reference; shapes, reductions, sample weights, lookup by name,
configs and errors."""
import math
import zlib

import numpy as np
import pytest

import lamina
from lamina import losses, ops

EPS = 1e-7


# ---------------------------------------------------------------- NumPy reference (float64)


def soe(x1, x2, expand_rank_1=True):
    """Keras's squeeze_or_expand_to_same_rank on arrays."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def clip(p):
    # the float32 bounds Keras's float32 clip uses
    return np.clip(p, np.float32(EPS), np.float32(1 - EPS))


def ref_mse(t, p):
    return np.mean((t - p) ** 2, axis=-1)


def ref_mae(t, p):
    return np.mean(np.abs(t - p), axis=-1)


def ref_huber(t, p, delta=1.0):
    e = p - t
    a = np.abs(e)
    return np.mean(np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta), axis=-1)


def ref_bce(t, p, from_logits=False, label_smoothing=0.0, axis=-1):
    if label_smoothing:
        t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        el = np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))
    else:
        q = clip(p)
        el = -(t * np.log(q) + (1 - t) * np.log(1 - q))
    return np.mean(el, axis=axis)


def log_softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def ref_cce(t, p, from_logits=False, label_smoothing=0.0, axis=-1):
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / t.shape[-1]
    if from_logits:
        lp = log_softmax(p, axis)
    else:
        lp = np.log(clip(p / np.sum(p, axis=axis, keepdims=True)))
    return -np.sum(t * lp, axis=axis)


def ref_scce(t, p, from_logits=False, ignore_class=None, axis=-1):
    t = np.asarray(t)
    if t.ndim == p.ndim and t.shape[axis] == 1:
        t = np.squeeze(t, axis)
    valid = np.ones(t.shape, bool) if ignore_class is None else t != ignore_class
    lab = np.where(valid, t, 0).astype(np.int64)
    q = np.moveaxis(p, axis, -1)
    lp = log_softmax(q, -1) if from_logits else np.log(clip(q / q.sum(-1, keepdims=True)))
    res = -np.take_along_axis(lp, lab[..., None], -1)[..., 0]
    return np.where(valid, res, 0.0), (None if ignore_class is None else valid)


REF_FNS = {"MeanSquaredError": ref_mse, "MeanAbsoluteError": ref_mae, "Huber": ref_huber,
           "BinaryCrossentropy": ref_bce, "CategoricalCrossentropy": ref_cce}
FN_ARGS = {"Huber": ("delta",), "BinaryCrossentropy": ("from_logits", "label_smoothing", "axis"),
           "CategoricalCrossentropy": ("from_logits", "label_smoothing", "axis"),
           "SparseCategoricalCrossentropy": ("from_logits", "ignore_class", "axis")}


def ref_loss(cls, kwargs, t, p, sw):
    """A Keras loss object's value: wrapper's squeeze/expand, per-sample fn, weighting, reduction."""
    reduction = kwargs.get("reduction", "sum_over_batch_size")
    fn_kwargs = {k: v for k, v in kwargs.items() if k in FN_ARGS.get(cls, ())}
    t = np.asarray(t, np.float64)
    t, p = soe(t, p)
    mask = None
    if cls == "SparseCategoricalCrossentropy":
        values, mask = ref_scce(t, p, **fn_kwargs)
    else:
        values = REF_FNS[cls](t, p, **fn_kwargs)
    if mask is not None:
        if reduction in ("mean", "sum_over_batch_size"):
            fm = np.where(mask, mask.size / max(mask.sum(), 1), 0.0)
        else:
            fm = mask.astype(np.float64)
        if sw is None:
            sw = fm
        else:
            fm, sw = soe(fm, np.asarray(sw, np.float64))
            sw = sw * fm
    if sw is not None:
        sw = np.asarray(sw, np.float64)
        values, sw = soe(values, sw)
        values = values * sw
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sw is not None:
        return total / sw.sum()
    return total / values.size


# ---------------------------------------------------------------- cases


def _rng(case_id):
    return np.random.default_rng(zlib.crc32(case_id.encode()))


def f32(a):
    return np.asarray(a, np.float32).astype(np.float64)


def normal(*shape, scale=1.0):
    return lambda r: f32(r.normal(0, scale, shape))


def probs(*shape, lo=0.05, hi=0.95):
    return lambda r: f32(r.uniform(lo, hi, shape))


def bits(*shape):
    return lambda r: r.integers(0, 2, shape).astype(np.float32)


def onehot(*shape):
    def gen(r):
        k = shape[-1]
        return np.eye(k, dtype=np.float32)[r.integers(0, k, shape[:-1])]
    return gen


def labels(*shape, classes, dtype=np.int64):
    return lambda r: r.integers(0, classes, shape).astype(dtype)


def weights(*shape):
    return lambda r: f32(r.uniform(0.1, 2.0, shape))


def const(v):
    return lambda r: v


LABELS_2D = np.array([[0, 1, 2, 0], [3, 0, 0, 1], [2, 2, 0, 3]])  # 3 samples of 4 labels each

# id: (class, kwargs, y_true, y_pred, sample_weight or None)
CASES = {
    "mse_2d": ("MeanSquaredError", {}, normal(4, 3), normal(4, 3), None),
    "mse_sw": ("MeanSquaredError", {}, normal(4, 3), normal(4, 3), weights(4)),
    "mse_sw_col": ("MeanSquaredError", {}, normal(4, 3), normal(4, 3), weights(4, 1)),
    "mse_sum": ("MeanSquaredError", {"reduction": "sum"}, normal(4, 3), normal(4, 3), weights(4)),
    "mse_none": ("MeanSquaredError", {"reduction": None}, normal(4, 3), normal(4, 3), weights(4)),
    "mse_mean": ("MeanSquaredError", {"reduction": "mean"}, normal(4, 3), normal(4, 3), None),
    "mse_mean_sw": ("MeanSquaredError", {"reduction": "mean_with_sample_weight"}, normal(4, 3),
                    normal(4, 3), weights(4)),
    "mse_b_vs_b1": ("MeanSquaredError", {}, normal(5), normal(5, 1), None),
    "mse_b1_vs_b": ("MeanSquaredError", {}, normal(5, 1), normal(5), weights(5)),
    "mse_1d": ("MeanSquaredError", {}, normal(5), normal(5), None),
    "mse_3d_sw": ("MeanSquaredError", {}, normal(2, 3, 4), normal(2, 3, 4), weights(2, 3)),
    "mse_3d_squeeze": ("MeanSquaredError", {}, normal(2, 3, 1), normal(2, 3), None),
    "mae_2d": ("MeanAbsoluteError", {}, normal(4, 3), normal(4, 3), None),
    "mae_sw": ("MeanAbsoluteError", {}, normal(4, 3), normal(4, 3), weights(4)),
    "mae_sum": ("MeanAbsoluteError", {"reduction": "sum"}, normal(6, 2), normal(6, 2), None),
    "mae_b_vs_b1": ("MeanAbsoluteError", {}, normal(5), normal(5, 1), weights(5)),
    "huber": ("Huber", {}, normal(4, 5), normal(4, 5, scale=2.0), None),
    "huber_delta": ("Huber", {"delta": 0.5}, normal(4, 5), normal(4, 5), weights(4)),
    "huber_none": ("Huber", {"delta": 2.0, "reduction": None}, normal(3, 4), normal(3, 4, scale=3.0), None),
    "bce_probs": ("BinaryCrossentropy", {}, bits(4, 3), probs(4, 3), None),
    "bce_probs_sw": ("BinaryCrossentropy", {}, bits(4, 3), probs(4, 3), weights(4)),
    "bce_probs_clipped": ("BinaryCrossentropy", {}, const(np.array([[0., 1., 1.], [1., 0., 0.]], np.float32)),
                          const(np.array([[0., 1., 0.], [1e-9, 1.0, 0.5]])), None),
    "bce_logits": ("BinaryCrossentropy", {"from_logits": True}, bits(4, 3), normal(4, 3, scale=3.0), None),
    "bce_logits_large": ("BinaryCrossentropy", {"from_logits": True},
                         const(np.array([[0., 1., 1., 0.], [1., 0., 1., 0.]], np.float32)),
                         const(np.array([[-60., 60., -40., 35.], [80., -90., 0., 0.]])), None),
    "bce_logits_smooth": ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, bits(4, 3),
                          normal(4, 3, scale=3.0), weights(4)),
    "bce_probs_smooth": ("BinaryCrossentropy", {"label_smoothing": 0.1}, bits(4, 3), probs(4, 3), None),
    "bce_b_vs_b1": ("BinaryCrossentropy", {}, bits(6), probs(6, 1), None),
    "bce_b_vs_b1_logits": ("BinaryCrossentropy", {"from_logits": True}, bits(6), normal(6, 1), weights(6)),
    "bce_1d": ("BinaryCrossentropy", {}, bits(6), probs(6), None),
    "bce_axis0": ("BinaryCrossentropy", {"axis": 0}, bits(4, 3), probs(4, 3), None),
    "bce_sum": ("BinaryCrossentropy", {"reduction": "sum"}, bits(4, 3), probs(4, 3), weights(4)),
    "bce_none": ("BinaryCrossentropy", {"from_logits": True, "reduction": None}, bits(4, 3),
                 normal(4, 3), None),
    "cce_probs": ("CategoricalCrossentropy", {}, onehot(5, 4), probs(5, 4), None),
    "cce_probs_doc": ("CategoricalCrossentropy", {},
                      const(np.array([[0, 1, 0], [0, 0, 1]], np.float32)),
                      const(np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), const(np.array([0.3, 0.7]))),
    "cce_soft": ("CategoricalCrossentropy", {}, probs(5, 4), probs(5, 4), weights(5)),
    "cce_logits": ("CategoricalCrossentropy", {"from_logits": True}, onehot(5, 4), normal(5, 4, scale=3.0), None),
    "cce_logits_smooth": ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
                          onehot(5, 4), normal(5, 4), weights(5)),
    "cce_probs_smooth": ("CategoricalCrossentropy", {"label_smoothing": 0.3}, onehot(5, 4), probs(5, 4), None),
    "cce_axis1": ("CategoricalCrossentropy", {"from_logits": True, "axis": 1}, onehot(2, 4, 3),
                  normal(2, 4, 3), None),
    "cce_3d_sw": ("CategoricalCrossentropy", {}, onehot(2, 3, 4), probs(2, 3, 4), weights(2, 3)),
    "cce_sum": ("CategoricalCrossentropy", {"from_logits": True, "reduction": "sum"}, onehot(5, 4),
                normal(5, 4), None),
    "scce_probs": ("SparseCategoricalCrossentropy", {}, labels(5, classes=4), probs(5, 4), None),
    "scce_probs_doc": ("SparseCategoricalCrossentropy", {}, const(np.array([1, 2])),
                       const(np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), None),
    "scce_logits": ("SparseCategoricalCrossentropy", {"from_logits": True}, labels(6, classes=5),
                    normal(6, 5, scale=3.0), None),
    "scce_logits_sw": ("SparseCategoricalCrossentropy", {"from_logits": True}, labels(6, classes=5),
                       normal(6, 5), weights(6)),
    "scce_labels_col": ("SparseCategoricalCrossentropy", {"from_logits": True}, labels(6, 1, classes=5),
                        normal(6, 5), weights(6, 1)),
    "scce_float_labels": ("SparseCategoricalCrossentropy", {}, labels(6, classes=3, dtype=np.float32),
                          probs(6, 3), None),
    "scce_3d": ("SparseCategoricalCrossentropy", {"from_logits": True}, labels(2, 3, classes=4),
                normal(2, 3, 4), weights(2, 3)),
    "scce_axis1": ("SparseCategoricalCrossentropy", {"from_logits": True, "axis": 1}, labels(2, 3, classes=4),
                   normal(2, 4, 3), None),
    "scce_ignore": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": -1},
                    const(np.array([0, -1, 2, 1, -1, 3])), normal(6, 4), None),
    "scce_ignore_sw": ("SparseCategoricalCrossentropy", {"ignore_class": 2},
                       const(np.array([0, 2, 1, 1, 2, 0])), probs(6, 3), weights(6)),
    "scce_ignore_sum": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0,
                                                          "reduction": "sum"},
                        const(np.array([0, 1, 2, 1])), normal(4, 3), None),
    "scce_ignore_none": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0,
                                                           "reduction": None},
                         const(np.array([0, 1, 2, 1])), normal(4, 3), None),
    "scce_sum": ("SparseCategoricalCrossentropy", {"from_logits": True, "reduction": "sum"},
                 labels(6, classes=5), normal(6, 5), weights(6)),
    # ignore_class with labels of rank >= 2 (a sequence per sample): the mean reductions divide by
    # the number of valid labels in the whole mask (Keras's apply_mask counts `mask.size`, not the
    # batch size `mask.shape[0]`, which these cases would tell apart).
    "scce_ignore_2d": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0},
                       const(LABELS_2D), normal(3, 4, 5), None),
    "scce_ignore_2d_probs": ("SparseCategoricalCrossentropy", {"ignore_class": 2}, const(LABELS_2D),
                             probs(3, 4, 4), None),
    "scce_ignore_2d_mean": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0,
                                                              "reduction": "mean"},
                            const(LABELS_2D), normal(3, 4, 5), None),
    "scce_ignore_2d_sw": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0},
                          const(LABELS_2D), normal(3, 4, 5), weights(3, 4)),
    "scce_ignore_2d_sum": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0,
                                                             "reduction": "sum"},
                           const(LABELS_2D), normal(3, 4, 5), weights(3, 4)),
    "scce_ignore_2d_mean_sw": ("SparseCategoricalCrossentropy",
                               {"from_logits": True, "ignore_class": 0, "reduction": "mean_with_sample_weight"},
                               const(LABELS_2D), normal(3, 4, 5), weights(3, 4)),
    "scce_ignore_2d_none": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0,
                                                              "reduction": None},
                            const(LABELS_2D), normal(3, 4, 5), weights(3, 4)),
    "scce_ignore_3d": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 1},
                       labels(2, 3, 4, classes=3), normal(2, 3, 4, 3), None),
    "scce_ignore_2d_all": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0},
                           const(np.zeros((2, 3), np.int64)), normal(2, 3, 4), None),
}


def case_inputs(case_id):
    cls, kwargs, gt, gp, gw = CASES[case_id]
    r = _rng(case_id)
    t, p = gt(r), gp(r)
    sw = gw(r) if gw is not None else None
    return cls, kwargs, t, np.asarray(p, np.float64), sw


# Keras 3.15.1 (torch backend), float32: keras.losses.<class>(**kwargs)(y_true, y_pred, sample_weight)
# for the inputs above (tests/test_losses.py's case_inputs), printed with repr().
KERAS = {
    "bce_1d": 0.8792641758918762,
    "bce_axis0": 0.7483609318733215,
    "bce_b_vs_b1": 0.652499794960022,
    "bce_b_vs_b1_logits": 1.0791305303573608,
    "bce_logits": 1.4865604639053345,
    "bce_logits_large": 9.548286437988281,
    "bce_logits_smooth": 1.553529977798462,
    "bce_none": [0.8158969283103943, 0.5318906903266907, 0.9547638297080994, 1.0001312494277954],
    "bce_probs": 1.1224474906921387,
    "bce_probs_clipped": 8.145286560058594,
    "bce_probs_smooth": 1.0050146579742432,
    "bce_probs_sw": 1.107433557510376,
    "bce_sum": 4.002579689025879,
    "cce_3d_sw": 1.6860874891281128,
    "cce_axis1": 2.590514898300171,
    "cce_logits": 2.297945499420166,
    "cce_logits_smooth": 0.9739869832992554,
    "cce_probs": 1.2561185359954834,
    "cce_probs_doc": 0.8135988116264343,
    "cce_probs_smooth": 1.3603237867355347,
    "cce_soft": 2.172396421432495,
    "cce_sum": 7.30049991607666,
    "huber": 1.1471552848815918,
    "huber_delta": 0.31169044971466064,
    "huber_none": [2.425086736679077, 3.9341721534729004, 5.78253173828125],
    "mae_2d": 0.7921831607818604,
    "mae_b_vs_b1": 1.1298917531967163,
    "mae_sum": 12.047289848327637,
    "mae_sw": 1.086766004562378,
    "mse_1d": 1.3385876417160034,
    "mse_2d": 2.9434378147125244,
    "mse_3d_squeeze": 1.5311461687088013,
    "mse_3d_sw": 2.4715867042541504,
    "mse_b1_vs_b": 6.483138084411621,
    "mse_b_vs_b1": 1.7482725381851196,
    "mse_mean": 1.8293735980987549,
    "mse_mean_sw": 2.4778335094451904,
    "mse_none": [0.6162724494934082, 0.8336575627326965, 0.07417576760053635, 1.2875961065292358],
    "mse_sum": 5.537994861602783,
    "mse_sw": 2.770897626876831,
    "mse_sw_col": 2.7632040977478027,
    "scce_3d": 1.6550426483154297,
    "scce_axis1": 1.5090376138687134,
    "scce_float_labels": 1.124503493309021,
    "scce_ignore": 1.3060160875320435,
    "scce_ignore_2d": 1.917967438697815,
    "scce_ignore_2d_all": 0.0,
    "scce_ignore_2d_mean": 2.0681538581848145,
    "scce_ignore_2d_mean_sw": 1.4472078084945679,
    "scce_ignore_2d_none": [[0.0, 2.720301866531372, 0.741813600063324, 0.0],
                            [2.173103094100952, 0.0, 0.0, 0.29238954186439514],
                            [1.1309514045715332, 1.0729756355285645, 0.0, 0.7565170526504517]],
    "scce_ignore_2d_probs": 1.2019033432006836,
    "scce_ignore_2d_sum": 15.382776260375977,
    "scce_ignore_2d_sw": 2.203578233718872,
    "scce_ignore_3d": 1.2743223905563354,
    "scce_ignore_none": [0.0, 1.7556846141815186, 0.6117336750030518, 2.0178322792053223],
    "scce_ignore_sum": 5.932975769042969,
    "scce_ignore_sw": 0.8652772307395935,
    "scce_labels_col": 2.156895637512207,
    "scce_logits": 2.7598555088043213,
    "scce_logits_sw": 2.1142654418945312,
    "scce_probs": 1.379242181777954,
    "scce_probs_doc": 1.1769392490386963,
    "scce_sum": 11.866223335266113,
}


def lamina_loss(cls, kwargs):
    return getattr(losses, cls)(**kwargs)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_loss_matches_numpy_reference(case_id):
    cls, kwargs, t, p, sw = case_inputs(case_id)
    out = lamina_loss(cls, kwargs)(t, p, sample_weight=sw)
    assert isinstance(out, lamina.Tensor) and out.dtype == "float32"
    ref = ref_loss(cls, kwargs, t, p, sw)
    assert tuple(out.shape) == np.shape(ref)
    np.testing.assert_allclose(out.numpy(), ref, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_loss_matches_keras(case_id):
    cls, kwargs, t, p, sw = case_inputs(case_id)
    out = lamina_loss(cls, kwargs)(t, p, sample_weight=sw)
    expected = np.asarray(KERAS[case_id], np.float64)
    assert tuple(out.shape) == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=2e-5, atol=2e-6)


# Cases whose reference is smooth at the inputs (no clip boundary, kink or tie within the step).
GRAD_CASES = [c for c in sorted(CASES) if c not in ("bce_probs_clipped", "bce_logits_large",
                                                    "scce_probs_doc", "cce_probs_doc")]


def _numeric_grad(f, p, h=1e-6):
    g = np.zeros_like(p)
    flat = p.reshape(-1)
    gflat = g.reshape(-1)
    for i in range(flat.size):  # test-side finite differences, one coordinate at a time
        old = flat[i]
        flat[i] = old + h
        up = f(p)
        flat[i] = old - h
        down = f(p)
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("case_id", GRAD_CASES)
def test_loss_gradient_matches_finite_differences(case_id):
    cls, kwargs, t, p, sw = case_inputs(case_id)
    loss = lamina_loss(cls, kwargs)
    y_pred = ops.convert_to_tensor(p.astype(np.float32))
    with lamina.GradientTape() as tape:
        tape.watch(y_pred)
        value = ops.sum(loss(t, y_pred, sample_weight=sw))
    grad = tape.gradient(value, y_pred)
    assert grad is not None and tuple(grad.shape) == p.shape
    expected = _numeric_grad(lambda q: np.sum(ref_loss(cls, kwargs, t, q, sw)), p.copy())
    np.testing.assert_allclose(grad.numpy(), expected, rtol=2e-3, atol=2e-5)


def test_gradient_flows_through_a_model_to_weights():
    w = lamina.Variable(np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.5]], np.float32))
    x = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
    y = np.array([2, 0])
    with lamina.GradientTape() as tape:
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)(y, ops.matmul(x, w))
    (dw,) = tape.gradient(loss, [w])
    logits = x @ w.numpy()
    sm = np.exp(log_softmax(logits.astype(np.float64), -1))
    sm[np.arange(2), y] -= 1
    np.testing.assert_allclose(dw.numpy(), x.T @ sm / 2, rtol=1e-5, atol=1e-6)


def test_bce_from_logits_gradient_at_zero_is_sigmoid_minus_label():
    y_pred = ops.zeros((2, 1))
    with lamina.GradientTape() as tape:
        tape.watch(y_pred)
        loss = losses.BinaryCrossentropy(from_logits=True, reduction="sum")(np.array([[1.0], [0.0]]), y_pred)
    np.testing.assert_allclose(tape.gradient(loss, y_pred).numpy(), [[-0.5], [0.5]], atol=1e-7)
    np.testing.assert_allclose(loss.numpy(), 2 * math.log(2), rtol=1e-6)


def test_extreme_logits_stay_finite():
    y_pred = np.array([[-1e4, 1e4, 500.0, -500.0]], np.float32)
    y_true = np.array([[1, 0, 1, 0]], np.float32)
    bce = losses.BinaryCrossentropy(from_logits=True, reduction=None)(y_true, y_pred).numpy()
    np.testing.assert_allclose(bce, [(1e4 + 1e4) / 4], rtol=1e-6)
    cce = losses.CategoricalCrossentropy(from_logits=True, reduction=None)(
        np.array([[0, 0, 1, 0]]), np.array([[1e4, -1e4, 0.0, 3.0]])).numpy()
    np.testing.assert_allclose(cce, [1e4], rtol=1e-6)
    scce = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(
        np.array([3]), np.array([[1e4, -1e4, 0.0, 3.0]])).numpy()
    np.testing.assert_allclose(scce, [1e4 - 3.0], rtol=1e-6)


# ---------------------------------------------------------------- functions


def test_functions_return_per_sample_losses():
    t = np.array([[0.0, 1.0], [0.0, 0.0]])
    p = np.array([[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(losses.binary_crossentropy(t, p).numpy(), [0.916291, 0.713558], rtol=1e-5)
    np.testing.assert_allclose(losses.huber(t, p).numpy(), [0.18, 0.13], rtol=1e-6)
    np.testing.assert_allclose(losses.mse(t, p).numpy(), [0.36, 0.26], rtol=1e-6)
    np.testing.assert_allclose(losses.mae(t, p).numpy(), [0.6, 0.5], rtol=1e-6)
    assert losses.mean_squared_error is losses.mse and losses.mean_absolute_error is losses.MAE
    cce = losses.categorical_crossentropy(np.array([[0, 1, 0], [0, 0, 1]]),
                                          np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))
    np.testing.assert_allclose(cce.numpy(), [0.0513, 2.3026], rtol=1e-3)
    scce = losses.sparse_categorical_crossentropy(np.array([1, 2]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))
    np.testing.assert_allclose(scce.numpy(), [0.0513, 2.3026], rtol=1e-3)


def test_bce_function_needs_same_shapes_as_keras():
    with pytest.raises(ValueError, match=r"Arguments `target` and `output` must have the same shape. "
                                         r"Received: target.shape=\(3,\), output.shape=\(3, 1\)"):
        losses.binary_crossentropy(np.zeros(3), np.zeros((3, 1)))
    # the Loss object squeezes / expands first, as Keras's LossFunctionWrapper does
    assert losses.BinaryCrossentropy()(np.zeros(3), np.full((3, 1), 0.5)).shape == ()


def test_categorical_crossentropy_warns_on_single_class_and_rejects_bool_axis():
    with pytest.warns(SyntaxWarning, match="Consider using 'binary_crossentropy'"):
        losses.categorical_crossentropy(np.ones((2, 1)), np.full((2, 1), 0.5))
    with pytest.raises(ValueError, match="`axis` must be of type `int`"):
        losses.categorical_crossentropy(np.ones((2, 2)), np.ones((2, 2)), axis=True)


def test_sparse_labels_out_of_range_raise():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(IndexError, match="out of range"):
        loss(np.array([0, 3]), np.zeros((2, 3)))
    with pytest.raises(IndexError, match="out of range"):
        loss(np.array([0, -1]), np.zeros((2, 3)))
    with pytest.raises(IndexError, match="out of range"):
        losses.SparseCategoricalCrossentropy()(np.array([5]), np.full((1, 3), 1 / 3))
    with pytest.raises(ValueError, match="whole-number"):
        loss(np.array([0.5, 1.0]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must have the same shape up until the last dimension"):
        loss(np.array([0, 1, 2]), np.zeros((2, 3)))


def test_sparse_ignore_class_skips_out_of_range_ignored_labels():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    logits = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]], np.float32)
    out = loss(np.array([1, 255, 0]), logits)
    expected = (ref_scce(np.array([1, 0]), logits[[0, 2]].astype(np.float64), True)[0]).mean()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    # all ignored: 0, not NaN
    assert float(loss(np.array([255, 255, 255]), logits)) == 0.0


def test_empty_batch():
    out = losses.MeanSquaredError()(np.zeros((0, 3)), np.zeros((0, 3)))
    assert tuple(out.shape) == (0,)
    out = losses.MeanSquaredError()(np.zeros((0, 2, 3)), np.zeros((0, 2, 3)))
    assert tuple(out.shape) == () and float(out) == 0.0


# ---------------------------------------------------------------- Loss objects, lookup, configs


def test_defaults_names_and_configs_match_keras():
    assert losses.MeanSquaredError().name == "mean_squared_error"
    assert losses.MeanAbsoluteError().name == "mean_absolute_error"
    assert losses.Huber().name == "huber_loss"
    assert losses.BinaryCrossentropy().get_config() == {
        "name": "binary_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "label_smoothing": 0.0, "axis": -1}
    assert losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1).get_config() == {
        "name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": True,
        "label_smoothing": 0.1, "axis": -1}
    cfg = losses.SparseCategoricalCrossentropy(ignore_class=0).get_config()
    assert cfg["name"] == "sparse_categorical_crossentropy" and cfg["ignore_class"] == 0
    for loss in [losses.MeanSquaredError(reduction="sum"), losses.Huber(delta=0.3),
                 losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2, name="b"),
                 losses.CategoricalCrossentropy(axis=1), losses.SparseCategoricalCrossentropy(from_logits=True)]:
        again = type(loss).from_config(loss.get_config())
        assert again.get_config() == loss.get_config()
    assert losses.Huber.from_config(losses.Huber(delta=0.3).get_config()).delta == 0.3


def test_invalid_reduction_uses_keras_message():
    with pytest.raises(ValueError, match=r"Invalid value for argument `reduction`. Expected one of .* "
                                         r"Received: reduction=avg"):
        losses.MeanSquaredError(reduction="avg")


@pytest.mark.parametrize("name, cls, loss_name", [
    ("mse", losses.LossFunctionWrapper, "mse"),
    ("MSE", losses.LossFunctionWrapper, "MSE"),
    ("mean_squared_error", losses.LossFunctionWrapper, "mean_squared_error"),
    ("mae", losses.LossFunctionWrapper, "mae"),
    ("mean_absolute_error", losses.LossFunctionWrapper, "mean_absolute_error"),
    ("huber", losses.LossFunctionWrapper, "huber"),
    ("binary_crossentropy", losses.LossFunctionWrapper, "binary_crossentropy"),
    ("bce", losses.LossFunctionWrapper, "bce"),
    ("categorical_crossentropy", losses.LossFunctionWrapper, "categorical_crossentropy"),
    ("sparse_categorical_crossentropy", losses.LossFunctionWrapper, "sparse_categorical_crossentropy"),
    ("MeanSquaredError", losses.MeanSquaredError, "mean_squared_error"),
    ("Huber", losses.Huber, "huber_loss"),
    ("BinaryCrossentropy", losses.BinaryCrossentropy, "binary_crossentropy"),
    ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy, "sparse_categorical_crossentropy"),
])
def test_get_by_name(name, cls, loss_name):
    loss = losses.get(name)
    assert type(loss) is cls and loss.name == loss_name
    assert loss.reduction == "sum_over_batch_size"


def test_get_string_functions_reduce_like_the_classes():
    t = np.array([2, 0, 1])
    p = np.array([[0.2, 0.3, 0.5], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4]])
    a = losses.get("sparse_categorical_crossentropy")(t, p, sample_weight=[1.0, 2.0, 0.5])
    b = losses.SparseCategoricalCrossentropy()(t, p, sample_weight=[1.0, 2.0, 0.5])
    assert float(a) == pytest.approx(float(b), rel=1e-6)
    a = losses.get("mse")(np.zeros(4), np.ones((4, 1)))
    assert float(a) == pytest.approx(1.0)


def test_get_instances_classes_functions_and_configs():
    loss = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    assert losses.get(None) is None

    def my_loss(y_true, y_pred):
        return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1) * 2.0

    wrapped = losses.get(my_loss)
    assert isinstance(wrapped, losses.Loss) and wrapped.name == "my_loss"
    assert float(wrapped(np.zeros((2, 3)), np.ones((2, 3)), sample_weight=[1.0, 0.0])) == pytest.approx(1.0)
    cfg = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(cfg, losses.CategoricalCrossentropy) and cfg.from_logits
    again = losses.deserialize(losses.serialize(losses.Huber(delta=0.7)))
    assert isinstance(again, losses.Huber) and again.delta == 0.7


@pytest.mark.parametrize("bad", ["nope", "Mse", "accuracy", 3])
def test_unknown_identifier_raises_keras_message(bad):
    with pytest.raises(ValueError, match=f"^Could not interpret loss identifier: {bad}$"):
        losses.get(bad)


def test_custom_loss_subclass():
    class Scaled(losses.Loss):
        def call(self, y_true, y_pred):
            return ops.sum(ops.square(ops.subtract(y_true, y_pred)), axis=-1)

    loss = Scaled()
    assert loss.name.startswith("scaled")
    out = loss(np.zeros((2, 2)), np.array([[1.0, 1.0], [2.0, 0.0]]), sample_weight=np.array([1.0, 0.5]))
    assert float(out) == pytest.approx((2.0 + 0.5 * 4.0) / 2)
    assert Scaled(reduction="sum")(np.zeros((2, 2)), np.ones((2, 2))).numpy() == pytest.approx(4.0)


@pytest.mark.parametrize("identifier, y_true, y_pred, fn", [
    ("crossentropy", (8,), (8, 1), losses.binary_crossentropy),
    ("ce", (8,), (8, 5), losses.sparse_categorical_crossentropy),
    ("crossentropy", (8, 1), (8, 5), losses.sparse_categorical_crossentropy),
    ("crossentropy", (8, 5), (8, 5), losses.categorical_crossentropy),
])
def test_resolve_crossentropy_from_shapes(identifier, y_true, y_pred, fn):
    loss = losses.resolve(identifier, y_true, y_pred)
    assert isinstance(loss, losses.LossFunctionWrapper) and loss.fn is fn and loss.name == identifier
    assert isinstance(losses.resolve("mse", y_true, y_pred), losses.Loss)


def test_function_wrapper_config_round_trip():
    loss = losses.LossFunctionWrapper(losses.huber, name="h", reduction="sum", delta=0.5)
    cfg = loss.get_config()
    assert cfg == {"name": "h", "reduction": "sum", "fn": "huber", "delta": 0.5}
    again = losses.LossFunctionWrapper.from_config(cfg)
    assert again.fn is losses.huber and again.get_config() == cfg
    t, p = np.zeros((2, 2)), np.array([[0.2, 1.0], [-2.0, 0.1]])
    assert float(again(t, p)) == pytest.approx(float(loss(t, p)))
    assert float(loss(t, p)) == pytest.approx(ref_huber(t, p, 0.5).sum(), rel=1e-6)
