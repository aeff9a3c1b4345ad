"""Weight initializers (`keras.initializers`), by name or object."""

from lamina import ops
from lamina import random as _random
from lamina.backend import standardize_dtype
from lamina.saving.object_registration import get_registered_object, keras_export
from lamina.saving.serialization_lib import serialize_keras_object

__all__ = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Initializer",
           "LecunNormal", "LecunUniform", "Ones", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "VarianceScaling", "Zeros", "get"]


@keras_export("keras.initializers.Initializer")
class Initializer:
    """Base class: `initializer(shape, dtype=None)` returns a tensor of that shape."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras_export("keras.initializers.Zeros")
class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return ops.zeros(shape, standardize_dtype(dtype) or "float32")


@keras_export("keras.initializers.Ones")
class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return ops.ones(shape, standardize_dtype(dtype) or "float32")


@keras_export("keras.initializers.Constant")
class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return ops.full(shape, self.value, standardize_dtype(dtype) or "float32")

    def get_config(self):
        return {"value": self.value}


@keras_export("keras.initializers.RandomUniform")
class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return _random.uniform(shape, self.minval, self.maxval, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@keras_export("keras.initializers.RandomNormal")
class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return _random.normal(shape, self.mean, self.stddev, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@keras_export("keras.initializers.TruncatedNormal")
class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return _random.truncated_normal(shape, self.mean, self.stddev, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _check_axes(input_axes, output_axes):
    if input_axes is not None or output_axes is not None:
        raise ValueError("lamina's variance-scaling initializers compute fans from the kernel's shape only; "
                         f"received input_axes={input_axes}, output_axes={output_axes} (only None is supported).")


@keras_export("keras.initializers.VarianceScaling")
class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        _check_axes(input_axes, output_axes)
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of "
                             "{'fan_in', 'fan_out', 'fan_avg'}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"Invalid `distribution` argument: {distribution}.Please use one of "
                             "{'uniform', 'truncated_normal', 'untruncated_normal'}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        return _random.variance_scaling(shape, self.scale, self.mode, self.distribution, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "input_axes": None, "output_axes": None}


def _preset(name, scale, mode, distribution):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": None, "output_axes": None}

    cls = type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                          "__doc__": f"VarianceScaling({scale}, {mode!r}, {distribution!r})."})
    return keras_export(f"keras.initializers.{name}")(cls)


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform")

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_normal": HeNormal,
    "he_uniform": HeUniform, "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
    "variance_scaling": VarianceScaling,
}
for _cls in list(_BY_NAME.values()):
    _BY_NAME[_cls.__name__] = _cls


def get(identifier):
    """An initializer from a name (`"glorot_uniform"`), a config dict (what `serialize` returns), a
    class, an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict) and isinstance(identifier.get("class_name"), str):
        cls = _BY_NAME.get(identifier["class_name"])
        if cls is None:
            cls = _registered(identifier)
            if cls is None:
                raise ValueError(f"Could not interpret initializer identifier: {identifier}")
            if identifier["class_name"] == "function":
                return cls
        return cls.from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret initializer identifier: {identifier}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier}")


def _registered(config):
    """A user's initializer class or function registered with `register_keras_serializable` (or in
    the `custom_objects` being loaded)."""
    if config["class_name"] == "function":
        return get_registered_object(config.get("config"))
    return (get_registered_object(config.get("registered_name"))
            or get_registered_object(config["class_name"]))


def serialize(initializer):
    """The initializer's config in Keras 3's schema ({"module", "class_name", "config", "registered_name"})."""
    if not isinstance(initializer, Initializer) or type(initializer) not in _BY_NAME.values():
        return serialize_keras_object(initializer)
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}
