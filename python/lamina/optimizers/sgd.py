"""`SGD`: gradient descent with optional (Nesterov) momentum, Keras 3's formulas, fused in C++."""
from lamina import _core
from lamina.optimizers.base_optimizer import Optimizer
from lamina.saving.object_registration import keras_export


@keras_export("keras.optimizers.SGD")
class SGD(Optimizer):
    """Gradient descent (with momentum) optimizer.

    Without momentum: `w = w - learning_rate * g`. With momentum:
    `velocity = momentum * velocity - learning_rate * g; w = w + velocity`; with `nesterov=True`:
    `w = w + momentum * velocity - learning_rate * g`.

    Args:
        learning_rate: float, schedule or callable (default 0.01).
        momentum: float in [0, 1] (default 0.0).
        nesterov: whether to apply Nesterov momentum (default False).
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: see `Optimizer`.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        if not isinstance(momentum, float) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def _slot_groups(self):
        return [("momentum",)] if self.momentum != 0 else []

    def _fused_update(self, params, grads, slots, lr, wd, clip, threshold):
        _core.sgd_update(params, grads, slots.get("momentum", []), lr, float(self.momentum),
                         bool(self.nesterov), wd, clip, threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
