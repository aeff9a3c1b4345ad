"""The optimizer configurations the tests run, shared by `make_keras_reference.py` (real Keras) and
`tests/test_optimizers.py` (lamina). `build(module, spec, ops)` makes the optimizer from either
library's `optimizers` module (and, for the user-written optimizer, its `ops` module)."""
import numpy as np

STEPS = 4
SHAPES = [(3, 2), (2,)]

# name -> (class name, keyword arguments, schedule or None)
CONFIGS = {
    "sgd": ("SGD", {"learning_rate": 0.1}, None),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}, None),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}, None),
    "sgd_weight_decay": ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.2}, None),
    "sgd_clipnorm": ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5}, None),
    "sgd_clipvalue": ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "clipvalue": 0.5}, None),
    "sgd_global_clipnorm": ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "global_clipnorm": 0.7}, None),
    "sgd_exponential_decay": ("SGD", {}, ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2,
                                                              "decay_rate": 0.5})),
    "sgd_exponential_staircase": ("SGD", {"momentum": 0.9},
                                  ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2,
                                                        "decay_rate": 0.5, "staircase": True})),
    "adam": ("Adam", {"learning_rate": 0.01}, None),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True}, None),
    "adam_weight_decay": ("Adam", {"learning_rate": 0.01, "weight_decay": 0.05}, None),
    "adam_clipvalue": ("Adam", {"learning_rate": 0.01, "clipvalue": 0.3}, None),
    "adam_piecewise": ("Adam", {}, ("PiecewiseConstantDecay", {"boundaries": [1, 2], "values": [0.1, 0.05, 0.01]})),
    "adamw": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}, None),
    "adamw_default": ("AdamW", {"learning_rate": 0.01}, None),
    "adamw_amsgrad_global_clipnorm": ("AdamW", {"learning_rate": 0.01, "amsgrad": True, "global_clipnorm": 1.0}, None),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}, None),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "centered": True}, None),
    "rmsprop_momentum": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9}, None),
    "rmsprop_centered_momentum_wd_clipnorm": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True,
                                                          "weight_decay": 0.1, "clipnorm": 1.0}, None),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}, None),
    "adagrad_init_clipvalue_wd": ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5,
                                              "clipvalue": 0.8, "weight_decay": 0.05}, None),
    # A user-written optimizer (`custom_optimizer_class` below): the base class's clipping and weight
    # decay run in Python around its `update_step`, and must match Keras's as the built-in ones do.
    "custom_momentum": ("MomentumSGD", {"learning_rate": 0.1, "momentum": 0.5}, None),
    "custom_weight_decay": ("MomentumSGD", {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.2}, None),
    "custom_clipvalue_weight_decay": ("MomentumSGD", {"learning_rate": 0.1, "momentum": 0.5, "clipvalue": 0.5,
                                                      "weight_decay": 0.1}, None),
    "custom_clipnorm": ("MomentumSGD", {"learning_rate": 0.1, "momentum": 0.5, "clipnorm": 0.5}, None),
    "custom_global_clipnorm": ("MomentumSGD", {"learning_rate": 0.1, "momentum": 0.5, "global_clipnorm": 0.7},
                               None),
}


def initial_values():
    rng = np.random.RandomState(0)
    return [rng.normal(size=s).astype("float32") for s in SHAPES]


def gradients():
    """grads[step][variable]: large enough that the clip settings above take effect."""
    rng = np.random.RandomState(1)
    return [[(1.5 * rng.normal(size=s)).astype("float32") for s in SHAPES] for _ in range(STEPS)]


def custom_optimizer_class(optimizers, ops):
    """SGD with momentum written the way a Keras user writes an optimizer: a subclass of
    `optimizers.Optimizer` with its own slots (`build`) and `update_step`. Its update is Keras's SGD
    with momentum (non-Nesterov), so the NumPy reference of SGD covers it."""

    class MomentumSGD(optimizers.Optimizer):
        def __init__(self, learning_rate=0.01, momentum=0.9, name="momentum_sgd", **kwargs):
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)
            self.momentum = momentum

        def build(self, variables):
            if self.built:
                return
            super().build(variables)
            self.momentums = [self.add_variable_from_reference(v, "momentum") for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            learning_rate = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            m = self.momentums[self._get_variable_index(variable)]
            self.assign(m, ops.subtract(ops.multiply(m, self.momentum), ops.multiply(gradient, learning_rate)))
            self.assign_add(variable, m)

    return MomentumSGD


def build(optimizers, name, ops=None):
    cls_name, kwargs, schedule = CONFIGS[name]
    kwargs = dict(kwargs)
    if schedule is not None:
        kwargs["learning_rate"] = getattr(optimizers.schedules, schedule[0])(**schedule[1])
    if cls_name == "MomentumSGD":
        return custom_optimizer_class(optimizers, ops)(**kwargs)
    return getattr(optimizers, cls_name)(**kwargs)
