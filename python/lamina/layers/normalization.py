"""BatchNormalization (batch statistics while training, moving statistics in inference, a frozen
layer always in inference mode, as in Keras) and LayerNormalization. Each computes with one op
(`ops.batch_norm`, `ops.layer_normalization`), the op the C++ layers call too."""
from lamina import initializers, ops
from lamina.layers.input_spec import InputSpec
from lamina.layers.layer import Layer, reject_unsupported
from lamina.saving.object_registration import keras_export

__all__ = ["BatchNormalization", "LayerNormalization"]


@keras_export("keras.layers.BatchNormalization")
class BatchNormalization(Layer):
    """Normalises the inputs over every axis but `axis` (the channels, by default the last one):
    `gamma * (x - mean) / sqrt(variance + epsilon) + beta`.

    Training (`training=True` and the layer trainable): mean and variance of the batch; the moving
    statistics follow `moving = moving * momentum + batch * (1 - momentum)`. Otherwise (inference,
    or a frozen layer): the moving statistics, so fine-tuning a frozen base does not disturb them.
    Both are one op, `ops.batch_norm`, which the C++ `nn::BatchNormalization` calls as well.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, renorm=False,
                 renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        reject_unsupported(type(self).__name__,
                           beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                           beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        if renorm:
            raise NotImplementedError("lamina's BatchNormalization does not implement batch renormalization "
                                      "(renorm=True).")
        self.renorm = False
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = renorm_momentum
        if not isinstance(axis, int):
            raise TypeError(f"Expected an int value for `axis`. Received: axis={axis}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        if self.epsilon <= 0:
            raise ValueError(f"Argument `epsilon` must be positive. Received: epsilon={epsilon}")
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.synchronized = synchronized
        self.gamma = self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"Axis {self.axis} is out of bounds for input of rank {rank} (shape {tuple(input_shape)})")
        self._axis = self.axis % rank
        dim = input_shape[self._axis]
        if dim is None:
            raise ValueError(
                f"Axis {self.axis} of input tensor should have a defined dimension but the layer received an "
                f"input with shape {tuple(input_shape)}.")
        if self.scale:
            self.gamma = self.add_weight(shape=(dim,), initializer=self.gamma_initializer, name="gamma")
        if self.center:
            self.beta = self.add_weight(shape=(dim,), initializer=self.beta_initializer, name="beta")
        self.moving_mean = self.add_weight(shape=(dim,), initializer=self.moving_mean_initializer,
                                           trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=(dim,), initializer=self.moving_variance_initializer,
                                               trainable=False, name="moving_variance")
        self.input_spec = InputSpec(ndim=rank, axes={self._axis: dim})
        self.built = True

    def call(self, inputs, training=None):
        # A frozen layer runs in inference mode, so fine-tuning never moves its statistics (Keras's rule).
        return ops.batch_norm(inputs, self.gamma, self.beta, self.moving_mean, self.moving_variance, axis=self._axis,
                              momentum=self.momentum, epsilon=self.epsilon, training=bool(training) and self.trainable)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(self.moving_variance_initializer),
            beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
            synchronized=self.synchronized, renorm=self.renorm, renorm_clipping=self.renorm_clipping,
            renorm_momentum=self.renorm_momentum)
        return config


@keras_export("keras.layers.LayerNormalization")
class LayerNormalization(Layer):
    """Normalises each sample over `axis` (an int or a list of ints, by default the last axis):
    `gamma * (x - mean) / sqrt(variance + epsilon) + beta` with that sample's statistics. `gamma`
    and `beta` have the input's shape at those axes."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        if kwargs.pop("rms_scaling", False):
            raise NotImplementedError("lamina's LayerNormalization does not implement the deprecated "
                                      "`rms_scaling=True`.")
        super().__init__(**kwargs)
        reject_unsupported(type(self).__name__,
                           beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                           beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        if isinstance(axis, (list, tuple)):
            self.axis = list(axis)
        elif isinstance(axis, int):
            self.axis = axis
        else:
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', but received: "
                            f"{axis!r}")
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.rms_scaling = False
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.gamma = self.beta = None

    def _check_axes(self, input_shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for axis in axes:
            if axis >= len(input_shape) or axis < -len(input_shape):
                raise ValueError(f"Axis {axis} is out of bounds for input shape {tuple(input_shape)}. "
                                 f"Received: axis={self.axis}")
        return axes

    def build(self, input_shape):
        rank = len(input_shape)
        self._axes = sorted(a % rank for a in self._check_axes(input_shape))
        # Keras keeps `axis` as a sorted list once built (it shows in get_config)
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(input_shape[a] for a in self._axes)
        if None in shape:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension but the layer "
                             f"received an input with shape {tuple(input_shape)}.")
        if self.scale:
            self.gamma = self.add_weight(shape=shape, initializer=self.gamma_initializer, name="gamma")
        if self.center:
            self.beta = self.add_weight(shape=shape, initializer=self.beta_initializer, name="beta")
        self.input_spec = InputSpec(ndim=rank, axes={a: input_shape[a] for a in self._axes})
        self.built = True

    def call(self, inputs):
        return ops.layer_normalization(inputs, self.gamma, self.beta, axis=self._axes, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        self._check_axes(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale, rms_scaling=self.rms_scaling,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None)
        return config
