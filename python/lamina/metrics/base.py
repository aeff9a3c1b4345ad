"""The metric base class, the shared NumPy helpers, and the reduction metrics `Sum`, `Mean` and
`MeanMetricWrapper` (Keras's reduce_to_samplewise_values rules for sample weights)."""
import numpy as np

from lamina import initializers as _initializers
from lamina import losses as _losses
from lamina.backend import Tensor, convert_to_numpy, convert_to_tensor, standardize_dtype
from lamina.utils.naming import auto_name, to_snake_case
from lamina.variables import Variable
from lamina.saving.object_registration import keras_export

EPSILON = 1e-7  # keras.backend.epsilon()
NEG_INF = -1e10  # Keras's stand-in for -inf in top_k filtering

_F32 = np.float32


def _np(x, dtype=_F32):
    """A tensor, Variable, array, list or scalar as a NumPy array of `dtype`."""
    return np.asarray(convert_to_numpy(x), dtype=dtype)


def _soe(x1, x2, expand_rank_1=True):
    """Keras's squeeze_or_expand_to_same_rank on NumPy arrays."""
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


def _divide_no_nan(x, y):
    x = np.asarray(x, _F32)
    y = np.asarray(y, _F32)
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), _F32)
    np.divide(x, y, out=out, where=np.broadcast_to(y != 0, out.shape))
    return out


def _result(value):
    """A metric result: a float32 Tensor (0-d for scalars), convertible with float()."""
    return convert_to_tensor(np.asarray(value, _F32))


# ---------------------------------------------------------------- base classes


@keras_export("keras.metrics.Metric")
class Metric:
    """Metric base class (`keras.metrics.Metric`): subclasses create state with `add_variable`, and
    implement `update_state(...)` and `result()`; `reset_state()` zeroes every variable."""

    def __init__(self, dtype=None, name=None):
        self.name = name or auto_name(to_snake_case(self.__class__.__name__))
        if dtype is not None and standardize_dtype(dtype) != "float32":
            raise ValueError(f"lamina metrics compute in float32; received dtype={dtype}")
        self._dtype = "float32"
        self._variables = []
        self._metrics = []

    def __setattr__(self, name, value):
        if isinstance(value, Metric) and "_metrics" in self.__dict__ and value not in self._metrics:
            self._metrics.append(value)
        super().__setattr__(name, value)

    @property
    def dtype(self):
        return self._dtype

    def _check_super_called(self):
        if "_variables" not in self.__dict__:
            raise RuntimeError(
                "You forgot to call `super().__init__()` in the `__init__()` method. Go add it!")

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A non-trainable state variable, tracked in `variables` (path `<metric>/<name>`)."""
        self._check_super_called()
        if initializer is None or isinstance(initializer, (str, dict)):
            initializer = _initializers.get(initializer or "zeros")
        variable = Variable(initializer, shape=tuple(shape), dtype=dtype or self._dtype,
                            trainable=False, name=name)
        variable.path = f"{self.name}/{variable.name}"
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self):
        variables = list(self._variables)
        for metric in self._metrics:
            variables.extend(metric.variables)
        return variables

    def reset_state(self):
        for v in self.variables:
            v.assign(np.zeros(v.shape, dtype=v.dtype))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self._check_super_called()
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{self.__class__.__name__} name={self.name}>"

    __str__ = __repr__


def _apply_mask(sample_weight, mask):
    """Keras's apply_mask with reduction "sum": the mask multiplies the sample weights."""
    if mask is None:
        return sample_weight
    float_mask = _np(mask)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = _soe(float_mask, sample_weight)
    return sample_weight * float_mask


def _samplewise(values, sample_weight, reduce_fn, mask=None):
    """Keras's reduce_to_samplewise_values: weights `values` and reduces every axis after the first
    (the weights' trailing axes too), with `reduce_fn` (np.mean or np.sum)."""
    values = _np(values)
    if sample_weight is not None:
        sample_weight = _np(sample_weight)
        sample_weight = _apply_mask(sample_weight, mask)
        values, sample_weight = _soe(values, sample_weight)
        weight_ndim, values_ndim = sample_weight.ndim, values.ndim
        if values_ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values_ndim)))
        sample_weight = np.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return np.asarray(values, _F32), sample_weight


@keras_export("keras.metrics.Sum")
class Sum(Metric):
    """The (weighted) sum of the values given to `update_state(values, sample_weight=None)`."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = _samplewise(values, sample_weight, np.sum)
        self.total.assign(self.total.numpy() + np.sum(values, dtype=_F32))

    def result(self):
        return _result(self.total.numpy())


@keras_export("keras.metrics.Mean")
class Mean(Metric):
    """The (weighted) mean of the values given to `update_state(values, sample_weight=None)`."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def _accumulate(self, values, sample_weight, mask=None):
        if mask is None and type(values) is Tensor:
            mask = _losses._get_mask(values)
        values, sample_weight = _samplewise(values, sample_weight, np.mean, mask)
        self.total.assign(self.total.numpy() + np.sum(values, dtype=_F32))
        if sample_weight is not None:
            num_samples = np.sum(sample_weight, dtype=_F32)
        elif values.ndim >= 1:
            num_samples = values.shape[0]
        else:
            num_samples = 1
        self.count.assign(self.count.numpy() + _F32(num_samples))

    def update_state(self, values, sample_weight=None):
        self._accumulate(values, sample_weight)

    def result(self):
        return _result(_divide_no_nan(self.total.numpy(), self.count.numpy()))


@keras_export("keras.metrics.MeanMetricWrapper")
class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over every sample seen (`fn` returns per-sample
    values, for example a loss function)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        self._accumulate(values, sample_weight)

    def get_config(self):
        config = super().get_config()
        from lamina.metrics import _function_name  # in the package __init__, which imports this module

        config["fn"] = _function_name(self._fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("fn"), str):
            from lamina.metrics import _FUNCTIONS  # in the package __init__, which imports this module

            fn = _FUNCTIONS.get(config["fn"])
            if fn is None:
                raise ValueError(f"Could not interpret metric identifier: {config['fn']}")
            config["fn"] = fn
        return cls(**config)
