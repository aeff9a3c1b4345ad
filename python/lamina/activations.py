"""Activation functions by name or object (`keras.activations`)."""
from lamina import ops
from lamina.saving.object_registration import export_functions, get_registered_name, get_registered_object

__all__ = ["elu", "gelu", "get", "leaky_relu", "linear", "relu", "selu", "serialize", "sigmoid",
           "silu", "softmax", "softplus", "swish", "tanh"]


def relu(x):
    return ops.relu(x)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def linear(x):
    return x


def gelu(x, approximate=False):
    # keras.activations.gelu defaults to the exact form (keras.ops.gelu to the approximate one).
    return ops.gelu(x, approximate=approximate)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha=alpha)


def selu(x):
    return ops.selu(x)


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope=negative_slope)


def silu(x):
    return ops.silu(x)


swish = silu


def softplus(x):
    return ops.softplus(x)


# The names are the C++ Activation table's (cpp/include/lamina/unary_ops.def), in its order, each
# mapped to this module's function of that name (an alias such as swish to the same function).
_BY_NAME = {name: globals()[name] for name in ops._ACTIVATION_NAMES}


def get(identifier):
    """The activation for a name, a callable, or None (linear). Unknown names raise ValueError."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier) or _registered(identifier)
        if fn is None:
            raise ValueError(f"Could not interpret activation function identifier: {identifier}")
        return fn
    if isinstance(identifier, dict) and identifier.get("class_name") == "function" and isinstance(
            identifier.get("config"), str):
        # Keras's config of a function: a built-in name, or a user's registered function
        fn = _BY_NAME.get(identifier["config"]) or _registered(identifier["config"])
        if fn is None:
            raise ValueError(
                f"Could not interpret activation function identifier: {identifier}. Register the function "
                "with `@lamina.saving.register_keras_serializable()` or pass it in `custom_objects`.")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier}")


def _registered(name):
    fn = get_registered_object(name)
    return fn if callable(fn) else None


# Each built-in function's first name: "silu", not its alias "swish".
_NAME_OF = {}
for _name, _fn in _BY_NAME.items():
    _NAME_OF.setdefault(_fn, _name)
del _name, _fn


def builtin_name(activation):
    """The name of a built-in activation function, or None for any other callable (one dict
    lookup: Dense and Conv2D ask on every call)."""
    try:
        return _NAME_OF.get(activation)
    except TypeError:  # an unhashable callable is no built-in
        return None


def serialize(activation):
    """The name of a built-in activation; for another function, Keras's config of a function
    (`{"module": "builtins", "class_name": "function", "config": "package>name", ...}`), which
    loads back when the function is registered with `register_keras_serializable`."""
    name = builtin_name(activation)
    if name is not None:
        return name
    return {"module": "builtins", "class_name": "function",
            "config": get_registered_name(activation) or str(activation), "registered_name": "function"}


export_functions("activations", _BY_NAME)  # the names configs and files use
