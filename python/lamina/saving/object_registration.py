"""The registries of the classes and functions that files may name.

- lamina's own (the allow-list): each class registers itself where it is defined with
  `@keras_export("keras.layers.Dense")`, the Keras path files name it by, and each table of
  functions (activations, losses, metrics) with `export_functions`;
- the user's (Keras 3's `keras.saving.register_keras_serializable`, `custom_object_scope`,
  `get_custom_objects`).

A file can only make lamina build what is registered here or passed as `custom_objects`: nothing
is ever imported or executed because a file names it. This module imports nothing from lamina, so
every module may register here, and saving reads these tables without importing the modules that
fill them (they sit above it).
"""
import inspect
import threading

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects", "get_registered_name",
           "get_registered_object", "register_keras_serializable"]

# The sections of the allow-list, named as the parts of a Keras module path ("keras.optimizers.
# schedules" is a schedule's, not an optimizer's: the first found in this order wins).
CATEGORIES = ("schedules", "optimizers", "losses", "metrics", "initializers", "layers", "models")

BUILTIN_CLASSES = {category: {} for category in CATEGORIES}  # category -> {class name: class}
BUILTIN_NAMES = {}      # class -> (module, class name, registered name), as Keras writes them
BUILTIN_FUNCTIONS = {}  # "activations" / "losses" / "metrics" -> {name: function}


def category_of(module):
    """The allow-list section of a Keras module path: `keras.layers` -> "layers"; a bare `keras`
    (`keras.Sequential`, `keras.Model`) -> "models"."""
    parts = module.split(".")
    return next((key for key in CATEGORIES if key in parts), "models")


def keras_export(path, registered_name=None, from_files=True):
    """Registers one of lamina's classes under its public Keras path (`"keras.layers.Dense"`), the
    module and class name its configs carry. `from_files=False` writes the class's configs as Keras
    does but never builds it from a file (`Lambda`: its config holds code).

        @keras_export("keras.layers.Dense")
        class Dense(Layer):
            ...
    """
    module, _, class_name = path.rpartition(".")

    def decorator(cls):
        if cls.__name__ != class_name:
            raise ValueError(f"keras_export('{path}') names '{class_name}', but decorates {cls.__name__}")
        section = BUILTIN_CLASSES[category_of(module)]
        previous = section.get(class_name)
        if previous is not None and previous is not cls and not _same_definition(previous, cls):
            raise ValueError(f"{path} is already exported by {previous}")
        BUILTIN_NAMES[cls] = (module, class_name, registered_name)
        if from_files:
            section[class_name] = cls
        return cls

    return decorator


def builtin_function_name(category, fn):
    """The name `fn` has in lamina's table of built-in `category` functions (its first one), or
    None when it is not one of them."""
    for name, obj in BUILTIN_FUNCTIONS.get(category, {}).items():
        if obj is fn:
            return name
    return None


def export_functions(category, table):
    """Registers lamina's table of built-in functions `{name: function}` for `category`
    ("activations", "losses", "metrics"): configs name these functions, and files may name them.
    The table itself is kept, so entries added to it later are seen too."""
    BUILTIN_FUNCTIONS[category] = table
    return table


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
