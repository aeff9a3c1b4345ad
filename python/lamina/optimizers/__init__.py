"""Optimizers (`keras.optimizers`): SGD, Adam, AdamW, RMSprop, Adagrad, learning rate schedules.

The built-in optimizers update every variable of a training step with one fused C++ call
(see `cpp/include/lamina/optim.hpp`), with Keras 3's update formulas.
"""
from lamina.optimizers import schedules
from lamina.optimizers.adagrad import Adagrad
from lamina.optimizers.adam import Adam, AdamW
from lamina.optimizers.base_optimizer import Optimizer
from lamina.optimizers.rmsprop import RMSprop
from lamina.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "serialize", "deserialize",
           "schedules"]

ALL_OBJECTS = {Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad}
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}


def serialize(optimizer):
    """The optimizer's configuration as a JSON-compatible dict (Keras's layout)."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """An optimizer from `serialize()`'s dict. Built-in class names are case-insensitive;
    `custom_objects` maps names to user classes."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"Could not interpret optimizer identifier: {config}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or ALL_OBJECTS_DICT.get(name.lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {config}")
    cfg = dict(config.get("config") or {})
    if isinstance(cls, type) and issubclass(cls, Optimizer):
        return cls.from_config(cfg, custom_objects=custom_objects)
    return cls.from_config(cfg)


def get(identifier):
    """An optimizer from a name ("adam", "SGD", ...: case-insensitive), a config dict, or an
    `Optimizer` instance (returned as is). Anything else raises ValueError."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, (dict, str)):
        config = identifier if isinstance(identifier, dict) else {"class_name": identifier, "config": {}}
        try:
            obj = deserialize(config)
        except ValueError as e:
            if str(e).startswith("Could not interpret optimizer identifier"):
                raise ValueError(f"Could not interpret optimizer identifier: {identifier}") from None
            raise
        if isinstance(obj, Optimizer):
            return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
