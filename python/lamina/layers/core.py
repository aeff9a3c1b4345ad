"""Core layers: InputLayer / Input, Dense, Activation, Dropout, Flatten, Reshape."""
import math

from lamina import activations, initializers, ops
from lamina import random as _random
from lamina.layers.input_spec import InputSpec
from lamina.layers.layer import Layer, reject_unsupported
from lamina.saving.object_registration import keras_export
from lamina.saving.serialization_lib import serialize_keras_object
from lamina.symbolic import KerasTensor, Node
from lamina.utils import limits

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Lambda", "Reshape"]


@keras_export("keras.layers.InputLayer")
class InputLayer(Layer):
    """The entry point of a model: holds the symbolic input tensor (batch dimension None)."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, **kwargs):
        tensor_name = name  # Keras names the tensor after the `name` argument (else keras_tensor_N)
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.optional = bool(optional)
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument.")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        self.batch_shape = limits.check_shape(batch_shape, "shape")
        self.built = True
        out = KerasTensor(self.batch_shape, dtype=self.dtype, name=tensor_name)
        Node(self, [], [out])

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False, "ragged": False,
                "name": self.name, "optional": self.optional}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic input tensor of the given shape (without the batch dimension).

    `model.add(lamina.Input(shape=(4,)))` starts a Sequential model whose shapes are then known
    at every `add()`; `lamina.Model(inputs, outputs)` builds functional models from it.
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, optional=optional, name=name)
    return layer.output


def call_with_activation(activation, op, *args, **kwargs):
    """`op(*args, activation=..., **kwargs)` for Dense and Conv2D: a built-in activation goes to the
    op by name (the C++ op fuses what its GEMM epilogue can and applies the rest); a user's callable
    is applied here to the op's linear result."""
    name = activations.builtin_name(activation)
    if name is not None:
        return op(*args, activation=name, **kwargs)
    return activation(op(*args, activation="linear", **kwargs))


@keras_export("keras.layers.Dense")
class Dense(Layer):
    """`activation(inputs @ kernel + bias)` on the last axis of inputs of any rank >= 2."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        if not isinstance(units, int) or units <= 0:  # checked before naming the layer, as Keras does
            raise ValueError(
                f"Received an invalid value for `units`, expected a positive integer. Received: units={units}")
        limits.check_size(units, "units")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        reject_unsupported(type(self).__name__,
                           kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                           kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"The last dimension of the inputs to a Dense layer should be defined. Found None. "
                f"Full input shape received: {tuple(input_shape)}")
        self.kernel = self.add_weight(shape=(input_dim, self.units), initializer=self.kernel_initializer,
                                      name="kernel")
        self.bias = (self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")
                     if self.use_bias else None)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs):
        return call_with_activation(self.activation, ops.dense, inputs, self.kernel.value,
                                    None if self.bias is None else self.bias.value)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation),
                      use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer),
                      kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                      bias_constraint=None, quantization_config=None)
        return config


@keras_export("keras.layers.Activation")
class Activation(Layer):
    """Applies an activation function (by name or callable)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


@keras_export("keras.layers.Dropout")
class Dropout(Layer):
    """Sets a `rate` fraction of inputs to 0 while training and scales the rest by 1 / (1 - rate).
    Does nothing in inference."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                f"Received: rate={rate}")
        self.rate = rate
        self.noise_shape = noise_shape
        self.seed = seed
        self._seed_calls = 0  # a seeded Dropout draws the same masks, call after call, as Keras's
        self.built = True

    def _next_seed(self):
        if self.seed is None:
            return None
        self._seed_calls += 1
        return (self.seed * 1000003 + self._seed_calls) % (2 ** 31)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.rate == 1:
            return ops.multiply(inputs, 0.0)
        shape = inputs.shape if self.noise_shape is None else tuple(
            d if n is None else n for d, n in zip(inputs.shape, self.noise_shape))
        keep = ops.greater_equal(_random.uniform(shape, seed=self._next_seed()), self.rate)
        return ops.multiply(inputs, ops.multiply(ops.cast(keep, "float32"), 1.0 / (1.0 - self.rate)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config


@keras_export("keras.layers.Flatten")
class Flatten(Layer):
    """Flattens every axis but the batch axis: (batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        if self.data_format != "channels_last":  # lamina's images are NHWC only (as in conv.py)
            raise ValueError(
                f"lamina layers work on channels_last (NHWC) images only. Received: data_format={data_format}")
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


@keras_export("keras.layers.Reshape")
class Reshape(Layer):
    """Reshapes every axis but the batch axis to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        if not all(d == -1 or (isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= limits.MAX_DIMENSION)
                   for d in self.target_shape):
            raise ValueError("`target_shape` must hold integers between 0 and "
                             f"{limits.MAX_DIMENSION} (or one -1). Received: target_shape={self.target_shape}")
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError("There must be at most one unknown dimension (-1) in `target_shape`. "
                             f"Received: target_shape={self.target_shape}.")
        self.built = True

    def _resolve(self, input_shape):
        rest = tuple(input_shape[1:])
        known_in = None if any(d is None for d in rest) else math.prod(rest)
        if -1 not in self.target_shape:
            if known_in is not None and known_in != math.prod(self.target_shape):
                raise ValueError("The total size of the tensor must be unchanged. Received: "
                                 f"input_shape={rest}, target_shape={self.target_shape}")
            return self.target_shape
        if known_in is None:
            return tuple(None if d == -1 else d for d in self.target_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if known == 0 or known_in % known:
            raise ValueError(
                "The total size of the tensor must be unchanged, however, the input size cannot by "
                "divided by the specified dimensions in target_shape. Received: "
                f"input_shape={rest}, target_shape={self.target_shape}")
        return tuple(known_in // known if d == -1 else d for d in self.target_shape)

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0],) + self._resolve(tuple(inputs.shape)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(tuple(input_shape))

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


@keras_export("keras.layers.Lambda", from_files=False)
class Lambda(Layer):
    """Wraps a function of tensors as a layer: `layers.Lambda(lambda x: ops.square(x))`.

    `output_shape` (a shape without the batch axis, or a function of the input shape) spares the
    trial run that otherwise infers the shape in symbolic calls; `arguments` are passed to
    `function` as keyword arguments. Lambda layers hold no weights.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda expects a callable `function`. Received: {function!r}")
        self.function = function
        self._output_shape = output_shape
        self.arguments = dict(arguments or {})
        self.built = True

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            raise NotImplementedError  # inferred by running the function once (Layer._output_shapes)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return (tuple(input_shape)[0],) + tuple(self._output_shape)

    def get_config(self):
        """Keras's Lambda config: `function` as Keras serializes it (a lambda's code, which lamina
        writes so that Keras can reload it with `safe_mode=False`, but never loads itself)."""
        config = super().get_config()
        config["function"] = serialize_keras_object(self.function)
        if self._output_shape is not None:
            config["output_shape"] = serialize_keras_object(self._output_shape)
        config["arguments"] = serialize_keras_object(self.arguments)
        return config
