"""The registry of user classes and functions that files may name (Keras 3's
`keras.saving.register_keras_serializable`, `custom_object_scope`, `get_custom_objects`).

A file can only make lamina build what lamina itself provides (a fixed allow-list) and what the
user registered here or passes as `custom_objects`: nothing is ever imported or executed because a
file names it. This module imports nothing from lamina, so any module may look names up here.
"""
import inspect
import threading

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects", "get_registered_name",
           "get_registered_object", "register_keras_serializable"]

GLOBAL_CUSTOM_OBJECTS = {}  # "package>Name" -> class or function
GLOBAL_CUSTOM_NAMES = {}    # class or function -> "package>Name"

_scope = threading.local()


def _scope_objects():
    """The objects of the `CustomObjectScope`s open in this thread (innermost last)."""
    merged = {}
    for objects in getattr(_scope, "stack", []):
        merged.update(objects)
    return merged


class CustomObjectScope:
    """`with CustomObjectScope({"MyLayer": MyLayer}):` makes these names resolvable while loading.

    Keys are the names a file uses: a class or function name, or a registered name
    ("package>Name"). Values are the classes or functions themselves."""

    def __init__(self, custom_objects):
        self.custom_objects = dict(custom_objects or {})

    def __enter__(self):
        if not hasattr(_scope, "stack"):
            _scope.stack = []
        _scope.stack.append(self.custom_objects)
        return self

    def __exit__(self, *args):
        _scope.stack.pop()


custom_object_scope = CustomObjectScope


def get_custom_objects():
    """The global dict of registered objects ("package>Name" -> object); editing it registers."""
    return GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package="Custom", name=None):
    """Registers a class or function so that files can name it: `package>name` (name defaults to
    the class or function name).

        @lamina.saving.register_keras_serializable(package="my_package")
        class MyLayer(lamina.layers.Layer):
            ...
    """

    def decorator(arg):
        class_name = name if name is not None else arg.__name__
        registered_name = package + ">" + class_name
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        previous = GLOBAL_CUSTOM_OBJECTS.get(registered_name)
        if previous is not None and previous is not arg and not _same_definition(previous, arg):
            raise ValueError(f"{registered_name} has already been registered to {previous}")
        GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg

    return decorator


def _same_definition(a, b):
    """A class defined again by re-running the same code (a notebook cell, a reloaded module)."""
    return (getattr(a, "__module__", None) == getattr(b, "__module__", None)
            and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None))


def get_registered_name(obj):
    """The name a file uses for `obj`: its registered "package>Name", else its own name."""
    if obj in GLOBAL_CUSTOM_NAMES:
        return GLOBAL_CUSTOM_NAMES[obj]
    return getattr(obj, "__name__", None)


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object for `name`: from the open `CustomObjectScope`s, `custom_objects`, the registry,
    then `module_objects`; None when none has it."""
    if not isinstance(name, str):
        return None
    scoped = _scope_objects()
    if name in scoped:
        return scoped[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in GLOBAL_CUSTOM_OBJECTS:
        return GLOBAL_CUSTOM_OBJECTS[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None
