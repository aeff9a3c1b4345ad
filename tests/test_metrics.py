"""Metrics: every metric over several update_state calls (with sample weights) against NumPy
references and against the results Keras 3.15.1 (torch backend) gives for the same batches;
reset_state, variables, names and configs, compile's "accuracy" resolution, lookup by name."""
import zlib

import numpy as np
import pytest

import lamina
from lamina import metrics, ops


# ---------------------------------------------------------------- batches


def _rng(case_id):
    return np.random.default_rng(zlib.crc32(case_id.encode()))


def f32(a):
    return np.asarray(a, np.float32)


def normal(*shape):
    return lambda r: f32(r.normal(0, 1, shape))


def probs(*shape):
    return lambda r: f32(r.uniform(0, 1, shape))


def softmax(*shape):
    def gen(r):
        e = np.exp(r.normal(0, 1.5, shape))
        return f32(e / e.sum(-1, keepdims=True))
    return gen


def bits(*shape):
    return lambda r: r.integers(0, 2, shape).astype(np.int64)


def ints(*shape, hi=3):
    return lambda r: r.integers(0, hi, shape).astype(np.int64)


def onehot(*shape):
    return lambda r: np.eye(shape[-1], dtype=np.float32)[r.integers(0, shape[-1], shape[:-1])]


def weights(*shape):
    return lambda r: f32(r.uniform(0.0, 2.0, shape))


def const(v):
    return lambda r: v


def batches(*specs):
    """specs: (y_true gen, y_pred gen, sample_weight gen or None), one per update_state call."""
    return list(specs)


# id: (class, kwargs, [(y_true, y_pred, sample_weight), ...]); Mean / Sum take (values, sw) with y_pred None
METRIC_CASES = {
    "mean": ("Mean", {}, batches((normal(5), None, None), (normal(2, 3), None, weights(2)),
                                 (const(np.float32(4.0)), None, None))),
    "mean_sw_2d": ("Mean", {}, batches((normal(4, 3), None, weights(4, 3)), (normal(3, 3), None, weights(3, 1)))),
    "sum": ("Sum", {}, batches((normal(5), None, weights(5)), (normal(2, 3), None, None))),
    "accuracy": ("Accuracy", {}, batches((ints(8), ints(8), None), (ints(6, 1), ints(6), weights(6)))),
    "binary_accuracy": ("BinaryAccuracy", {}, batches((bits(6, 1), probs(6, 1), weights(6)),
                                                      (bits(5, 1), probs(5, 1), None))),
    "binary_accuracy_thr": ("BinaryAccuracy", {"threshold": 0.7},
                            batches((bits(6), probs(6, 1), None), (bits(4, 2), probs(4, 2), weights(4)))),
    "categorical_accuracy": ("CategoricalAccuracy", {}, batches((onehot(6, 4), softmax(6, 4), weights(6)),
                                                                (onehot(5, 4), softmax(5, 4), None))),
    "sparse_categorical_accuracy": ("SparseCategoricalAccuracy", {},
                                    batches((ints(6, hi=4), softmax(6, 4), weights(6)),
                                            (ints(5, 1, hi=4), softmax(5, 4), None),
                                            (ints(2, 3, hi=4), softmax(2, 3, 4), weights(2)))),
    "top_k": ("TopKCategoricalAccuracy", {"k": 2}, batches((onehot(6, 5), softmax(6, 5), weights(6)),
                                                          (onehot(4, 5), softmax(4, 5), None))),
    "sparse_top_k": ("SparseTopKCategoricalAccuracy", {"k": 2},
                     batches((ints(6, hi=5), softmax(6, 5), None), (ints(4, hi=5), softmax(4, 5), weights(4)))),
    "mse": ("MeanSquaredError", {}, batches((normal(4, 3), normal(4, 3), weights(4)), (normal(5), normal(5, 1), None))),
    "mae": ("MeanAbsoluteError", {}, batches((normal(4, 3), normal(4, 3), None), (normal(5, 1), normal(5, 1), weights(5)))),
    "rmse": ("RootMeanSquaredError", {}, batches((normal(4, 3), normal(4, 3), weights(4)), (normal(5), normal(5), None))),
    "bce": ("BinaryCrossentropy", {"from_logits": True}, batches((bits(4, 3), normal(4, 3), weights(4)),
                                                                 (bits(5, 1), normal(5, 1), None))),
    "bce_probs_smooth": ("BinaryCrossentropy", {"label_smoothing": 0.1},
                         batches((bits(4, 3), probs(4, 3), None), (bits(3, 3), probs(3, 3), weights(3)))),
    "cce": ("CategoricalCrossentropy", {}, batches((onehot(5, 4), softmax(5, 4), weights(5)),
                                                   (onehot(3, 4), softmax(3, 4), None))),
    "scce": ("SparseCategoricalCrossentropy", {"from_logits": True},
             batches((ints(6, hi=4), normal(6, 4), weights(6)), (ints(3, hi=4), normal(3, 4), None))),
    "scce_ignore": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 0},
                    batches((ints(6, hi=4), normal(6, 4), weights(6)), (ints(5, hi=4), normal(5, 4), None))),
    "tp": ("TruePositives", {}, batches((bits(8), probs(8), weights(8)), (bits(4, 2), probs(4, 2), None))),
    "fp": ("FalsePositives", {"thresholds": [0.3, 0.6]}, batches((bits(8), probs(8), weights(8)),
                                                                 (bits(6), probs(6), None))),
    "tn": ("TrueNegatives", {}, batches((bits(8), probs(8), None), (bits(6), probs(6), weights(6)))),
    "fn": ("FalseNegatives", {"thresholds": [0.0, 0.5, 1.0]}, batches((bits(8), probs(8), weights(8)),
                                                                      (bits(6), probs(6), None))),
    "precision": ("Precision", {}, batches((bits(8), probs(8), None), (bits(6, 1), probs(6, 1), weights(6)))),
    "precision_thresholds": ("Precision", {"thresholds": [0.2, 0.5, 0.8]},
                             batches((bits(8), probs(8), weights(8)), (bits(6), probs(6), None))),
    "precision_even": ("Precision", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]},
                       batches((bits(10), probs(10), weights(10)), (bits(3, 2), probs(3, 2), None))),
    "precision_top_k": ("Precision", {"top_k": 2}, batches((bits(4, 5), probs(4, 5), None),
                                                          (bits(3, 5), probs(3, 5), weights(3)))),
    "precision_class_id": ("Precision", {"class_id": 2}, batches((onehot(8, 4), softmax(8, 4), weights(8)),
                                                                 (onehot(5, 4), softmax(5, 4), None))),
    "precision_top_k_class": ("Precision", {"top_k": 1, "class_id": 1},
                              batches((onehot(8, 3), softmax(8, 3), None), (onehot(5, 3), softmax(5, 3), weights(5)))),
    "recall": ("Recall", {}, batches((bits(8), probs(8), weights(8)), (bits(6, 1), probs(6, 1), None))),
    "recall_thresholds": ("Recall", {"thresholds": [0.1, 0.9]}, batches((bits(8), probs(8), None),
                                                                       (bits(6), probs(6), weights(6)))),
    "recall_top_k": ("Recall", {"top_k": 3}, batches((bits(4, 5), probs(4, 5), weights(4)),
                                                    (bits(3, 5), probs(3, 5), None))),
    "auc": ("AUC", {}, batches((bits(20), probs(20), None), (bits(15, 1), probs(15, 1), weights(15)))),
    "auc_ties": ("AUC", {}, batches((const(np.array([0, 0, 1, 1, 1, 0])),
                                     const(f32([0.0, 0.5, 0.3, 0.9, 1.0, 1.0])), None),)),
    "auc_pr": ("AUC", {"curve": "PR"}, batches((bits(20), probs(20), weights(20)), (bits(15), probs(15), None))),
    "auc_pr_majoring": ("AUC", {"curve": "PR", "summation_method": "majoring"},
                        batches((bits(20), probs(20), None), (bits(15), probs(15), weights(15)))),
    "auc_roc_minoring": ("AUC", {"summation_method": "minoring", "num_thresholds": 50},
                         batches((bits(20), probs(20), weights(20)), (bits(15), probs(15), None))),
    "auc_prgain": ("AUC", {"curve": "PRGAIN", "num_thresholds": 20},
                   batches((bits(30), probs(30), None), (bits(15), probs(15), None))),
    "auc_logits": ("AUC", {"from_logits": True}, batches((bits(20), normal(20), None),
                                                        (bits(10, 1), normal(10, 1), weights(10)))),
    "auc_thresholds": ("AUC", {"thresholds": [0.7, 0.1, 0.4]},
                       batches((bits(20), probs(20), weights(20)), (bits(15), probs(15), None))),
    "auc_even_thresholds": ("AUC", {"thresholds": [0.25, 0.5, 0.75]},
                            batches((bits(20), probs(20), None), (bits(15), probs(15), weights(15)))),
    "auc_multi_label": ("AUC", {"multi_label": True, "num_thresholds": 30},
                        batches((bits(12, 3), probs(12, 3), weights(12)), (bits(8, 3), probs(8, 3), None))),
    "auc_multi_label_weights": ("AUC", {"multi_label": True, "label_weights": [0.2, 1.0, 0.5], "curve": "PR"},
                                batches((bits(12, 3), probs(12, 3), None), (bits(8, 3), probs(8, 3), None))),
    "auc_label_weights": ("AUC", {"label_weights": [0.3, 2.0]},
                          batches((bits(10, 2), probs(10, 2), None), (bits(6, 2), probs(6, 2), weights(6)))),
}


def case_batches(case_id):
    cls, kwargs, specs = METRIC_CASES[case_id]
    r = _rng(case_id)
    out = []
    for gt, gp, gw in specs:
        t = gt(r)
        p = gp(r) if gp is not None else None
        w = gw(r) if gw is not None else None
        out.append((t, p, w))
    return cls, kwargs, out


def run_lamina(cls, kwargs, data, metric=None):
    m = metric or getattr(metrics, cls)(**kwargs)
    results = []
    for t, p, w in data:
        if p is None:
            m.update_state(t, sample_weight=w)
        else:
            m.update_state(t, p, sample_weight=w)
        results.append(np.asarray(m.result().numpy(), np.float64))
    return m, results


# Keras 3.15.1 (torch backend): getattr(keras.metrics, cls)(**kwargs), result() after each
# update_state call on case_batches(case_id).
KERAS = {
    "accuracy": [0.375, 0.2526201903820038],
    "auc": [0.33838385343551636, 0.4310174584388733],
    "auc_even_thresholds": [0.4898989796638489, 0.5358418822288513],
    "auc_label_weights": [0.5181518197059631, 0.41093918681144714],
    "auc_logits": [0.4343434274196625, 0.5533934831619263],
    "auc_multi_label": [0.39499631524086, 0.27927419543266296],
    "auc_multi_label_weights": [0.5784094333648682, 0.6024531722068787],
    "auc_pr": [0.5083715319633484, 0.49791401624679565],
    "auc_pr_majoring": [0.4055555760860443, 0.7357627153396606],
    "auc_prgain": [0.18141616880893707, 0.041036710143089294],
    "auc_roc_minoring": [0.5920994877815247, 0.5266270041465759],
    "auc_thresholds": [0.44356805086135864, 0.387182354927063],
    "auc_ties": [0.6111111044883728],
    "bce": [0.9134020805358887, 0.9166341423988342],
    "bce_probs_smooth": [1.2593001127243042, 1.1678199768066406],
    "binary_accuracy": [0.7582572102546692, 0.7791599035263062],
    "binary_accuracy_thr": [0.8333333134651184, 0.7080027461051941],
    "categorical_accuracy": [0.29785677790641785, 0.25796112418174744],
    "cce": [2.9671478271484375, 2.349616527557373],
    "fn": [[0.0, 0.5334500074386597, 2.249039888381958], [0.0, 2.533450126647949, 5.249039649963379]],
    "fp": [[2.117443561553955, 1.8320057392120361], [4.117443561553955, 3.832005739212036]],
    "mae": [1.0186471939086914, 1.1140763759613037],
    "mean": [0.23877573013305664, 0.3837752044200897, 0.7971879839897156],
    "mean_sw_2d": [-0.2891751229763031, -0.20428259670734406],
    "mse": [2.473438024520874, 2.1412830352783203],
    "precision": [0.6666666865348816, 0.5912641286849976],
    "precision_class_id": [0.0, 0.0],
    "precision_even": [[0.4269430339336395, 0.12614157795906067, 0.14068320393562317, 0.3328908681869507, 0.0], [0.3889382481575012, 0.2534368634223938, 0.38065654039382935, 0.5425800681114197, 0.0]],
    "precision_thresholds": [[0.2631133794784546, 0.7727918028831482, 0.65131676197052], [0.41521522402763367, 0.6636223793029785, 0.7693831920623779]],
    "precision_top_k": [0.875, 0.6577390432357788],
    "precision_top_k_class": [0.5, 0.558862030506134],
    "recall": [0.49619898200035095, 0.28496697545051575],
    "recall_thresholds": [[1.0, 0.1666666716337204], [0.6769424080848694, 0.1128237321972847]],
    "recall_top_k": [0.9570453763008118, 0.7734305262565613],
    "rmse": [1.9016845226287842, 2.0402259826660156],
    "scce": [2.0973377227783203, 1.9750537872314453],
    "scce_ignore": [2.3741538524627686, 1.7427639961242676],
    "sparse_categorical_accuracy": [0.3596299886703491, 0.2783614695072174, 0.2947251498699188],
    "sparse_top_k": [0.1666666716337204, 0.09008292108774185],
    "sum": [-0.4891315698623657, -0.06949770450592041],
    "tn": [1.0, 2.951399326324463],
    "top_k": [0.30504000186920166, 0.28409919142723083],
    "tp": [0.0, 3.0],
}


@pytest.mark.parametrize("case_id", sorted(METRIC_CASES))
def test_metric_matches_keras(case_id):
    cls, kwargs, data = case_batches(case_id)
    _, results = run_lamina(cls, kwargs, data)
    expected = KERAS[case_id]
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, np.asarray(want, np.float64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case_id", sorted(METRIC_CASES))
def test_reset_state_starts_over(case_id):
    cls, kwargs, data = case_batches(case_id)
    m, results = run_lamina(cls, kwargs, data)
    m.reset_state()
    for v in m.variables:
        assert not np.any(v.numpy())
    _, again = run_lamina(cls, kwargs, data[:1], metric=m)
    np.testing.assert_allclose(again[0], results[0], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- NumPy references


def soe(x1, x2):
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, x2[..., None]) if x2.ndim == 1 else (x1[..., 0], x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (x1[..., None], x2) if x1.ndim == 1 else (x1, x2[..., 0])
    return x1, x2


def weighted_mean(per_sample_batches):
    """[(per-sample values (batch,), weights (batch,) or None)] -> the weighted mean of all."""
    total = count = 0.0
    for v, w in per_sample_batches:
        w = np.ones_like(v) if w is None else w
        total += np.sum(v * w)
        count += np.sum(w)
    return total / count


def ref_per_sample(cls, kwargs, t, p):
    t = np.asarray(t, np.float64)
    p = np.asarray(p, np.float64)
    if cls == "BinaryAccuracy":
        t, p = soe(t, p)
        return (t == (p > kwargs.get("threshold", 0.5))).astype(float)
    if cls == "CategoricalAccuracy":
        return (t.argmax(-1) == p.argmax(-1)).astype(float)
    if cls == "SparseCategoricalAccuracy":
        if t.ndim == p.ndim:
            t = t[..., 0]
        return (t == p.argmax(-1)).astype(float)
    if cls == "TopKCategoricalAccuracy":
        tv = np.take_along_axis(p, t.argmax(-1)[..., None], -1)
        return ((p > tv).sum(-1) < kwargs["k"]).astype(float)
    if cls == "SparseTopKCategoricalAccuracy":
        tv = np.take_along_axis(p, t.astype(int)[..., None], -1)
        return ((p > tv).sum(-1) < kwargs["k"]).astype(float)
    t, p = soe(t, p)
    if cls == "MeanSquaredError":
        return np.mean((t - p) ** 2, -1)
    if cls == "MeanAbsoluteError":
        return np.mean(np.abs(t - p), -1)
    raise KeyError(cls)


@pytest.mark.parametrize("case_id", ["binary_accuracy", "categorical_accuracy", "top_k", "sparse_top_k", "mse",
                                     "mae", "accuracy"])
def test_mean_metrics_match_numpy(case_id):
    cls, kwargs, data = case_batches(case_id)
    _, results = run_lamina(cls, kwargs, data)
    per = []
    for t, p, w in data:
        if cls == "Accuracy":
            t2, p2 = soe(np.asarray(t), np.asarray(p))
            v = (t2 == p2).astype(float)
        else:
            v = ref_per_sample(cls, kwargs, t, p)
        v = v.reshape(v.shape[0], -1).mean(-1) if v.ndim > 1 else v
        per.append((v, w))
    np.testing.assert_allclose(results[-1], weighted_mean(per), rtol=1e-5)


def test_sparse_categorical_accuracy_matches_numpy_on_3d_batches():
    cls, kwargs, data = case_batches("sparse_categorical_accuracy")
    _, results = run_lamina(cls, kwargs, data)
    per = []
    for t, p, w in data:
        v = ref_per_sample(cls, kwargs, t, p)
        per.append((v.reshape(v.shape[0], -1).mean(-1), w))
    np.testing.assert_allclose(results[-1], weighted_mean(per), rtol=1e-5)


def test_mean_and_sum_match_numpy():
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    assert float(m.result()) == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert float(m.result()) == 2.0
    s = metrics.Sum()
    s.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    s.update_state(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert float(s.result()) == 4.0 + 10.0
    assert float(metrics.Mean().result()) == 0.0  # nothing seen: 0, not NaN


def test_rmse_matches_numpy():
    cls, kwargs, data = case_batches("rmse")
    _, results = run_lamina(cls, kwargs, data)
    total = count = 0.0
    for t, p, w in data:
        t2, p2 = soe(np.asarray(t, float), np.asarray(p, float))
        sq = (t2 - p2) ** 2
        if w is None:
            total += sq.mean(-1).sum() if sq.ndim > 1 else sq.sum()
            count += sq.shape[0]
        else:
            total += (sq.mean(-1) * w).sum()
            count += w.sum()
    np.testing.assert_allclose(results[-1], np.sqrt(total / count), rtol=1e-5)


def ref_confusion(data, thresholds, top_k=None, class_id=None):
    tp = np.zeros(len(thresholds))
    fp = np.zeros(len(thresholds))
    fn = np.zeros(len(thresholds))
    tn = np.zeros(len(thresholds))
    for t, p, w in data:
        t = np.asarray(t, float)
        p = np.asarray(p, float)
        p, t = soe(p, t)
        w = np.ones(p.shape) if w is None else np.broadcast_to(
            np.asarray(w, float).reshape((-1,) + (1,) * (p.ndim - 1)), p.shape)
        if top_k is not None:
            keep = np.zeros(p.shape, bool)
            np.put_along_axis(keep, np.argsort(-p, -1, kind="stable")[..., :top_k], True, -1)
            p = np.where(keep, p, -1e10)
        if class_id is not None:
            t, p, w = t[..., class_id], p[..., class_id], w[..., class_id]
        for i, th in enumerate(thresholds):
            pos = p > th
            tp[i] += np.sum(w * (pos & (t == 1)))
            fp[i] += np.sum(w * (pos & (t == 0)))
            fn[i] += np.sum(w * (~pos & (t == 1)))
            tn[i] += np.sum(w * (~pos & (t == 0)))
    return tp, fp, tn, fn


@pytest.mark.parametrize("case_id", ["precision", "precision_thresholds", "precision_even", "precision_top_k",
                                     "precision_class_id", "precision_top_k_class", "recall",
                                     "recall_thresholds", "recall_top_k", "tp", "fp", "tn", "fn"])
def test_confusion_metrics_match_numpy(case_id):
    cls, kwargs, data = case_batches(case_id)
    _, results = run_lamina(cls, kwargs, data)
    top_k = kwargs.get("top_k")
    thresholds = kwargs.get("thresholds", [0.5 if top_k is None else -1e10])
    tp, fp, tn, fn = ref_confusion(data, thresholds, top_k, kwargs.get("class_id"))
    with np.errstate(invalid="ignore"):
        expected = {"Precision": np.nan_to_num(tp / (tp + fp)), "Recall": np.nan_to_num(tp / (tp + fn)),
                    "TruePositives": tp, "FalsePositives": fp, "TrueNegatives": tn, "FalseNegatives": fn}[cls]
    np.testing.assert_allclose(results[-1], expected if len(thresholds) > 1 else expected[0], rtol=1e-5)


def test_auc_is_close_to_exact_roc_and_pr_areas():
    metrics_mod = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(0)
    y = r.integers(0, 2, 400)
    p = np.clip(0.3 * y + r.uniform(0, 0.7, 400), 0, 1).astype(np.float32)
    w = r.uniform(0.5, 1.5, 400).astype(np.float32)
    m = metrics.AUC(num_thresholds=2000)
    m.update_state(y[:250], p[:250], sample_weight=w[:250])
    m.update_state(y[250:], p[250:], sample_weight=w[250:])
    assert float(m.result()) == pytest.approx(metrics_mod.roc_auc_score(y, p, sample_weight=w), abs=2e-3)
    pr = metrics.AUC(num_thresholds=2000, curve="PR")
    pr.update_state(y, p)
    assert float(pr.result()) == pytest.approx(metrics_mod.average_precision_score(y, p), abs=1e-2)


def test_auc_keras_docstring_example():
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert float(m.result()) == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert float(m.result()) == pytest.approx(1.0)
    assert m.thresholds == pytest.approx([-1e-7, 0.5, 1 + 1e-7])


def test_auc_before_any_update_and_multi_label_build():
    assert float(metrics.AUC().result()) == 0.0
    m = metrics.AUC(multi_label=True)
    assert m.variables == []
    m.update_state(np.array([[0, 1], [1, 0]]), np.array([[0.2, 0.8], [0.6, 0.3]]))
    assert [v.shape for v in m.variables] == [(200, 2)] * 4
    with pytest.raises(ValueError, match="`num_labels` is needed only when `multi_label` is True."):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match='Invalid AUC curve value: "XY"'):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="must be an integer > 1"):
        metrics.AUC(num_thresholds=1)


def test_precision_thresholds_must_be_in_range():
    with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]. Received: \[1.5\]"):
        metrics.Precision(thresholds=[0.5, 1.5])


def test_class_id_needs_2d_predictions():
    with pytest.raises(ValueError, match="When class_id is provided, y_pred must be a 2D array"):
        metrics.Recall(class_id=1).update_state(np.array([0, 1]), np.array([0.2, 0.9]))


# ---------------------------------------------------------------- functions


def test_metric_functions_return_per_sample_tensors():
    out = metrics.sparse_categorical_accuracy(np.array([[2], [1]]), np.array([[0.1, 0.6, 0.3], [0.05, 0.95, 0]]))
    assert isinstance(out, lamina.Tensor) and out.numpy().tolist() == [0.0, 1.0]
    out = metrics.categorical_accuracy(np.array([[0, 0, 1], [0, 1, 0]]), np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    assert out.numpy().tolist() == [0.0, 1.0]
    out = metrics.binary_accuracy(np.array([[1], [1], [0], [0]]), np.array([[0.98], [1], [0], [0.6]]))
    assert out.numpy().tolist() == [[1.0], [1.0], [1.0], [0.0]]  # shape (4, 1), as Keras
    out = metrics.top_k_categorical_accuracy(np.array([[0, 0, 1], [0, 1, 0]]),
                                             np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]), k=1)
    assert out.numpy().tolist() == [0.0, 1.0]
    out = metrics.sparse_top_k_categorical_accuracy(np.array([2, 1]), np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]), k=1)
    assert out.numpy().tolist() == [0.0, 1.0]
    out = metrics.sparse_top_k_categorical_accuracy(np.array([0, 1]), np.array([[1, 2, 0], [0, 1, 2]]), k=2,
                                                    from_sorted_ids=True)
    assert out.numpy().tolist() == [0.0, 1.0]
    assert metrics.mean_squared_error is lamina.losses.mean_squared_error


def test_metric_on_lamina_tensors_under_a_tape():
    y_pred = ops.convert_to_tensor(np.array([[0.1, 0.9], [0.8, 0.2]], np.float32))
    with lamina.GradientTape() as tape:
        tape.watch(y_pred)
        m = metrics.SparseCategoricalAccuracy()
        m.update_state(np.array([1, 1]), y_pred)
    assert float(m.result()) == 0.5


# ---------------------------------------------------------------- names, variables, configs


def test_default_names_variables_and_configs():
    assert metrics.SparseCategoricalAccuracy().name == "sparse_categorical_accuracy"
    assert metrics.BinaryAccuracy().get_config() == {"name": "binary_accuracy", "dtype": "float32", "threshold": 0.5}
    assert metrics.MeanSquaredError().name == "mean_squared_error"
    assert metrics.RootMeanSquaredError().name == "root_mean_squared_error"
    m = metrics.Mean(name="loss")
    assert [v.path for v in m.variables] == ["loss/total", "loss/count"]
    assert all(not v.trainable for v in m.variables)
    p = metrics.Precision(thresholds=[0.3, 0.6], name="prec")
    assert [v.name for v in p.variables] == ["true_positives", "false_positives"]
    assert [v.shape for v in p.variables] == [(2,), (2,)]
    assert p.get_config() == {"name": "prec", "dtype": "float32", "thresholds": [0.3, 0.6], "top_k": None,
                              "class_id": None}
    assert [v.name for v in metrics.Recall().variables] == ["true_positives", "false_negatives"]
    auc = metrics.AUC(curve="pr", thresholds=[0.2, 0.6])
    cfg = auc.get_config()
    assert cfg["curve"] == "PR" and cfg["num_thresholds"] == 4 and cfg["thresholds"] == pytest.approx([0.2, 0.6])
    again = metrics.AUC.from_config(cfg)
    assert again.get_config() == cfg
    for m in [metrics.BinaryAccuracy(threshold=0.3), metrics.SparseCategoricalCrossentropy(from_logits=True),
              metrics.TopKCategoricalAccuracy(k=3), metrics.Precision(top_k=2, class_id=1)]:
        assert type(m).from_config(m.get_config()).get_config() == m.get_config()
    assert metrics.deserialize(metrics.serialize(metrics.BinaryAccuracy(threshold=0.2))).threshold == 0.2


def test_automatic_names_are_unique():
    a, b = metrics.Precision(), metrics.Precision()
    assert a.name.startswith("precision") and b.name.startswith("precision") and a.name != b.name
    assert metrics.AUC().name.startswith("auc")


def test_custom_metric_subclass():
    class Count(metrics.Metric):
        def __init__(self, name="count", **kwargs):
            super().__init__(name=name, **kwargs)
            self.n = self.add_variable(shape=(), initializer="zeros", name="n")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign(self.n.numpy() + len(y_true))

        def result(self):
            return self.n.numpy()

    m = Count()
    assert m([1, 2, 3], [1, 2, 3]) == 3.0
    m.reset_state()
    assert float(m.result()) == 0.0

    class Broken(metrics.Metric):
        def __init__(self):
            pass

    with pytest.raises(RuntimeError, match="You forgot to call `super"):
        Broken().add_variable((), "zeros", name="x")


def test_metric_wrapper_of_a_function():
    def errors(y_true, y_pred):
        return ops.abs(ops.subtract(y_true, y_pred))

    m = metrics.get(errors)
    assert isinstance(m, metrics.MeanMetricWrapper) and m.name == "errors"
    m.update_state(np.array([[1.0, 2.0]]), np.array([[2.0, 4.0]]))
    assert float(m.result()) == pytest.approx(1.5)


# ---------------------------------------------------------------- lookup and compile's resolution


@pytest.mark.parametrize("name, cls", [
    ("mse", metrics.MeanSquaredError), ("MSE", metrics.MeanSquaredError),
    ("mean_squared_error", metrics.MeanSquaredError), ("mae", metrics.MeanAbsoluteError),
    ("mean_absolute_error", metrics.MeanAbsoluteError), ("accuracy", metrics.Accuracy),
    ("binary_accuracy", metrics.BinaryAccuracy), ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
    ("categorical_accuracy", metrics.CategoricalAccuracy), ("auc", metrics.AUC), ("AUC", metrics.AUC),
    ("precision", metrics.Precision), ("Recall", metrics.Recall), ("bce", metrics.BinaryCrossentropy),
    ("root_mean_squared_error", metrics.RootMeanSquaredError), ("true_positives", metrics.TruePositives),
])
def test_get_by_name(name, cls):
    assert type(metrics.get(name)) is cls


@pytest.mark.parametrize("bad", ["nope", "acc", "Accuracy2", 3])
def test_unknown_identifier_raises_keras_message(bad):
    with pytest.raises(ValueError, match=f"^Could not interpret metric identifier: {bad}$"):
        metrics.get(bad)


@pytest.mark.parametrize("identifier, y_true, y_pred, cls", [
    ("accuracy", (32,), (32, 10), metrics.SparseCategoricalAccuracy),
    ("accuracy", (32, 1), (32, 10), metrics.SparseCategoricalAccuracy),
    ("acc", (32, 10), (32, 10), metrics.CategoricalAccuracy),
    ("accuracy", (32,), (32, 1), metrics.BinaryAccuracy),
    ("accuracy", (32, 1), (32, 1), metrics.BinaryAccuracy),
    ("Accuracy", (32, 5), (32, 5), metrics.CategoricalAccuracy),
    ("ACC", (4, 7, 1), (4, 7, 3), metrics.SparseCategoricalAccuracy),
    ("accuracy", (32, 3), (32, 3), metrics.CategoricalAccuracy),  # Keras 3 ignores the loss here
])
def test_resolve_accuracy_as_keras_compile(identifier, y_true, y_pred, cls):
    m = metrics.resolve(identifier, y_true, y_pred, loss="binary_crossentropy")
    assert type(m) is cls and m.name == identifier


def test_resolve_other_identifiers():
    m = metrics.resolve("mse", (8, 1), (8, 1))
    assert type(m) is metrics.MeanSquaredError and m.name == "mse"
    m = metrics.resolve("mean_absolute_error", (8, 1), (8, 1))
    assert type(m) is metrics.MeanAbsoluteError and m.name == "mean_absolute_error"
    auc = metrics.AUC(name="my_auc")
    assert metrics.resolve(auc, (8,), (8, 1)) is auc and auc.name == "my_auc"
    m = metrics.resolve(metrics.sparse_categorical_accuracy, np.zeros(8), np.zeros((8, 3)))
    assert isinstance(m, metrics.MeanMetricWrapper) and m.name == "sparse_categorical_accuracy"
    with pytest.raises(ValueError, match="Could not interpret metric identifier: nope"):
        metrics.resolve("nope", (8,), (8, 3))
    with pytest.raises(ValueError, match="Expected metric, received `None`"):
        metrics.resolve(None, (8,), (8, 3))


def test_mean_metric_wrapper_config_round_trip():
    m = metrics.MeanMetricWrapper(metrics.binary_accuracy, name="ba", threshold=0.3)
    cfg = m.get_config()
    assert cfg == {"name": "ba", "dtype": "float32", "fn": "binary_accuracy", "threshold": 0.3}
    again = metrics.MeanMetricWrapper.from_config(cfg)
    again.update_state(np.array([1, 0]), np.array([0.25, 0.2]))  # threshold 0.3: [0, 0]
    assert float(again.result()) == 0.5
