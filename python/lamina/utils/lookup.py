"""Name tables for losses and metrics: Keras's {"module", "class_name", "config"} dicts to objects
and back, from a fixed table of lamina's own objects plus the caller's `custom_objects`."""
import inspect

__all__ = ["deserialize_from_table", "serialize_object"]


def serialize_object(obj, module):
    """Keras's config dict for an object with `get_config()`."""
    return {"module": module, "class_name": obj.__class__.__name__, "config": obj.get_config(),
            "registered_name": None}


def deserialize_from_table(config, table, kind, custom_objects=None, functions=False):
    """The object a name or config dict describes. `kind` ("loss", "metric") words the ValueError
    for anything not in `table` / `custom_objects`; `functions` also accepts Keras's
    {"class_name": "function", "config": name} form."""
    objects = dict(table)
    objects.update(custom_objects or {})

    def unknown():
        return ValueError(f"Could not interpret {kind} identifier: {config}")

    if isinstance(config, str):
        obj = objects.get(config)
        if obj is None:
            raise unknown()
        return obj
    if not isinstance(config, dict) or "class_name" not in config:
        raise unknown()
    inner = config.get("config") or {}
    if functions and config["class_name"] == "function":
        return deserialize_from_table(inner, table, kind, custom_objects, functions)
    cls = objects.get(config["class_name"])
    if cls is None:
        raise unknown()
    if not inspect.isclass(cls):
        return cls
    return cls.from_config(inner)
