"""`RMSprop`: Keras 3's formulas (plain or centered, optional momentum), fused in C++."""
from lamina import _core
from lamina.optimizers.base_optimizer import Optimizer
from lamina.saving.object_registration import keras_export


@keras_export("keras.optimizers.RMSprop")
class RMSprop(Optimizer):
    """RMSprop: divides the gradient by a running root mean square of recent gradients.

    `velocity = rho * velocity + (1 - rho) * g^2`; centered: `average = rho * average + (1 - rho) * g`
    and the denominator is `sqrt(velocity - average^2 + epsilon)`, else `sqrt(velocity + epsilon)`;
    `increment = lr * g / denominator`; with momentum, `m = momentum * m + increment; w -= m`,
    else `w -= increment`.

    Args:
        learning_rate: float, schedule or callable (default 0.001).
        rho: discounting factor for the old gradients (0.9).
        momentum: momentum factor (0.0).
        epsilon: small constant for numerical stability (1e-7).
        centered: normalise by the estimated variance of the gradient (False).
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: see `Optimizer`.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _slot_groups(self):
        groups = [("velocity",)]
        if self.momentum > 0:
            groups.append(("momentum",))
        if self.centered:
            groups.append(("average_gradient",))
        return groups

    def _fused_update(self, params, grads, slots, lr, wd, clip, threshold):
        _core.rmsprop_update(params, grads, slots["velocity"], slots.get("momentum", []),
                             slots.get("average_gradient", []), lr, float(self.rho), float(self.momentum),
                             float(self.epsilon), bool(self.centered), wd, clip, threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config
