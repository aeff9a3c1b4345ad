"""Confusion-matrix metrics: TruePositives & co., Precision, Recall and AUC, with Keras's
update_confusion_matrix_variables algorithm (vectorised in NumPy, float32 counts)."""
import numpy as np

from lamina import ops
from lamina.utils.limits import MAX_NUM_THRESHOLDS, MAX_THRESHOLD_LABEL_COUNTS
from lamina.metrics.base import (_F32, EPSILON, NEG_INF, Metric, _divide_no_nan, _np, _result, _soe)
from lamina.saving.object_registration import keras_export

# ---------------------------------------------------------------- confusion-matrix metrics

_TP, _FP, _TN, _FN = "tp", "fp", "tn", "fn"

# largest (thresholds x predictions) comparison made at once for thresholds that are not evenly
# spaced (Precision / Recall / TruePositives ... with a `thresholds` list)
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
    even = np.arange(n, dtype=_F32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _filter_top_k(x, k):
    """`x` with every entry outside the top `k` of its last axis replaced by NEG_INF."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(x.shape, _F32)
    np.put_along_axis(mask, order, 1.0, axis=-1)
    return (x * mask + _F32(NEG_INF) * (1 - mask)).astype(_F32)


def _update_confusion_matrix(variables, y_true, y_pred, thresholds, top_k=None, class_id=None,
                             sample_weight=None, multi_label=False, label_weights=None,
                             thresholds_distributed_evenly=False):
    """Adds this batch's true/false positive/negative counts at each threshold to `variables`
    ({"tp"|"fp"|"tn"|"fn": Variable}), with Keras's update_confusion_matrix_variables algorithm:
    bucketing for evenly spaced thresholds, a (thresholds x predictions) comparison otherwise."""
    y_true = _np(y_true)
    y_pred = _np(y_pred)
    thresholds_with_epsilon = False
    if thresholds_distributed_evenly:
        thresholds_with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
    thresholds = np.asarray(thresholds, _F32)
    num_thresholds = thresholds.shape[0]
    y_pred, y_true = _soe(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = _np(sample_weight)[..., None]
        _, sample_weight = _soe(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape (num_samples, "
                f"num_classes), found shape: {y_pred.shape}")
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]
    if label_weights is not None:
        label_weights = np.broadcast_to(np.asarray(label_weights, _F32)[None], y_pred.shape)
    updates = {}
    if thresholds_distributed_evenly:
        weights = _F32(1.0)
        if sample_weight is not None:
            weights = np.broadcast_to(sample_weight, y_pred.shape)
        if label_weights is not None:
            weights = weights * label_weights
        weights = np.asarray(weights, _F32)
        y_pred = np.clip(y_pred, 0.0, 1.0).astype(_F32)
        y_true = (y_true != 0).astype(_F32)
        if not multi_label:
            y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
            if weights.ndim:
                weights = weights.reshape(-1)
        true_labels = y_true * weights
        false_labels = (1 - y_true) * weights
        buckets = np.ceil(y_pred * _F32(num_thresholds - 1)) - 1
        if thresholds_with_epsilon:
            buckets = np.maximum(buckets, 0)
        buckets = buckets.astype(np.int64)

        def bucket_counts(labels):
            # a segment sum over the buckets (out-of-range buckets dropped), then a reversed
            # cumulative sum: count at threshold i = weight of the predictions above it.
            if multi_label:
                n_labels = labels.shape[-1]
                ids = buckets + np.arange(n_labels) * num_thresholds
                keep = (buckets >= 0) & (buckets < num_thresholds)
                sums = np.bincount(ids[keep], weights=labels[keep], minlength=num_thresholds * n_labels)
                sums = sums.astype(_F32).reshape(n_labels, num_thresholds).T
            else:
                keep = (buckets >= 0) & (buckets < num_thresholds)
                sums = np.bincount(buckets[keep], weights=labels[keep], minlength=num_thresholds)
                sums = sums.astype(_F32)
            return np.flip(np.cumsum(np.flip(sums, 0), axis=0, dtype=_F32), 0)

        tp = bucket_counts(true_labels)
        fp = bucket_counts(false_labels)
        updates[_TP], updates[_FP] = tp, fp
        if _TN in variables or _FN in variables:
            axis = 0 if multi_label else None
            updates[_TN] = np.sum(false_labels, axis=axis, dtype=_F32) - fp
            updates[_FN] = np.sum(true_labels, axis=axis, dtype=_F32) - tp
    else:
        label_is_pos = y_true != 0
        label_is_pos = label_is_pos[None] if multi_label else label_is_pos.reshape(1, -1)
        weights = None
        if sample_weight is not None:
            weights = np.broadcast_to(sample_weight, y_pred.shape).astype(_F32)
        if label_weights is not None and not multi_label:
            weights = label_weights if weights is None else weights * label_weights
        if weights is not None:
            weights = weights[None] if multi_label else weights.reshape(1, -1)

        def count(label, pred):
            both = label & pred
            if weights is None:
                return np.sum(both, axis=1, dtype=_F32)
            return np.sum(np.where(both, weights, _F32(0)), axis=1, dtype=_F32)

        keys = [_TP] + [k for k, needed in ((_FN, _FN in variables or _TN in variables),
                                            (_FP, _FP in variables or _TN in variables),
                                            (_TN, _TN in variables)) if needed]
        parts = {k: [] for k in keys}
        # (thresholds, predictions[, labels]) comparisons, a block of thresholds at a time so
        # that a long `thresholds` list never makes a matrix of more than _COMPARE_BLOCK entries
        block = max(1, _COMPARE_BLOCK // max(1, y_pred.size))
        for start in range(0, num_thresholds, block):
            chunk = thresholds[start:start + block]
            if multi_label:
                pred_is_pos = y_pred[None] > chunk.reshape(-1, 1, 1)
            else:
                pred_is_pos = y_pred.reshape(1, -1) > chunk.reshape(-1, 1)
            for k in keys:
                label = label_is_pos if k in (_TP, _FN) else ~label_is_pos
                pred = pred_is_pos if k in (_TP, _FP) else ~pred_is_pos
                parts[k].append(count(label, pred))
        for k in keys:
            updates[k] = np.concatenate(parts[k], axis=0)
    for key, variable in variables.items():
        variable.assign(variable.numpy() + updates[key])


class _ConfusionMatrixConditionCount(Metric):
    _condition = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = _parse_init_thresholds(thresholds, default_threshold=0.5)
        self._thresholds_distributed_evenly = _is_evenly_distributed(self.thresholds)
        self.accumulator = self.add_variable(shape=(len(self.thresholds),), initializer="zeros",
                                             name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        _update_confusion_matrix({self._condition: self.accumulator}, y_true, y_pred, self.thresholds,
                                 thresholds_distributed_evenly=self._thresholds_distributed_evenly,
                                 sample_weight=sample_weight)

    def result(self):
        value = self.accumulator.numpy()
        return _result(value[0] if len(self.thresholds) == 1 else value)

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
        n = len(self.thresholds)
        self.true_positives = self.add_variable(shape=(n,), initializer="zeros", name="true_positives")
        other = "false_positives" if self._other == _FP else "false_negatives"
        setattr(self, other, self.add_variable(shape=(n,), initializer="zeros", name=other))
        self._other_variable = getattr(self, other)

    def update_state(self, y_true, y_pred, sample_weight=None):
        _update_confusion_matrix({_TP: self.true_positives, self._other: self._other_variable},
                                 y_true, y_pred, self.thresholds,
                                 thresholds_distributed_evenly=self._thresholds_distributed_evenly,
                                 top_k=self.top_k, class_id=self.class_id, sample_weight=sample_weight)

    def result(self):
        tp = self.true_positives.numpy()
        value = _divide_no_nan(tp, tp + self._other_variable.numpy())
        return _result(value[0] if len(self.thresholds) == 1 else value)

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
        self.curve = _CURVES[curve]
        self.summation_method = _SUMMATIONS[summation_method]
        super().__init__(name=name, dtype=dtype)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, _F32)
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
        y_pred = _np(y_pred)
        if not self._built:
            self._build(y_pred.shape)
        _update_confusion_matrix(
            {_TP: self.true_positives, _TN: self.true_negatives, _FP: self.false_positives,
             _FN: self.false_negatives},
            y_true, y_pred, self._thresholds,
            thresholds_distributed_evenly=self._thresholds_distributed_evenly,
            sample_weight=sample_weight, multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights)

    def _by_label(self, per_threshold):
        if not self.multi_label:
            return np.sum(per_threshold, dtype=_F32)
        by_label = np.sum(per_threshold, axis=0, dtype=_F32)
        if self.label_weights is None:
            return np.mean(by_label, dtype=_F32)
        return _divide_no_nan(np.sum(by_label * self.label_weights, dtype=_F32),
                              np.sum(self.label_weights, dtype=_F32))

    def _interpolate_pr_auc(self, tp, fp, fn):
        n = self.num_thresholds
        dtp = tp[:n - 1] - tp[1:]
        p = tp + fp
        dp = p[:n - 1] - p[1:]
        prec_slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        safe_p_ratio = np.where((p[:n - 1] > 0) & (p[1:] > 0),
                                _divide_no_nan(p[:n - 1], np.maximum(p[1:], 0)), _F32(1))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.log(safe_p_ratio).astype(_F32)
        increment = _divide_no_nan(prec_slope * (dtp + intercept * log_ratio),
                                   np.maximum(tp[1:] + fn[1:], 0))
        return self._by_label(increment)

    def result(self):
        if not self._built:
            return _result(0.0)
        tp, fp = self.true_positives.numpy(), self.false_positives.numpy()
        tn, fn = self.true_negatives.numpy(), self.false_negatives.numpy()
        n = self.num_thresholds
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _result(self._interpolate_pr_auc(tp, fp, fn))
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scaling = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scaling * _divide_no_nan(fn, tp)
            precision_gain = 1.0 - scaling * _divide_no_nan(fp, tp)
            x = np.maximum(np.where(tp == 0, _F32(0), recall_gain), 0).astype(_F32)
            y = np.where(tp == 0, _F32(1), precision_gain).astype(_F32)
        if self.summation_method == "interpolation":
            heights = (y[:n - 1] + y[1:]) / _F32(2)
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:n - 1], y[1:])
        else:
            heights = np.maximum(y[:n - 1], y[1:])
        return _result(self._by_label((x[:n - 1] - x[1:]) * heights))

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
