"""Merging layers for non-linear topologies: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, and their functional forms (`layers.add([a, b])`, ...). Gradients come from the ops."""
import functools

from lamina import ops
from lamina.layers.layer import Layer
from lamina.saving.object_registration import keras_export

__all__ = ["Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract", "add", "average",
           "concatenate", "maximum", "minimum", "multiply", "subtract"]


def _broadcast_shape(a, b, layer):
    """Keras's elementwise output shape: dimensions must match, or one of them be 1 or None."""
    if len(a) < len(b):
        a, b = b, a
    out = list(a[: len(a) - len(b)])
    for x, y in zip(a[len(a) - len(b):], b):
        if x is None or y is None:
            out.append(None if x is None and y is None else (x if y in (None, 1) else y if x in (None, 1) else None))
        elif x == 1:
            out.append(y)
        elif y == 1 or x == y:
            out.append(x)
        else:
            raise ValueError(
                f"Inputs have incompatible shapes. Received shapes {tuple(a)} and {tuple(b)} "
                f"(layer \"{layer.name}\")")
    return tuple(out)


class Merge(Layer):
    """Base of the elementwise merging layers: `call` gets a list of tensors."""

    _min_inputs = 1

    def _check_list(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(
                f"A merge layer should be called on a list of inputs. Received: input_shape={input_shape} "
                "(not a list of shapes)")
        if len(input_shape) < self._min_inputs:
            raise ValueError(
                f"A merge layer should be called on a list of at least {self._min_inputs} inputs. "
                f"Got {len(input_shape)} inputs. Full input_shape received: {input_shape}")

    def build(self, input_shape):
        self._check_list(input_shape)
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        out = tuple(input_shape[0])
        for s in input_shape[1:]:
            out = _broadcast_shape(out, tuple(s), self)
        return out

    def _merge(self, a, b):
        raise NotImplementedError

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: inputs={inputs}")
        return functools.reduce(self._merge, inputs)


@keras_export("keras.layers.Add")
class Add(Merge):
    """Sum of the inputs."""
    _min_inputs = 1

    def _merge(self, a, b):
        return ops.add(a, b)


@keras_export("keras.layers.Subtract")
class Subtract(Merge):
    """First input minus the second (exactly two inputs)."""
    _min_inputs = 2

    def _check_list(self, input_shape):
        super()._check_list(input_shape)
        if len(input_shape) != 2:
            raise ValueError(
                f"A `Subtract` layer should be called on exactly 2 inputs. Received: input_shape={input_shape}")

    def _merge(self, a, b):
        return ops.subtract(a, b)


@keras_export("keras.layers.Multiply")
class Multiply(Merge):
    """Elementwise product of the inputs."""

    def _merge(self, a, b):
        return ops.multiply(a, b)


@keras_export("keras.layers.Maximum")
class Maximum(Merge):
    """Elementwise maximum of the inputs."""

    def _merge(self, a, b):
        return ops.maximum(a, b)


@keras_export("keras.layers.Minimum")
class Minimum(Merge):
    """Elementwise minimum of the inputs."""

    def _merge(self, a, b):
        return ops.minimum(a, b)


@keras_export("keras.layers.Average")
class Average(Merge):
    """Elementwise mean of the inputs."""

    def call(self, inputs):
        total = functools.reduce(ops.add, inputs)
        return ops.divide(total, float(len(inputs)))


@keras_export("keras.layers.Concatenate")
class Concatenate(Layer):
    """Joins the inputs along `axis` (default -1); other dimensions must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _error(self, input_shape):
        return ValueError(
            "A `Concatenate` layer requires inputs with matching shapes except for the concatenation "
            f"axis. Received: input_shape={input_shape}")

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(
                "A `Concatenate` layer should be called on a list of at least 1 input. "
                f"Received: input_shape={input_shape}")
        rank = len(input_shape[0])
        if any(len(s) != rank for s in input_shape):
            raise self._error(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"Concatenate axis {self.axis} is out of range for inputs of rank {rank}")
        axis = self.axis % rank
        out = list(input_shape[0])
        for s in input_shape[1:]:
            for d in range(rank):
                if d == axis:
                    out[d] = None if out[d] is None or s[d] is None else out[d] + s[d]
                elif out[d] is not None and s[d] is not None and out[d] != s[d]:
                    raise self._error(input_shape)
                elif out[d] is None:
                    out[d] = s[d]
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs):
        return ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def add(inputs, **kwargs):
    """Functional form of `Add`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of `Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)
