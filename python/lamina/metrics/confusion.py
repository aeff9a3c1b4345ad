"""Confusion-matrix metrics: TruePositives & co., Precision, Recall and AUC, with Keras's
update_confusion_matrix_variables algorithm, computed with `lamina.ops` in float32 (the counts are
state variables updated in place; nothing goes through NumPy per batch)."""
import math

import numpy as np

from lamina import ops
from lamina.autograd import no_grad
from lamina.backend import convert_to_tensor
from lamina.losses import _divide_no_nan, _float, squeeze_or_expand_to_same_rank
from lamina.metrics.base import EPSILON, NEG_INF, Metric, _add_to, _snapshot
from lamina.saving.object_registration import keras_export
from lamina.utils.limits import MAX_NUM_THRESHOLDS, MAX_THRESHOLD_LABEL_COUNTS

# ---------------------------------------------------------------- confusion-matrix metrics

_TP, _FP, _TN, _FN = "tp", "fp", "tn", "fn"

# largest (thresholds x predictions) comparison made at once: longer threshold lists are counted a
# block of thresholds at a time
_COMPARE_BLOCK = 1 << 22


def _check_num_thresholds(num_thresholds, name="num_thresholds"):
    if num_thresholds > MAX_NUM_THRESHOLDS:
        raise ValueError(f"Argument `{name}` must be at most {MAX_NUM_THRESHOLDS} (lamina's "
                         f"MAX_NUM_THRESHOLDS: each threshold keeps its own counts and costs work on every "
                         f"update). Received: {name}={num_thresholds}")


def _to_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, np.ndarray):
        return x.tolist() if x.ndim else [x.item()]
    return [x]


def _parse_init_thresholds(thresholds, default_threshold=0.5):
    if thresholds is not None:
        _check_num_thresholds(len(_to_list(thresholds)), "len(thresholds)")
        invalid = [t for t in _to_list(thresholds) if t is None or t < 0 or t > 1]
        if invalid:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    return _to_list(default_threshold if thresholds is None else thresholds)


def _is_evenly_distributed(thresholds):
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _filter_top_k(x, k):
    """`x` with every entry outside the top `k` of its last axis replaced by NEG_INF. Ties go to
    the earlier index (a stable descending sort's order): an entry's rank is the number of entries
    above it plus the number of equal ones before it."""
    n = x.shape[-1]
    column, row = ops.expand_dims(x, -1), ops.expand_dims(x, -2)  # (..., n, 1), (..., 1, n)
    index = ops.arange(n)
    earlier = ops.less(ops.expand_dims(index, 0), ops.expand_dims(index, 1))  # [i, j]: j < i
    ahead = ops.logical_or(ops.greater(row, column), ops.logical_and(ops.equal(row, column), earlier))
    rank = ops.sum(ops.cast(ahead, "int32"), axis=-1)
    return ops.where(ops.less(rank, int(k)), x, NEG_INF)


def _threshold_cuts(thresholds, evenly):
    """What the scores are compared with (made once, when the metric is made): the thresholds,
    or for evenly spaced ones the bucket indices 0 .. n-1 (see _update_confusion_matrix)."""
    if not evenly:
        return convert_to_tensor(np.asarray(thresholds, np.float32))
    cuts = np.arange(len(thresholds), dtype=np.float32)
    if thresholds[0] < 0.0 or thresholds[-1] > 1.0:
        cuts[0] = -1.0  # the bucket is clamped at 0: every prediction counts there
    return convert_to_tensor(cuts)


def _counts_above(scores, cuts, weights):
    """For each cut c (a 1-D tensor) and each tensor w of `weights`: the sum of w over the
    predictions whose score is > c, as a list of one (cuts,) or, per label, (cuts, labels) tensor
    per w. `scores` and each w are (samples,) or, per label, (samples, labels)."""
    per_cut = max(1, math.prod(scores.shape))
    block = max(1, _COMPARE_BLOCK // per_cut)
    flat = scores.ndim == 1
    if flat:  # one (cuts, samples) @ (samples, len(weights)) product counts them all
        stacked = ops.stack(weights, axis=1)
    parts = []
    for start in range(0, cuts.shape[0], block):
        chunk = ops.reshape(cuts[start:start + block], (-1,) + (1,) * scores.ndim)
        above = ops.greater(ops.expand_dims(scores, 0), chunk)
        if flat:
            parts.append(ops.matmul(ops.cast(above, "float32"), stacked))
        else:
            parts.append(ops.stack([ops.sum(ops.where(above, ops.expand_dims(w, 0), 0.0), axis=1)
                                    for w in weights], axis=-1))
    counts = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=0)
    return [counts[..., i] for i in range(len(weights))]


def _update_confusion_matrix(variables, y_true, y_pred, cuts, top_k=None, class_id=None,
                             sample_weight=None, multi_label=False, label_weights=None,
                             thresholds_distributed_evenly=False):
    """Adds this batch's true/false positive/negative counts at each threshold to `variables`
    ({"tp"|"fp"|"tn"|"fn": Variable}), with Keras's update_confusion_matrix_variables algorithm
    (`cuts`: `_threshold_cuts` of the thresholds).
    A prediction is positive at threshold t when it is > t; for evenly spaced thresholds (AUC's)
    the decision is Keras's bucketing: bucket = ceil(p * (n - 1)) - 1 >= i, that is
    p * (n - 1) > i in float32 (at threshold 0 every prediction counts when the thresholds reach
    below 0). The negatives' counts are the totals minus the positives'."""
    with no_grad():
        y_true = _float(y_true)
        y_pred = _float(y_pred)
        num_thresholds = cuts.shape[0]
        y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
        if sample_weight is not None:
            sample_weight = ops.expand_dims(_float(sample_weight), -1)
            _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
        if top_k is not None:
            y_pred = _filter_top_k(y_pred, top_k)
        if class_id is not None:
            if y_pred.ndim == 1:
                raise ValueError(
                    "When class_id is provided, y_pred must be a 2D array with shape (num_samples, "
                    f"num_classes), found shape: {tuple(y_pred.shape)}")
            y_true = y_true[..., class_id:class_id + 1]
            y_pred = y_pred[..., class_id:class_id + 1]
        weights = ops.ones(y_pred.shape)
        if sample_weight is not None:
            weights = ops.multiply(weights, sample_weight)
        if label_weights is not None:
            weights = ops.multiply(weights, label_weights)
        is_true = ops.cast(ops.not_equal(y_true, 0.0), "float32")
        if thresholds_distributed_evenly:
            scores = ops.multiply(ops.clip(y_pred, 0.0, 1.0), float(num_thresholds - 1))
        else:
            scores = y_pred
        if not multi_label:
            scores, is_true, weights = (ops.reshape(t, (-1,)) for t in (scores, is_true, weights))
        true_weights = ops.multiply(is_true, weights)
        false_weights = ops.multiply(ops.subtract(1.0, is_true), weights)
        axis = 0 if multi_label else None
        need_false = _FP in variables or _TN in variables
        counts = _counts_above(scores, cuts, [true_weights, false_weights] if need_false else [true_weights])
        updates = {_TP: counts[0]}
        if _FN in variables:
            updates[_FN] = ops.subtract(ops.sum(true_weights, axis=axis), updates[_TP])
        if need_false:
            updates[_FP] = counts[1]
        if _TN in variables:
            updates[_TN] = ops.subtract(ops.sum(false_weights, axis=axis), updates[_FP])
        for key, variable in variables.items():
            _add_to(variable, updates[key])


class _ConfusionMatrixConditionCount(Metric):
    _condition = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = _parse_init_thresholds(thresholds, default_threshold=0.5)
        self._thresholds_distributed_evenly = _is_evenly_distributed(self.thresholds)
        self._cuts = _threshold_cuts(self.thresholds, self._thresholds_distributed_evenly)
        self.accumulator = self.add_variable(shape=(len(self.thresholds),), initializer="zeros",
                                             name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        _update_confusion_matrix({self._condition: self.accumulator}, y_true, y_pred, self._cuts,
                                 thresholds_distributed_evenly=self._thresholds_distributed_evenly,
                                 sample_weight=sample_weight)

    def result(self):
        if len(self.thresholds) == 1:
            return ops.reshape(self.accumulator.value, ())
        return _snapshot(self.accumulator)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


@keras_export("keras.metrics.TruePositives")
class TruePositives(_ConfusionMatrixConditionCount):
    """The (weighted) count of positives predicted as positive (y_pred > threshold)."""
    _condition = _TP


@keras_export("keras.metrics.FalsePositives")
class FalsePositives(_ConfusionMatrixConditionCount):
    """The (weighted) count of negatives predicted as positive."""
    _condition = _FP


@keras_export("keras.metrics.TrueNegatives")
class TrueNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) count of negatives predicted as negative."""
    _condition = _TN


@keras_export("keras.metrics.FalseNegatives")
class FalseNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) count of positives predicted as negative."""
    _condition = _FN


class _PrecisionRecall(Metric):
    _other = None  # "fp" for Precision, "fn" for Recall

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default_threshold = 0.5 if top_k is None else NEG_INF
        self.thresholds = _parse_init_thresholds(thresholds, default_threshold=default_threshold)
        self._thresholds_distributed_evenly = _is_evenly_distributed(self.thresholds)
        self._cuts = _threshold_cuts(self.thresholds, self._thresholds_distributed_evenly)
        n = len(self.thresholds)
        self.true_positives = self.add_variable(shape=(n,), initializer="zeros", name="true_positives")
        other = "false_positives" if self._other == _FP else "false_negatives"
        setattr(self, other, self.add_variable(shape=(n,), initializer="zeros", name=other))
        self._other_variable = getattr(self, other)

    def update_state(self, y_true, y_pred, sample_weight=None):
        _update_confusion_matrix({_TP: self.true_positives, self._other: self._other_variable},
                                 y_true, y_pred, self._cuts,
                                 thresholds_distributed_evenly=self._thresholds_distributed_evenly,
                                 top_k=self.top_k, class_id=self.class_id, sample_weight=sample_weight)

    def result(self):
        tp = self.true_positives.value
        value = _divide_no_nan(tp, ops.add(tp, self._other_variable.value))
        return ops.reshape(value, ()) if len(self.thresholds) == 1 else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


@keras_export("keras.metrics.Precision")
class Precision(_PrecisionRecall):
    """TP / (TP + FP) of `y_pred > thresholds` (one value per threshold; a scalar for one).

    `top_k` counts only each row's k largest predictions as positive; `class_id` restricts the
    metric to one class of a (batch, classes) prediction."""
    _other = _FP


@keras_export("keras.metrics.Recall")
class Recall(_PrecisionRecall):
    """TP / (TP + FN) of `y_pred > thresholds` (arguments as `Precision`)."""
    _other = _FN


_CURVES = {"roc": "ROC", "ROC": "ROC", "pr": "PR", "PR": "PR", "prgain": "PRGAIN", "PRGAIN": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation",
               "majoring": "majoring", "Majoring": "majoring", "minoring": "minoring", "Minoring": "minoring"}


@keras_export("keras.metrics.AUC")
class AUC(Metric):
    """Area under the ROC or PR curve, from confusion counts at `num_thresholds` thresholds
    (Keras's algorithm: thresholds evenly spaced in [0, 1] with -epsilon and 1 + epsilon at the ends,
    predictions bucketed, the curve summed with `summation_method`)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        if curve not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        if summation_method not in _SUMMATIONS:
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". '
                'Expected values are ["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            _check_num_thresholds(len(thresholds) + 2, "len(thresholds) + 2")
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            self._thresholds_distributed_evenly = _is_evenly_distributed(
                np.array([0.0] + thresholds + [1.0]))
        else:
            integral = isinstance(num_thresholds, (int, np.integer)) and not isinstance(num_thresholds, bool)
            if not integral or num_thresholds <= 1:  # Keras's message (it checks only <= 1)
                raise ValueError(
                    "Argument `num_thresholds` must be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds}")
            _check_num_thresholds(num_thresholds)
            num_thresholds = int(num_thresholds)
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._thresholds_distributed_evenly = True
        self._thresholds = np.array([0.0 - EPSILON] + thresholds + [1.0 + EPSILON])
        self._cuts = _threshold_cuts(self._thresholds, self._thresholds_distributed_evenly)
        self.curve = _CURVES[curve]
        self.summation_method = _SUMMATIONS[summation_method]
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float32)
        self._label_weights = None if label_weights is None else convert_to_tensor(self.label_weights)
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer))
                                           or num_labels < 0):
                raise ValueError(f"Argument `num_labels` must be a positive integer or None. Received: num_labels={num_labels!r}")
            if num_labels:
                self._build([None, int(num_labels)])
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(
                    "`y_pred` must have rank 2 when `multi_label=True`. "
                    f"Found rank {len(shape)}. Full shape received for `y_pred`: {shape}")
            self._num_labels = shape[1]
            if self._num_labels is not None and self.num_thresholds * self._num_labels > MAX_THRESHOLD_LABEL_COUNTS:
                raise ValueError(
                    f"A multi-label AUC with {self.num_thresholds} thresholds and {self._num_labels} labels would "
                    f"keep {self.num_thresholds * self._num_labels} counts per variable; lamina allows at most "
                    f"{MAX_THRESHOLD_LABEL_COUNTS} (MAX_THRESHOLD_LABEL_COUNTS). Use fewer thresholds or labels.")
            variable_shape = (self.num_thresholds, self._num_labels)
        else:
            variable_shape = (self.num_thresholds,)
        self.true_positives = self.add_variable(shape=variable_shape, initializer="zeros", name="true_positives")
        self.false_positives = self.add_variable(shape=variable_shape, initializer="zeros", name="false_positives")
        self.true_negatives = self.add_variable(shape=variable_shape, initializer="zeros", name="true_negatives")
        self.false_negatives = self.add_variable(shape=variable_shape, initializer="zeros", name="false_negatives")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._from_logits:
            y_pred = ops.sigmoid(y_pred)
        y_pred = _float(y_pred)
        if not self._built:
            self._build(y_pred.shape)
        _update_confusion_matrix(
            {_TP: self.true_positives, _TN: self.true_negatives, _FP: self.false_positives,
             _FN: self.false_negatives},
            y_true, y_pred, self._cuts,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight, multi_label=self.multi_label,
            label_weights=None if self.multi_label else self._label_weights)

    def _by_label(self, per_threshold):
        if not self.multi_label:
            return ops.sum(per_threshold)
        by_label = ops.sum(per_threshold, axis=0)
        if self._label_weights is None:
            return ops.mean(by_label)
        return _divide_no_nan(ops.sum(ops.multiply(by_label, self._label_weights)),
                              ops.sum(self._label_weights))

    def _interpolate_pr_auc(self, tp, fp, fn):
        n = self.num_thresholds
        dtp = ops.subtract(tp[:n - 1], tp[1:])
        p = ops.add(tp, fp)
        dp = ops.subtract(p[:n - 1], p[1:])
        prec_slope = _divide_no_nan(dtp, ops.maximum(dp, 0.0))
        intercept = ops.subtract(tp[1:], ops.multiply(prec_slope, p[1:]))
        both_positive = ops.logical_and(ops.greater(p[:n - 1], 0.0), ops.greater(p[1:], 0.0))
        safe_p_ratio = ops.where(both_positive, _divide_no_nan(p[:n - 1], ops.maximum(p[1:], 0.0)), 1.0)
        log_ratio = ops.log(safe_p_ratio)
        increment = _divide_no_nan(ops.multiply(prec_slope, ops.add(dtp, ops.multiply(intercept, log_ratio))),
                                   ops.maximum(ops.add(tp[1:], fn[1:]), 0.0))
        return self._by_label(increment)

    def result(self):
        if not self._built:
            return ops.zeros(())
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        n = self.num_thresholds
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, ops.add(tp, fn))
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, ops.add(fp, tn)), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, ops.add(tp, fp))
        else:  # PRGAIN
            scaling = _divide_no_nan(ops.add(tp, fn), ops.add(tn, fp))
            recall_gain = ops.subtract(1.0, ops.multiply(scaling, _divide_no_nan(fn, tp)))
            precision_gain = ops.subtract(1.0, ops.multiply(scaling, _divide_no_nan(fp, tp)))
            no_tp = ops.equal(tp, 0.0)
            x = ops.maximum(ops.where(no_tp, 0.0, recall_gain), 0.0)
            y = ops.where(no_tp, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = ops.divide(ops.add(y[:n - 1], y[1:]), 2.0)
        elif self.summation_method == "minoring":
            heights = ops.minimum(y[:n - 1], y[1:])
        else:
            heights = ops.maximum(y[:n - 1], y[1:])
        return self._by_label(ops.multiply(ops.subtract(x[:n - 1], x[1:]), heights))

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
