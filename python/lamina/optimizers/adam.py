"""`Adam` and `AdamW`: Keras 3's formulas (bias correction folded into the step size), fused in C++."""
from lamina import _core
from lamina.optimizers.base_optimizer import Optimizer
from lamina.saving.object_registration import keras_export


@keras_export("keras.optimizers.Adam")
class Adam(Optimizer):
    """Adam: adaptive moment estimation.

    With `t = iterations + 1`: `alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`,
    `m += (g - m) * (1 - beta_1)`, `v += (g^2 - v) * (1 - beta_2)`,
    `w -= alpha * m / (sqrt(v) + epsilon)` (with `amsgrad`, the running maximum of v is used).

    Args:
        learning_rate: float, schedule or callable (default 0.001).
        beta_1, beta_2: decay rates of the first and second moment estimates (0.9, 0.999).
        epsilon: small constant added to the denominator (1e-7).
        amsgrad: whether to use the AMSGrad variant (False).
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: see `Optimizer`.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def _slot_groups(self):
        groups = [("momentum", "velocity")]
        if self.amsgrad:
            groups.append(("velocity_hat",))
        return groups

    def _fused_update(self, params, grads, slots, lr, wd, clip, threshold):
        _core.adam_update(params, grads, slots["momentum"], slots["velocity"], slots.get("velocity_hat", []),
                          lr, float(self.beta_1), float(self.beta_2), float(self.epsilon),
                          int(self._iterations) + 1, wd, bool(self.amsgrad), clip, threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "amsgrad": self.amsgrad})
        return config


@keras_export("keras.optimizers.AdamW")
class AdamW(Adam):
    """Adam with decoupled weight decay: each step first does `w -= w * weight_decay * lr`.

    Args:
        learning_rate: float, schedule or callable (default 0.001).
        weight_decay: float (default 0.004; None is an error).
        beta_1, beta_2, epsilon, amsgrad: as `Adam`.
        clipnorm, clipvalue, global_clipnorm, name: see `Optimizer`.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
