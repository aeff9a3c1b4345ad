"""Losses with Keras 3's names, arguments, defaults and numerics (`keras.losses`).

Every loss is a graph of `lamina.ops`, so a `GradientTape` (or the training step) records it and
gradients flow to `y_pred`. A `Loss` object reduces the per-sample losses of `call()` with Keras's
default reduction "sum_over_batch_size": the sum of the (weighted) per-sample losses divided by
their number.

    loss_fn = lamina.losses.get("sparse_categorical_crossentropy")
    value = loss_fn(y_true, y_pred, sample_weight=None)   # 0-d float32 tensor

Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does; `from_logits=True` paths are
computed in a numerically stable form.
"""
import inspect
import math
import warnings
import weakref

from lamina.utils.lookup import deserialize_from_table, serialize_object
from lamina import ops
from lamina.backend import Tensor, convert_to_tensor, standardize_dtype
from lamina.utils.naming import auto_name, to_snake_case
from lamina.saving.object_registration import builtin_function_name, export_functions, keras_export

__all__ = [
    "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "Huber",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "mean_squared_error", "mse", "MSE", "mean_absolute_error", "mae", "MAE", "huber",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "get", "resolve", "serialize", "deserialize", "squeeze_or_expand_to_same_rank",
    "reduce_weighted_values",
]

EPSILON = 1e-7  # keras.backend.epsilon()

_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


# ---------------------------------------------------------------- masks

# Keras attaches a mask to a loss tensor (`ignore_class`); lamina's tensors take no attributes, so
# the mask lives here, keyed by the tensor object and dropped when the tensor goes.
_masks = {}


def _set_mask(tensor, mask):
    key = id(tensor)

    def drop(ref, key=key):
        entry = _masks.get(key)
        if entry is not None and entry[0] is ref:
            del _masks[key]

    _masks[key] = (weakref.ref(tensor, drop), mask)


def _get_mask(tensor):
    entry = _masks.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1]


# ---------------------------------------------------------------- helpers


def _float(x):
    """Any accepted value -> float32 tensor (keeps the graph of float32 tensors)."""
    x = convert_to_tensor(x)
    return x if x.dtype == "float32" else ops.cast(x, "float32")


def _labels(x):
    """Labels for the sparse loss: integer labels stay integers (exact for any class count),
    anything else becomes float32 as Keras casts it."""
    x = convert_to_tensor(x)
    return x if x.dtype in ("int32", "int64", "float32") else ops.cast(x, "float32")


_ZERO, _ONE = ops.zeros(()), ops.ones(())  # made once: the metrics divide every batch


def _divide_no_nan(x, y):
    """x / y, 0 where y == 0 (a graph of ops: gradients flow through x)."""
    y = _float(y)
    zero = ops.equal(y, _ZERO)
    return ops.where(zero, _ZERO, ops.divide(x, ops.where(zero, _ONE, y)))


def standardize_reduction(reduction):
    if reduction not in _REDUCTIONS:
        allowed = {"sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight"}
        raise ValueError(
            "Invalid value for argument `reduction`. "
            f"Expected one of {allowed}. Received: "
            f"reduction={reduction}")
    return reduction


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: when the ranks differ by exactly one and the longer one ends in 1, squeeze
    that dimension, or (when the other is 1-D and `expand_rank_1`) expand the 1-D one instead."""
    x1_rank, x2_rank = len(x1.shape), len(x2.shape)
    if x1_rank == x2_rank:
        return x1, x2
    if x1_rank == x2_rank + 1 and x1.shape[-1] == 1:
        if x2_rank == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, axis=-1)
        else:
            x1 = ops.squeeze(x1, axis=-1)
    if x2_rank == x1_rank + 1 and x2.shape[-1] == 1:
        if x1_rank == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, axis=-1)
        else:
            x2 = ops.squeeze(x2, axis=-1)
    return x1, x2


def apply_mask(sample_weight, mask, dtype="float32", reduction="sum_over_batch_size"):
    """Merges a mask into the sample weights (Keras's rule: for the mean reductions the valid entries
    are scaled by total/valid, so that dividing by the total divides by the valid count)."""
    if mask is None:
        return sample_weight
    mask = convert_to_tensor(mask)
    if reduction in ("mean", "sum_over_batch_size"):
        total = float(mask.size)
        valid = ops.sum(ops.cast(mask, "float32"))
        mask_weight = _divide_no_nan(ops.full((), total, "float32"), valid)
        float_mask = ops.where(ops.cast(mask, "bool"), mask_weight, 0.0)
    else:
        float_mask = ops.cast(mask, "float32")
    if sample_weight is not None:
        sample_weight = _float(sample_weight)
        float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
        sample_weight = ops.multiply(sample_weight, float_mask)
    else:
        sample_weight = float_mask
    return sample_weight


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    shape = tuple(values.shape)
    if reduction is None or reduction == "none" or shape == () or shape == (0,):
        return values
    loss = ops.sum(values)
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            loss = _divide_no_nan(loss, ops.sum(sample_weight))
        else:
            count = math.prod(shape)
            loss = ops.divide(loss, float(count)) if count else ops.multiply(loss, 0.0)
    return loss


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size",
                           dtype=None):
    """Weights per-sample `values` by `sample_weight` (and `mask`) and reduces them (Keras's
    `reduce_weighted_values`)."""
    reduction = standardize_reduction(reduction)
    values = _float(values)
    if sample_weight is not None:
        sample_weight = _float(sample_weight)
    sample_weight = apply_mask(sample_weight, mask, reduction=reduction)
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        values = ops.multiply(values, sample_weight)
    return reduce_values(values, sample_weight, reduction)


# ---------------------------------------------------------------- base classes


@keras_export("keras.losses.Loss")
class Loss:
    """Loss base class (`keras.losses.Loss`).

    Subclasses implement `call(y_true, y_pred)`, returning the per-sample losses; calling the
    object converts the inputs to float32, weights the losses by `sample_weight` and reduces them.

    Args:
        name: the loss's name (default: the class name in snake case).
        reduction: "sum_over_batch_size" (default), "sum", "mean", "mean_with_sample_weight", or
            None / "none" for no reduction.
        dtype: the compute dtype; lamina computes losses in float32.
    """

    # The sparse cross-entropy keeps integer labels as integers (Keras casts them to float and back).
    _keeps_integer_labels = False

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or auto_name(to_snake_case(self.__class__.__name__))
        self.reduction = standardize_reduction(reduction)
        if dtype is not None and standardize_dtype(dtype) != "float32":
            raise ValueError(f"lamina computes losses in float32; received dtype={dtype}")
        self._dtype = "float32"

    @property
    def dtype(self):
        return self._dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _float(y_pred)
        y_true = _labels(y_true) if self._keeps_integer_labels else _float(y_true)
        losses = self.call(y_true, y_pred)
        mask = _get_mask(losses) if type(losses) is Tensor else None
        return reduce_weighted_values(losses, sample_weight=sample_weight, mask=mask,
                                      reduction=self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{self.__class__.__name__} name={self.name}>"


@keras_export("keras.losses.LossFunctionWrapper")
class LossFunctionWrapper(Loss):
    """A `Loss` from a function `fn(y_true, y_pred, **kwargs)` returning per-sample losses; before
    calling it, `y_true` and `y_pred` are squeezed or expanded to the same rank as Keras does."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        if fn is sparse_categorical_crossentropy:
            self._keeps_integer_labels = True

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config["fn"] = _function_name(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "fn" in config:
            fn = config["fn"]
            if isinstance(fn, str):
                resolved = _FUNCTIONS.get(fn)
                if resolved is None:
                    raise ValueError(f"Could not interpret loss identifier: {fn}")
                config["fn"] = resolved
        return cls(**config)

    def __repr__(self):
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


def _function_name(fn):
    return builtin_function_name("losses", fn) or getattr(fn, "__name__", repr(fn))


# ---------------------------------------------------------------- loss functions (per sample)


def mean_squared_error(y_true, y_pred):
    """`mean(square(y_true - y_pred), axis=-1)`."""
    y_pred = _float(y_pred)
    y_true = _float(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """`mean(abs(y_true - y_pred), axis=-1)`."""
    y_pred = _float(y_pred)
    y_true = _float(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


def huber(y_true, y_pred, delta=1.0):
    """Huber loss: `0.5 x^2` where |x| <= delta, else `delta |x| - 0.5 delta^2`, averaged over the
    last axis (x = y_pred - y_true)."""
    y_pred = _float(y_pred)
    y_true = _float(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    delta = float(delta)
    error = ops.subtract(y_pred, y_true)
    abs_error = ops.abs(error)
    half_sq = ops.multiply(ops.square(error), 0.5)
    linear = ops.subtract(ops.multiply(abs_error, delta), 0.5 * delta * delta)
    return ops.mean(ops.where(ops.less_equal(abs_error, delta), half_sq, linear), axis=-1)


def _same_shape(target, output):
    if tuple(target.shape) != tuple(output.shape):
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. "
            "Received: "
            f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}")


def _binary_crossentropy_elementwise(target, output, from_logits):
    _same_shape(target, output)
    if from_logits:
        # softplus(x) - t x, written per sign of x so that no large terms cancel:
        #   x >= 0: (1 - t) x + softplus(-x)      x < 0: softplus(x) - t x
        # (the same values as Keras's max(x, 0) - x t + log(1 + exp(-|x|)), with the exact
        # derivative sigmoid(x) - t everywhere, x = 0 included).
        tx = ops.multiply(target, output)
        pos = ops.add(ops.subtract(output, tx), ops.softplus(ops.negative(output)))
        neg = ops.subtract(ops.softplus(output), tx)
        return ops.where(ops.greater_equal(output, 0.0), pos, neg)
    output = ops.clip(output, EPSILON, 1.0 - EPSILON)
    return ops.negative(ops.add(ops.multiply(target, ops.log(output)),
                                ops.multiply(ops.subtract(1.0, target),
                                             ops.log(ops.subtract(1.0, output)))))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy averaged over `axis`; `label_smoothing` squeezes labels towards 0.5."""
    y_pred = _float(y_pred)
    y_true = _float(y_true)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    return ops.mean(_binary_crossentropy_elementwise(y_true, y_pred, from_logits), axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy between one-hot (or soft) labels and probabilities / logits along `axis`.

    With `label_smoothing`, labels become `y * (1 - s) + s / num_classes`."""
    if isinstance(axis, bool):
        raise ValueError(
            "`axis` must be of type `int`. "
            f"Received: axis={axis} of type {type(axis)}")
    y_pred = _float(y_pred)
    y_true = _float(y_true)
    if y_pred.ndim and y_pred.shape[-1] == 1:
        warnings.warn(
            "In loss categorical_crossentropy, expected "
            "y_pred.shape to be (batch_size, num_classes) "
            f"with num_classes > 1. Received: y_pred.shape={tuple(y_pred.shape)}. "
            "Consider using 'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning, stacklevel=2)
    if label_smoothing:
        num_classes = float(y_true.shape[-1])
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / num_classes)
    _same_shape(y_true, y_pred)
    if y_true.ndim < 1:
        raise ValueError(
            "Arguments `target` and `output` must be at least rank 1. "
            "Received: "
            f"target.shape={tuple(y_true.shape)}, output.shape={tuple(y_pred.shape)}")
    if from_logits:
        log_prob = ops.log_softmax(y_pred, axis=axis)
    else:
        probs = ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True))
        log_prob = ops.log(ops.clip(probs, EPSILON, 1.0 - EPSILON))
    return ops.negative(ops.sum(ops.multiply(y_true, log_prob), axis=axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Cross-entropy between integer labels and probabilities / logits along `axis` (one fused C++
    op). Labels outside [0, num_classes) raise IndexError. With `ignore_class`, entries whose label
    is that class give 0 and are left out of the mean reduction."""
    y_pred = _float(y_pred)
    y_true = _labels(y_true)
    if y_pred.ndim < 1:
        raise ValueError(
            "Argument `output` must be at least rank 1. "
            "Received: "
            f"output.shape={tuple(y_pred.shape)}")
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = ops.squeeze(y_true, axis=axis)
    class_axis = axis % y_pred.ndim
    lead = tuple(d for i, d in enumerate(y_pred.shape) if i != class_axis)
    if tuple(y_true.shape) != lead:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape "
            "up until the last dimension: "
            f"target.shape={tuple(y_true.shape)}, output.shape={tuple(y_pred.shape)}")
    valid = None
    if ignore_class is not None:
        valid = ops.not_equal(y_true, ignore_class)
        y_true = ops.where(valid, y_true, ops.zeros((), y_true.dtype))
        # Ignored rows get uniform inputs (Keras zeroes them): their loss is masked out below, and
        # ones keep the probability path free of 0/0 in both passes.
        y_pred = ops.where(ops.expand_dims(valid, class_axis), y_pred, 1.0)
    res = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)
    if valid is not None:
        res = ops.where(valid, res, 0.0)
        _set_mask(res, valid)
    return res


# ---------------------------------------------------------------- loss classes


@keras_export("keras.losses.MeanSquaredError")
class MeanSquaredError(LossFunctionWrapper):
    """Mean of squares of errors: `mean(square(y_true - y_pred))`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        return Loss.get_config(self)


@keras_export("keras.losses.MeanAbsoluteError")
class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors: `mean(abs(y_true - y_pred))`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        return Loss.get_config(self)


@keras_export("keras.losses.Huber")
class Huber(LossFunctionWrapper):
    """Huber loss with threshold `delta` (quadratic inside, linear outside)."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, name=name, reduction=reduction, dtype=dtype, delta=delta)
        self.delta = delta

    def get_config(self):
        config = Loss.get_config(self)
        config["delta"] = self.delta  # Keras leaves it out; keeping it makes from_config round-trip
        return config


class _SmoothedCrossentropy(LossFunctionWrapper):
    """Shared by the binary and categorical cross-entropies: `from_logits`, `label_smoothing`, `axis`."""

    _fn = None
    _default_name = None

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(type(self)._fn, name=name or self._default_name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self):
        config = Loss.get_config(self)
        config.update({"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                       "axis": self.axis})
        return config


@keras_export("keras.losses.BinaryCrossentropy")
class BinaryCrossentropy(_SmoothedCrossentropy):
    """Binary cross-entropy between 0/1 labels and probabilities (or logits with
    `from_logits=True`), averaged over `axis`."""

    _fn = staticmethod(binary_crossentropy)
    _default_name = "binary_crossentropy"


@keras_export("keras.losses.CategoricalCrossentropy")
class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy between one-hot labels and probabilities (or logits)."""

    _fn = staticmethod(categorical_crossentropy)
    _default_name = "categorical_crossentropy"


@keras_export("keras.losses.SparseCategoricalCrossentropy")
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy between integer labels and probabilities (or logits, through one fused op)."""

    _keeps_integer_labels = True

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 axis=-1, name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, name=name, reduction=reduction,
                         dtype=dtype, from_logits=from_logits, ignore_class=ignore_class, axis=axis)
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def get_config(self):
        config = Loss.get_config(self)
        config.update({"from_logits": self.from_logits, "ignore_class": self.ignore_class,
                       "axis": self.axis})
        return config


# ---------------------------------------------------------------- lookup

_CLASSES = [Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError, Huber,
            BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy]
_FUNCTIONS = {
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
export_functions("losses", _FUNCTIONS)  # the names configs and files use
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update(_FUNCTIONS)
ALL_OBJECTS_DICT.update({
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mse": mean_squared_error, "MSE": mean_squared_error,
})


def serialize(loss):
    """A config dict for a `Loss` ({"class_name", "config"}) or the name of a loss function."""
    if isinstance(loss, Loss):
        return serialize_object(loss, "keras.losses")
    return _function_name(loss)


def deserialize(config, custom_objects=None):
    """The loss described by `config` (a dict from `serialize`, or a name)."""
    return deserialize_from_table(config, ALL_OBJECTS_DICT, "loss", custom_objects, functions=True)


def get(identifier):
    """The `Loss` object for `identifier`: a Keras loss name or alias ("mse", "mae",
    "binary_crossentropy", "SparseCategoricalCrossentropy", ...), a `Loss` instance or class, a config
    dict, or a function `fn(y_true, y_pred)` returning per-sample losses (wrapped so that it reduces
    as Keras's `LossFunctionWrapper`). Returns None for None.

    Unlike `keras.losses.get`, which returns loss *functions* for function names, this always
    returns a `Loss` object (as `compile` wraps them in Keras), named after the string given.
    Unknown names raise ValueError."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier, None)
    else:
        obj = identifier
    if not callable(obj):
        raise ValueError(f"Could not interpret loss identifier: {identifier}")
    if inspect.isclass(obj):
        obj = obj()
    if not isinstance(obj, Loss):
        if isinstance(identifier, str):
            name = identifier
        else:
            name = getattr(obj, "name", None) or to_snake_case(getattr(obj, "__name__", type(obj).__name__))
        obj = LossFunctionWrapper(obj, name=name)
    return obj


def _shape_of(x):
    return tuple(x) if isinstance(x, (tuple, list)) else tuple(getattr(x, "shape"))


def resolve(identifier, y_true_shape, y_pred_shape):
    """What `compile(loss=identifier)` uses: `get(identifier)`, except that "crossentropy" / "ce"
    pick binary, sparse categorical or categorical cross-entropy from the shapes as Keras does."""
    if identifier is None:
        return None
    if str(identifier).lower() in ("crossentropy", "ce"):
        t, p = _shape_of(y_true_shape), _shape_of(y_pred_shape)
        is_binary = p[-1] == 1
        is_sparse = len(t) < len(p) or (t[-1] == 1 and p[-1] > 1)
        fn = (binary_crossentropy if is_binary else
              sparse_categorical_crossentropy if is_sparse else categorical_crossentropy)
        return LossFunctionWrapper(fn, name=str(identifier))
    return get(identifier)
