"""Convolution and pooling layers on NHWC images (channels_last, Keras's default)."""
from lamina import activations, initializers, ops
from lamina.layers.core import call_with_activation
from lamina.layers.input_spec import InputSpec, incompatible_input_head
from lamina.layers.layer import Layer, reject_unsupported
from lamina.utils import limits
from lamina.saving.object_registration import keras_export

__all__ = ["AveragePooling2D", "Conv2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling2D"]


def _pair(value, name):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(f"The `{name}` argument must be a tuple of 2 positive integers. Received: {name}={value!r}") from None
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"The `{name}` argument must be a tuple of 2 positive integers. Received: {name}={value}")
    return tuple(limits.check_size(v, name) for v in value)


def _padding(padding):
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise ValueError(
            f"The `padding` argument must be a list/tuple or one of {{'valid', 'same'}}. Received: {padding}")
    return padding


def _np_style(values):
    """A shape as Keras's pooling message prints it (a NumPy array): `[None 5 5 1]`."""
    return "[" + " ".join(str(v) for v in values) + "]"


def _data_format(data_format):
    data_format = data_format or "channels_last"
    if data_format != "channels_last":
        raise ValueError(
            f"lamina layers work on channels_last (NHWC) images only. Received: data_format={data_format}")
    return data_format


def _spatial_out(size, window, stride, dilation, padding):
    if size is None:
        return None
    if padding == "same":
        return (size + stride - 1) // stride
    effective = (window - 1) * dilation + 1
    return (size - effective) // stride + 1


@keras_export("keras.layers.Conv2D")
class Conv2D(Layer):
    """2-D convolution: `activation(conv(inputs, kernel) + bias)` on (batch, height, width, channels).

    The kernel has shape (kernel_h, kernel_w, in_channels, filters), as in Keras. Computed in C++ by
    the convolution GEMM with the bias (and a relu activation) in its tile writes.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        reject_unsupported(type(self).__name__,
                           kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                           kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        if not isinstance(filters, int) or isinstance(filters, bool) or filters <= 0:
            raise ValueError(
                f"Invalid value for argument `filters`. Expected a strictly positive value. Received filters={filters}.")
        limits.check_size(filters, "filters")
        if groups != 1:
            raise ValueError(f"lamina's Conv2D supports groups=1 only. Received: groups={groups}")
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = _padding(padding)
        self.data_format = _data_format(data_format)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.groups = groups
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.input_spec = InputSpec(min_ndim=4)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "The channel dimension of the inputs should be defined. The input_shape received is "
                f"{tuple(input_shape)}, where axis -1 (0-based) is the channel dimension, which found to be `None`.")
        self.compute_output_shape(input_shape)  # raises for a kernel larger than the input
        self.kernel = self.add_weight(shape=self.kernel_size + (channels, self.filters),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = (self.add_weight(shape=(self.filters,), initializer=self.bias_initializer, name="bias")
                     if self.use_bias else None)
        self.input_spec = InputSpec(min_ndim=4, axes={-1: channels})
        self.built = True

    def call(self, inputs):
        return call_with_activation(self.activation, ops.conv, inputs, self.kernel.value, strides=self.strides,
                                    padding=self.padding, dilation_rate=self.dilation_rate,
                                    bias=None if self.bias is None else self.bias.value)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(
                incompatible_input_head(self.input_spec, self.name) + "expected min_ndim=4, "
                f"found ndim={len(input_shape)}. Full shape received: {input_shape}")
        out = [_spatial_out(input_shape[1 + i], self.kernel_size[i], self.strides[i], self.dilation_rate[i],
                            self.padding) for i in range(2)]
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(
                "Computed output size would be zero or negative. Received `inputs shape="
                f"{input_shape}`, `kernel shape={self.kernel_size + (input_shape[-1], self.filters)}`, "
                f"`dilation_rate={_np_style(self.dilation_rate)}`, `strides={self.strides}`, "
                f"`padding={self.padding}`.")
        return (input_shape[0], out[0], out[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding, data_format=self.data_format, dilation_rate=self.dilation_rate,
                      groups=self.groups, activation=activations.serialize(self.activation),
                      use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer),
                      kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                      kernel_constraint=None, bias_constraint=None)
        return config


class _Pooling2D(Layer):
    _op = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, "strides")
        self.padding = _padding(padding)
        self.data_format = _data_format(data_format)
        self.input_spec = InputSpec(ndim=4)
        self.built = True  # no weights: built at once, as in Keras

    def call(self, inputs):
        self.compute_output_shape(inputs.shape)  # Keras's message for a window larger than the input
        return type(self)._op(inputs, self.pool_size, strides=self.strides, padding=self.padding)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        out = [_spatial_out(input_shape[1 + i], self.pool_size[i], self.strides[i], 1, self.padding)
               for i in range(2)]
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(
                "Computed output size would be zero or negative. Received: "
                f"`inputs.shape={_np_style(input_shape)}`, `pool_size={_np_style(self.pool_size)}`, "
                f"`strides={self.strides}`, `padding={self.padding}`.")
        return (input_shape[0], out[0], out[1], input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      data_format=self.data_format)
        return config


@keras_export("keras.layers.MaxPooling2D")
class MaxPooling2D(_Pooling2D):
    """The maximum over `pool_size` windows, moved by `strides` (default: `pool_size`)."""
    _op = staticmethod(ops.max_pool)


@keras_export("keras.layers.AveragePooling2D")
class AveragePooling2D(_Pooling2D):
    """The average over `pool_size` windows (positions in the padding are not counted)."""
    _op = staticmethod(ops.average_pool)


class _GlobalPooling2D(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=4)
        self.built = True  # no weights: built at once, as in Keras

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


@keras_export("keras.layers.GlobalMaxPooling2D")
class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum over height and width: (batch, h, w, c) -> (batch, c)."""

    def call(self, inputs):
        return ops.max(inputs, axis=(1, 2), keepdims=self.keepdims)


@keras_export("keras.layers.GlobalAveragePooling2D")
class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean over height and width: (batch, h, w, c) -> (batch, c)."""

    def call(self, inputs):
        return ops.mean(inputs, axis=(1, 2), keepdims=self.keepdims)
