"""Learning rate schedules (`keras.optimizers.schedules`): called with the optimizer's step count,
they return the learning rate for that step (a float)."""
import math

from lamina.saving.object_registration import keras_export

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "serialize", "deserialize"]


def _step_value(step):
    """The step as a float: an int, a Variable (`optimizer.iterations`) or a one-element tensor."""
    return float(step)


@keras_export("keras.optimizers.schedules.LearningRateSchedule")
class LearningRateSchedule:
    """Base class: subclasses implement `__call__(step)` and `get_config()`."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' must override `__call__(self, step)`.")

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{self.__class__.__name__}' must override `get_config()` in order "
            "to be serializable.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras_export("keras.optimizers.schedules.ExponentialDecay")
class ExponentialDecay(LearningRateSchedule):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`; with `staircase=True` the
    exponent is floored, so the rate changes every `decay_steps` steps."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        if self.decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={self.decay_steps}")

    def __call__(self, step):
        p = _step_value(step) / float(self.decay_steps)
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate) * float(self.decay_rate) ** p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


@keras_export("keras.optimizers.schedules.PiecewiseConstantDecay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` while `step <= boundaries[0]`, `values[1]` while `step <= boundaries[1]`, ...,
    `values[-1]` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of "
                f"values. Received: boundaries={boundaries} of length "
                f"{len(boundaries)}, and values={values} "
                f"of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        s = _step_value(step)
        for boundary, value in zip(self.boundaries, self.values):
            if s <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


_BY_NAME = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay)}


def serialize(learning_rate_schedule):
    """The schedule as a JSON-compatible dict (Keras's layout)."""
    return {"module": "keras.optimizers.schedules", "class_name": type(learning_rate_schedule).__name__,
            "config": learning_rate_schedule.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """A schedule from `serialize()`'s dict; `custom_objects` maps names to user classes."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"Could not interpret learning rate schedule identifier: {config}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"Could not interpret learning rate schedule identifier: {config}")
    return cls.from_config(dict(config.get("config") or {}))
