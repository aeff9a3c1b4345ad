"""Metrics with Keras 3's names, arguments, defaults and algorithms (`keras.metrics`).

A metric accumulates state over batches in non-trainable float32 `Variable`s (its `variables`):

    m = lamina.metrics.SparseCategoricalAccuracy()
    m.update_state(y_true, y_pred, sample_weight=None)
    float(m.result())
    m.reset_state()

Per-batch work stays in lamina: the metric functions (`sparse_categorical_accuracy`, ...) are
`lamina.ops` graphs returning per-sample values, and the reductions, the confusion-matrix counts of
`Precision`, `Recall` and `AUC` and the updates of the state variables (in place) are `lamina.ops`
too, in float32, as Keras computes them; `result()` is a float32 tensor. Nothing goes through NumPy
per batch; the trainer's `loss` log is a `Mean` metric too.
`resolve()` turns compile's metric strings ("accuracy", "acc", "mse", ...) into metrics as
Keras's `compile` does.
"""
import inspect

from lamina.utils.lookup import deserialize_from_table, serialize_object
from lamina.losses import (binary_crossentropy, categorical_crossentropy, mean_absolute_error,
                           mean_squared_error, sparse_categorical_crossentropy)
from lamina.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                     SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                                     TopKCategoricalAccuracy, accuracy, binary_accuracy,
                                     categorical_accuracy, sparse_categorical_accuracy,
                                     sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from lamina.metrics.base import Mean, MeanMetricWrapper, Metric, Sum
from lamina.metrics.confusion import (AUC, FalseNegatives, FalsePositives, Precision, Recall,
                                      TrueNegatives, TruePositives)
from lamina.metrics.regression import (BinaryCrossentropy, CategoricalCrossentropy, MeanAbsoluteError,
                                       MeanSquaredError, RootMeanSquaredError,
                                       SparseCategoricalCrossentropy)
from lamina.saving.object_registration import export_functions
from lamina.utils.naming import to_snake_case

__all__ = [
    "Metric", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "TruePositives", "FalsePositives",
    "TrueNegatives", "FalseNegatives", "Precision", "Recall", "AUC",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mean_squared_error",
    "mean_absolute_error", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "get", "resolve", "serialize", "deserialize",
]


# ---------------------------------------------------------------- lookup

_CLASSES = [Metric, Mean, Sum, MeanMetricWrapper, Accuracy, BinaryAccuracy, CategoricalAccuracy,
            SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
            MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError, BinaryCrossentropy,
            CategoricalCrossentropy, SparseCategoricalCrossentropy, TruePositives, FalsePositives,
            TrueNegatives, FalseNegatives, Precision, Recall, AUC]
_FUNCTIONS = {fn.__name__: fn for fn in [
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
    mean_absolute_error, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy]}
export_functions("metrics", _FUNCTIONS)  # the names configs and files use
# As Keras: class names and their snake_case forms (so "mse" and "mean_squared_error" are the
# MeanSquaredError metric, "accuracy" is Accuracy), plus the short aliases.
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in _CLASSES})
ALL_OBJECTS_DICT.update({"bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "mse": MeanSquaredError,
                         "MSE": MeanSquaredError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError})


def _object_name(obj):
    if hasattr(obj, "name"):
        return obj.name
    if hasattr(obj, "__name__"):
        return to_snake_case(obj.__name__)
    return to_snake_case(obj.__class__.__name__)


def serialize(metric):
    """A config dict for a `Metric` ({"class_name", "config"})."""
    return serialize_object(metric, "keras.metrics")


def deserialize(config, custom_objects=None):
    """The metric described by `config` (a dict from `serialize`, or a name)."""
    return deserialize_from_table(config, ALL_OBJECTS_DICT, "metric", custom_objects)


def get(identifier):
    """The `Metric` for `identifier`: a Keras metric name ("mse", "mean_absolute_error", "auc",
    "SparseCategoricalAccuracy", ...), a `Metric` instance or class, a config dict, or a function
    `fn(y_true, y_pred)` returning per-sample values (wrapped in `MeanMetricWrapper`). Returns None
    for None; unknown names raise ValueError.

    "accuracy" is the exact-match `Accuracy` here, as in `keras.metrics.get`; `resolve()` applies
    compile's rule that picks binary / categorical / sparse categorical accuracy."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier, None)
    else:
        obj = identifier
    if not callable(obj) and not isinstance(obj, Metric):
        raise ValueError(f"Could not interpret metric identifier: {identifier}")
    if inspect.isclass(obj):
        obj = obj()
    if not isinstance(obj, Metric):
        obj = MeanMetricWrapper(obj, name=_object_name(obj))
    return obj


def _shape_of(x):
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return tuple(getattr(x, "shape"))


def resolve(identifier, y_true_shape, y_pred_shape, loss=None):
    """The metric `compile(metrics=[identifier])` uses for targets / predictions of these shapes
    (Keras 3's compile_utils.get_metric):

    - "accuracy" / "acc" (any case): `BinaryAccuracy` when y_pred's last dimension is 1, else
      `SparseCategoricalAccuracy` when y_true has fewer dimensions than y_pred or a last dimension
      of 1 (and y_pred's is > 1), else `CategoricalAccuracy`;
    - anything else: `get(identifier)`.

    A string identifier becomes the metric's name ("acc" stays "acc", "mse" stays "mse"). `loss` is
    accepted for the trainer's convenience; as in Keras 3, it does not change the choice. The shapes
    may be tuples or arrays / tensors."""
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() in ("accuracy", "acc"):
        t, p = _shape_of(y_true_shape), _shape_of(y_pred_shape)
        t_last = t[-1] if t else None
        p_last = p[-1] if p else None
        is_binary = p_last == 1
        is_sparse = len(t) < len(p) or (t_last == 1 and p_last is not None and p_last > 1)
        if is_binary:
            metric = BinaryAccuracy(name=str(identifier))
        elif is_sparse:
            metric = SparseCategoricalAccuracy(name=str(identifier))
        else:
            metric = CategoricalAccuracy(name=str(identifier))
    else:
        metric = get(identifier)
    name = identifier if isinstance(identifier, str) else _object_name(metric)
    if not isinstance(metric, Metric):
        metric = MeanMetricWrapper(metric)
    metric.name = name
    return metric
