"""Accuracy metrics: per-sample functions as `lamina.ops` graphs, and their `MeanMetricWrapper`s."""
from lamina import ops
from lamina.backend import convert_to_tensor
from lamina.losses import squeeze_or_expand_to_same_rank
from lamina.metrics.base import MeanMetricWrapper
from lamina.saving.object_registration import keras_export

# ---------------------------------------------------------------- metric functions (per sample)


def accuracy(y_true, y_pred):
    """1.0 where `y_true == y_pred` exactly, else 0.0."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.cast(ops.equal(y_true, y_pred), "float32")


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where `(y_pred > threshold) == y_true`, else 0.0."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = ops.cast(ops.greater(y_pred, float(threshold)), y_true.dtype)
    return ops.cast(ops.equal(y_true, y_pred), "float32")


def categorical_accuracy(y_true, y_pred):
    """1.0 where `argmax(y_true) == argmax(y_pred)` along the last axis, else 0.0."""
    y_true = ops.argmax(y_true, axis=-1)
    y_pred = convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    y_true_org_shape = tuple(y_true.shape)
    reshape_matches = False
    if y_true.ndim == y_pred.ndim:
        y_true = ops.squeeze(y_true, -1)
        reshape_matches = True
    y_pred = ops.cast(ops.argmax(y_pred, axis=-1), y_true.dtype)
    matches = ops.cast(ops.equal(y_true, y_pred), "float32")
    if reshape_matches:
        matches = ops.reshape(matches, y_true_org_shape)
    return matches


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label `y_true` equals `argmax(y_pred)` along the last axis, else 0.0."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype)
    y_true_org_shape = tuple(y_true.shape)
    reshape_matches = False
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
        reshape_matches = True
    y_pred = ops.cast(ops.argmax(y_pred, axis=-1), y_true.dtype)
    matches = ops.cast(ops.equal(y_true, y_pred), "float32")
    if reshape_matches:
        matches = ops.reshape(matches, y_true_org_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = ops.squeeze(matches, -1)
    return matches


def _in_top_k(targets, predictions, k):
    """Whether each target's prediction is among the `k` largest of its row (ties count as in)."""
    num_classes = predictions.shape[-1]
    hot = ops.cast(ops.one_hot(targets, num_classes), "bool")
    target_values = ops.sum(ops.where(hot, predictions, 0.0), axis=-1, keepdims=True)
    above = ops.sum(ops.cast(ops.greater(predictions, target_values), "int32"), axis=-1)
    return ops.less(above, int(k))


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the class of the one-hot `y_true` is among the top `k` of `y_pred`, else 0.0."""
    y_pred = ops.cast(convert_to_tensor(y_pred), "float32")
    y_true = ops.argmax(convert_to_tensor(y_true), axis=-1)
    y_true_org_shape = tuple(y_true.shape)
    if y_pred.ndim > 2:
        y_pred = ops.reshape(y_pred, [-1, y_pred.shape[-1]])
    if y_true.ndim > 1:
        y_true = ops.reshape(y_true, [-1])
    matches = ops.cast(_in_top_k(y_true, y_pred, k), "float32")
    return ops.reshape(matches, y_true_org_shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label `y_true` is among the top `k` of `y_pred` (or, with
    `from_sorted_ids`, among the first `k` ids of each row of `y_pred`), else 0.0."""
    y_pred = convert_to_tensor(y_pred)
    y_true = convert_to_tensor(y_true, dtype=y_pred.dtype if from_sorted_ids else "int32")
    y_true_org_shape = tuple(y_true.shape)
    if y_pred.ndim > 2:
        y_pred = ops.reshape(y_pred, [-1, y_pred.shape[-1]])
    if y_true.ndim > 1:
        y_true = ops.reshape(y_true, [-1])
    if from_sorted_ids:
        hits = ops.equal(ops.expand_dims(y_true, 1), y_pred[:, :k])
        matches = ops.greater(ops.sum(ops.cast(hits, "int32"), axis=1), 0)
    else:
        matches = _in_top_k(y_true, ops.cast(y_pred, "float32"), k)
    return ops.reshape(ops.cast(matches, "float32"), y_true_org_shape)


# ---------------------------------------------------------------- accuracy metrics


@keras_export("keras.metrics.Accuracy")
class Accuracy(MeanMetricWrapper):
    """How often `y_pred` equals `y_true` exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras_export("keras.metrics.BinaryAccuracy")
class BinaryAccuracy(MeanMetricWrapper):
    """How often `y_pred > threshold` matches the binary labels."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(fn=binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


@keras_export("keras.metrics.CategoricalAccuracy")
class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of `y_pred` matches the argmax of the one-hot labels."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(fn=categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras_export("keras.metrics.SparseCategoricalAccuracy")
class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of `y_pred` matches the integer labels."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(fn=sparse_categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras_export("keras.metrics.TopKCategoricalAccuracy")
class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is in the top `k` predictions."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(fn=top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


@keras_export("keras.metrics.SparseTopKCategoricalAccuracy")
class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is in the top `k` predictions."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(fn=sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k = k
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config
