"""The metric base class, the shared helpers, and the reduction metrics `Sum`, `Mean` and
`MeanMetricWrapper` (Keras's reduce_to_samplewise_values rules for sample weights).

State stays in lamina: `update_state` computes each batch's contribution with `lamina.ops` (no
recording) and adds it to the state variables in place, and `result()` is a new float32 tensor
computed by ops from them; nothing goes through NumPy per batch."""
from lamina import initializers as _initializers
from lamina import ops
from lamina.autograd import no_grad
from lamina.backend import Tensor, convert_to_tensor, standardize_dtype
from lamina.losses import _divide_no_nan, _float, _get_mask, apply_mask, squeeze_or_expand_to_same_rank
from lamina.utils.naming import auto_name, to_snake_case
from lamina.variables import Variable
from lamina.saving.object_registration import BUILTIN_FUNCTIONS, builtin_function_name, keras_export

EPSILON = 1e-7  # keras.backend.epsilon()
NEG_INF = -1e10  # Keras's stand-in for -inf in top_k filtering


def _add_to(variable, update):
    """`variable += update`, in place (Variable.assign_add without its conversions and checks: it
    runs for every metric every batch). Copy-on-write: a result still held (lazy logs) that shares
    the storage keeps its values."""
    state = variable._lamina_tensor
    state._unshare()
    state._assign(ops.add(state, update))


def _snapshot(variable):
    """The variable's current value as a tensor of its own: a result read later (lazy logs) keeps
    the value of the batch it was taken at, whatever the next updates write into the variable."""
    return variable.value._clone()


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
            v.assign(ops.zeros(v.shape, v.dtype))

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


def _samplewise(values, sample_weight, reduce_fn, mask=None):
    """Keras's reduce_to_samplewise_values: weights `values` and reduces every axis after the first
    (the weights' trailing axes too), with `reduce_fn` (ops.mean or ops.sum). The mask, when given,
    multiplies the sample weights (Keras's apply_mask with reduction "sum")."""
    values = _float(values)
    if sample_weight is not None:
        sample_weight = apply_mask(_float(sample_weight), mask, reduction="sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = sample_weight.ndim, values.ndim
        if values_ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values_ndim)))
        if tuple(sample_weight.shape) != tuple(values.shape):
            sample_weight = ops.broadcast_to(sample_weight, values.shape)
        values = ops.multiply(values, sample_weight)
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


def _sum_all(x):
    return x if x.ndim == 0 else ops.sum(x)


@keras_export("keras.metrics.Sum")
class Sum(Metric):
    """The (weighted) sum of the values given to `update_state(values, sample_weight=None)`."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, values, sample_weight=None):
        with no_grad():
            values, _ = _samplewise(values, sample_weight, ops.sum)
            _add_to(self.total, _sum_all(values))

    def result(self):
        return _snapshot(self.total)


@keras_export("keras.metrics.Mean")
class Mean(Metric):
    """The (weighted) mean of the values given to `update_state(values, sample_weight=None)`.

    The trainer's `loss` log is one (Keras's `_loss_tracker`): the batch losses weighted by the
    batch sizes."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def _accumulate(self, values, sample_weight, mask=None):
        if mask is None and type(values) is Tensor:
            mask = _get_mask(values)
        with no_grad():
            if (type(values) is Tensor and values.ndim == 0 and values.dtype == "float32" and mask is None
                    and isinstance(sample_weight, (int, float)) and not isinstance(sample_weight, bool)):
                # one value, one weight (the loss tracker's batch loss and batch size): the general
                # path's arithmetic, without its reshaping
                weight = ops.full((), float(sample_weight))
                _add_to(self.total, ops.multiply(values, weight))
                _add_to(self.count, weight)
                return
            values, sample_weight = _samplewise(values, sample_weight, ops.mean, mask)
            _add_to(self.total, _sum_all(values))
            if sample_weight is not None:
                num_samples = _sum_all(sample_weight)
            elif values.ndim >= 1:
                num_samples = ops.full((), float(values.shape[0]))
            else:
                num_samples = ops.ones(())
            _add_to(self.count, num_samples)

    def update_state(self, values, sample_weight=None):
        self._accumulate(values, sample_weight)

    def result(self):
        return _divide_no_nan(self.total.value, self.count.value)


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
        config["fn"] = builtin_function_name("metrics", self._fn) or getattr(self._fn, "__name__", repr(self._fn))
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("fn"), str):
            fn = BUILTIN_FUNCTIONS.get("metrics", {}).get(config["fn"])
            if fn is None:
                raise ValueError(f"Could not interpret metric identifier: {config['fn']}")
            config["fn"] = fn
        return cls(**config)
