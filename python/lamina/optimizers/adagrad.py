"""`Adagrad`: per-parameter learning rates from accumulated squared gradients, fused in C++."""
from lamina import _core
from lamina.optimizers.base_optimizer import Optimizer
from lamina.saving.object_registration import keras_export


@keras_export("keras.optimizers.Adagrad")
class Adagrad(Optimizer):
    """Adagrad: `accumulator += g^2; w -= lr * g / sqrt(accumulator + epsilon)`.

    Args:
        learning_rate: float, schedule or callable (default 0.001).
        initial_accumulator_value: starting value of the accumulators (0.1).
        epsilon: small constant for numerical stability (1e-7).
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: see `Optimizer`.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _slot_groups(self):
        return [("accumulator",)]

    def _slot_initial_value(self, slot_name):
        return self.initial_accumulator_value

    def _fused_update(self, params, grads, slots, lr, wd, clip, threshold):
        _core.adagrad_update(params, grads, slots["accumulator"], lr, float(self.epsilon), wd, clip, threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon})
        return config
