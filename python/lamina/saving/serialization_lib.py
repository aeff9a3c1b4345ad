"""Configs of objects in Keras 3's serialization schema, and objects back from them.

`serialize_keras_object(obj)` gives `{"module", "class_name", "config", "registered_name"}` (plus
`"build_config"` for layers and `"compile_config"` for models), with the module and class names
Keras 3.15 writes (`"keras.layers"`, `"Dense"`), so Keras can read lamina's files and lamina
Keras's.

`deserialize_keras_object(config)` builds objects only from a fixed allow-list: lamina's own
layers, models, optimizers, losses, metrics, initializers and schedules (matched by class name
within the Keras module the config names; each registers itself with `keras_export` where it is
defined, so this module imports none of them), plus what the user registered with
`register_keras_serializable` or passes in `custom_objects`. It never imports a module named in
a config, never unpickles, never evaluates code: a serialized Python lambda, a `Lambda` layer and
an unknown class are refused with a ValueError.
"""
import base64
import inspect
import marshal
import threading
import types
import warnings

import numpy as np

from lamina.backend import Tensor, convert_to_tensor
from lamina.saving.object_registration import (BUILTIN_CLASSES, BUILTIN_FUNCTIONS, BUILTIN_NAMES, CATEGORIES,
                                               CustomObjectScope, builtin_function_name, get_registered_name,
                                               get_registered_object)
from lamina.symbolic import KerasTensor
from lamina.utils import limits
from lamina.variables import Variable

__all__ = ["serialize_keras_object", "deserialize_keras_object", "SafeModeScope", "in_safe_mode"]

PLAIN_TYPES = (str, int, float, bool)
_NUMPY_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
                 "uint32", "uint64", "bool"}

_state = threading.local()


class SafeModeScope:
    """Passes `safe_mode` down to nested deserialization calls (Keras's name). lamina refuses
    serialized code whatever its value; it is kept for the signature and the message."""

    def __init__(self, safe_mode=True):
        self.safe_mode = safe_mode

    def __enter__(self):
        self.previous = getattr(_state, "safe_mode", None)
        _state.safe_mode = self.safe_mode

    def __exit__(self, *args):
        _state.safe_mode = self.previous


def in_safe_mode():
    return getattr(_state, "safe_mode", None)


# ---------------------------------------------------------------------- the allow-list

# Where a function name is looked up first when nothing says which kind of function it is.
_FUNCTION_ORDER = ("activations", "losses", "metrics")


def _categories(module):
    """The allow-list sections a Keras module name points to (none for a user's module)."""
    if module is None:
        return ()
    if not isinstance(module, str) or not (module == "keras" or module.startswith("keras.")):
        return ()
    parts = module.split(".")
    for key in CATEGORIES:
        if key in parts:
            return (key,)
    return ("models", "layers")  # `keras`: keras.Sequential, keras.Model, keras.Layer, ...


def _function_tables():
    """{kind: {name: function}} of lamina's built-in functions, in `_FUNCTION_ORDER`."""
    return {key: BUILTIN_FUNCTIONS.get(key, {}) for key in _FUNCTION_ORDER}


def _public_function_name(fn):
    for category in _FUNCTION_ORDER:
        name = builtin_function_name(category, fn)
        if name is not None:
            return name
    return None


# ---------------------------------------------------------------------- serialize

def _func_dump(fn):
    """Keras's encoding of a lambda (written so that Keras can reload it with safe_mode=False;
    lamina itself never loads it)."""
    code = base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")
    closure = tuple(c.cell_contents for c in fn.__closure__) if fn.__closure__ else None
    defaults = fn.__defaults__
    if not all(isinstance(v, PLAIN_TYPES + (type(None),)) for v in (closure or ()) + (defaults or ())):
        closure = defaults = None  # not JSON values: Keras could not reload them either
    return code, defaults, closure


def serialize_keras_object(obj):
    """The config of `obj` in Keras 3's schema (plain values, lists and dicts pass through)."""
    if obj is None or isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return serialize_dict(obj)
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        return {"class_name": "__slice__", "config": {
            "start": serialize_keras_object(obj.start), "stop": serialize_keras_object(obj.stop),
            "step": serialize_keras_object(obj.step)}}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(obj, KerasTensor):
        history = obj._keras_history
        if history:
            history = [history[0].name, history[1], history[2]]
        return {"class_name": "__keras_tensor__",
                "config": {"shape": obj.shape, "dtype": obj.dtype, "keras_history": history}}
    if isinstance(obj, (Tensor, Variable)):
        value = np.asarray(obj.numpy() if isinstance(obj, Variable) else obj.numpy())
        return {"class_name": "__tensor__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": str(obj.dtype)}}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, types.FunctionType):
        if obj.__name__ == "<lambda>":
            warnings.warn(
                "The object being serialized includes a `lambda`. This is unsafe. lamina never "
                "reloads it (Keras can, with `safe_mode=False`). Please avoid using `lambda` and "
                "use named Python functions registered with "
                "`lamina.saving.register_keras_serializable()` instead.", stacklevel=2)
            code, defaults, closure = _func_dump(obj)
            return {"class_name": "__lambda__",
                    "config": {"code": code, "defaults": defaults, "closure": closure}}
        name = _public_function_name(obj) or get_registered_name(obj)
        return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}
    if inspect.isclass(obj):
        raise TypeError(f"Cannot serialize the class {obj}: serialize an instance of it.")
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot serialize object {obj!r} of type {type(obj)}. To be serializable, a class "
                        "must implement the `get_config()` method.")
    inner = obj.get_config()
    if not isinstance(inner, dict):
        raise TypeError(f"The `get_config()` method of {obj} should return a dict. It returned: {inner}")
    cls = type(obj)
    if cls in BUILTIN_NAMES:
        module, class_name, registered_name = BUILTIN_NAMES[cls]
    else:
        module = cls.__module__ if cls.__module__ != "__main__" else None
        class_name = cls.__name__
        registered_name = get_registered_name(cls)
    config = {"module": module, "class_name": class_name, "config": serialize_dict(inner),
              "registered_name": registered_name}
    if hasattr(obj, "get_build_config"):
        build_config = obj.get_build_config()
        if build_config is not None:
            config["build_config"] = serialize_dict(build_config)
    if hasattr(obj, "get_compile_config"):
        compile_config = obj.get_compile_config()
        if compile_config is not None:
            config["compile_config"] = serialize_dict(compile_config)
    return config


def serialize_dict(obj):
    return {key: serialize_keras_object(value) for key, value in obj.items()}


# ---------------------------------------------------------------------- deserialize

def _code_refused(what):
    return ValueError(
        f"Refusing to deserialize {what}: it would execute Python code stored in the file, and lamina "
        "never executes code from a file (with or without `safe_mode`). Rewrite it as a layer or "
        "function registered with `@lamina.saving.register_keras_serializable()` (or pass it in "
        "`custom_objects`).")


def _locate_class(class_name, registered_name, module, full_config, custom_objects):
    obj = get_registered_object(registered_name, custom_objects)
    if obj is None and registered_name != class_name:
        obj = get_registered_object(class_name, custom_objects)
    if obj is not None:
        return obj
    if class_name == "Lambda" and (module is None or str(module).startswith("keras")):
        raise _code_refused("a `Lambda` layer")
    categories = _categories(module) if "module" in full_config else ("layers", "models", "optimizers")
    for category in categories:
        cls = BUILTIN_CLASSES[category].get(class_name)
        if cls is not None:
            return cls
    where = f" (module {module!r})" if module else ""
    raise ValueError(
        f"Could not locate class '{class_name}'{where}. lamina only builds its own classes and the ones "
        "registered with `@lamina.saving.register_keras_serializable()` or passed in `custom_objects`; "
        "it never imports a module named in a file. Make sure custom classes are decorated and "
        f"imported before loading. Full object config: {_short(full_config)}")


def _locate_function(name, module, custom_objects, prefer=None):
    obj = get_registered_object(name, custom_objects)
    if obj is not None:
        return obj
    tables = _function_tables()
    order = list(_FUNCTION_ORDER)
    if prefer in tables:
        order.remove(prefer)
        order.insert(0, prefer)
    if isinstance(module, str):
        for key in order:
            if key in module.split("."):
                order.remove(key)
                order.insert(0, key)
                break
    for key in order:
        if name in tables[key]:
            return tables[key][name]
    raise ValueError(
        f"Could not locate function '{name}'. Register it with "
        "`@lamina.saving.register_keras_serializable()` or pass it in `custom_objects`.")


def _short(config, limit=300):
    text = repr(config)
    return text if len(text) <= limit else text[:limit] + "...}"


def _call_from_config(cls, inner, custom_objects):
    from_config = getattr(cls, "from_config", None)
    if from_config is None:
        raise ValueError(f"Unable to reconstruct an instance of '{cls.__name__}' because the class is "
                         "missing a `from_config()` method.")
    try:
        params = inspect.signature(from_config).parameters
    except (TypeError, ValueError):
        params = {}
    if "custom_objects" in params:
        return from_config(inner, custom_objects=custom_objects)
    return from_config(inner)


class _SerializedTensor:
    """A `__keras_tensor__` entry seen outside a functional model's nodes (kept as data)."""

    def __init__(self, config):
        self.shape = tuple(config.get("shape") or ())
        self.dtype = config.get("dtype")
        self._pre_serialization_keras_history = config.get("keras_history")


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object a config describes (see the module docstring for what may be built).

    Args:
        config: a dict from `serialize_keras_object` (or a plain value, list or dict of them).
        custom_objects: a dict of names ("MyLayer" or "package>MyLayer") to classes or functions.
        safe_mode: kept for Keras's signature; lamina refuses serialized code in any case.
    """
    scoped = in_safe_mode()
    safe_mode = scoped if scoped is not None else safe_mode
    custom_objects = dict(custom_objects or {})
    prefer = kwargs.pop("prefer", None)
    if config is None:
        return None
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects)
        return found if found is not None else config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode, prefer=prefer) for x in config]
    if isinstance(config, PLAIN_TYPES):
        return config
    if not isinstance(config, dict):
        raise ValueError(f"Could not parse config: {_short(config)}")
    if "class_name" not in config or "config" not in config:
        return {key: deserialize_keras_object(value, custom_objects, safe_mode, prefer=prefer)
                for key, value in config.items()}

    class_name = config["class_name"]
    inner = config["config"] if config["config"] is not None else {}
    if not isinstance(class_name, str):
        raise ValueError(f"Invalid config: 'class_name' must be a string. Received: {_short(config)}")
    if class_name == "__keras_tensor__":
        return _SerializedTensor(inner)
    if class_name == "__tensor__":
        return convert_to_tensor(_numpy_value(inner, config))
    if class_name == "__numpy__":
        return _numpy_value(inner, config)
    if class_name == "__bytes__":
        return str(inner["value"]).encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(*(deserialize_keras_object(inner.get(k), custom_objects, safe_mode)
                       for k in ("start", "stop", "step")))
    if class_name in ("__lambda__", "__typespec__"):
        raise _code_refused("a Python lambda" if class_name == "__lambda__" else "a TypeSpec")

    module = config.get("module")
    registered_name = config.get("registered_name") or class_name
    if class_name == "function":
        if not isinstance(inner, str):
            raise ValueError(f"Expected 'config' to be a non-null str for a function. Full config: {_short(config)}")
        return _locate_function(inner, module, custom_objects, prefer)
    if class_name in ("DTypePolicy", "FloatDTypePolicy") and module in ("keras", "keras.dtype_policies", None):
        if not isinstance(inner, dict) or not isinstance(inner.get("name"), str):
            raise ValueError(f"Invalid DTypePolicy config: {_short(config)}")
        return inner["name"]
    if not isinstance(inner, dict):
        raise ValueError(f"Expected 'config' to be a dict for {class_name}. Full config: {_short(config)}")

    cls = _locate_class(class_name, registered_name, module, config, custom_objects)
    if isinstance(cls, types.FunctionType):
        return cls
    with CustomObjectScope(custom_objects), SafeModeScope(safe_mode):
        try:
            instance = _call_from_config(cls, inner, custom_objects)
            build_config = config.get("build_config")
            if build_config and not getattr(instance, "built", True):
                _check_build_shapes(build_config)
                instance.build_from_config(build_config)
            compile_config = config.get("compile_config")
            if compile_config and hasattr(instance, "compile_from_config"):
                instance.compile_from_config(compile_config)
        except (TypeError, KeyError, AttributeError, IndexError, NotImplementedError) as e:
            raise ValueError(
                f"{cls.__name__} could not be deserialized from its config: {type(e).__name__}: {e}. "
                f"Full object config: {_short(config)}") from e
    return instance


def _check_build_shapes(value):
    """Every shape in a build config within `lamina.utils.limits` (a model without its own `build`
    is built by running it on zeros of that shape): ValueError otherwise."""
    if isinstance(value, dict):
        for item in value.values():
            _check_build_shapes(item)
    elif isinstance(value, (list, tuple)):
        if all(d is None or isinstance(d, (int, float, str)) for d in value):
            limits.check_shape(value, "input_shape", max_elements=limits.MAX_INPUT_ELEMENTS)
        else:
            for item in value:
                _check_build_shapes(item)


def _numpy_value(inner, config):
    dtype = inner.get("dtype") if isinstance(inner, dict) else None
    if dtype not in _NUMPY_DTYPES:
        raise ValueError(f"Refusing an array of dtype {dtype!r} in a config: {_short(config)}")
    return np.array(inner["value"], dtype=dtype)


def deserialize_compile_config(config):
    """The keyword arguments of `compile()` from a saved compile config. Built-in loss and metric
    functions come back as their names (which `compile` resolves); objects from their configs."""
    if not isinstance(config, dict):
        raise ValueError(f"Invalid compile config (expected a dict): {_short(config)}")
    out = {}
    for key, value in config.items():
        if key == "loss":
            out[key] = _compile_entry(value, "losses")
        elif key in ("metrics", "weighted_metrics"):
            out[key] = _compile_entry(value, "metrics")
        else:
            out[key] = deserialize_keras_object(value)
    return out


def _compile_entry(value, prefer):
    if value is None or isinstance(value, (int, float, bool)):
        return value
    if isinstance(value, str):
        found = get_registered_object(value)
        return found if found is not None else value
    if isinstance(value, (list, tuple)):
        return [_compile_entry(v, prefer) for v in value]
    if isinstance(value, dict):
        if "class_name" not in value or "config" not in value:
            return {k: _compile_entry(v, prefer) for k, v in value.items()}
        if value["class_name"] == "function" and isinstance(value["config"], str):
            name = value["config"]
            if name in _function_tables()[prefer]:
                return name
            return _locate_function(name, value.get("module"), {}, prefer)
        return deserialize_keras_object(value, prefer=prefer)
    raise ValueError(f"Invalid entry in a compile config: {_short(value)}")
