"""`lamina.layers.Layer`: the base of every layer and model, with Keras 3 semantics.

Weights are created lazily: `build(input_shape)` runs on the first call, when the input shape is
known. Calling a layer on a symbolic `KerasTensor` (from `lamina.Input`) builds it and records a
node without computing anything; calling it on data runs `call()` through lamina's C++ ops.
"""
import inspect
import warnings

import numpy as np

from lamina import autograd, initializers, ops
from lamina.backend import Tensor, convert_to_tensor, standardize_dtype
from lamina.layers.input_spec import InputSpec, assert_input_compatibility
from lamina.saving.keras_saveable import KerasSaveable, assign_variables
from lamina.saving.object_registration import keras_export
from lamina.symbolic import KerasTensor, Node
from lamina.utils import limits, tree
from lamina.utils.naming import NameScope, auto_name, current_path, to_snake_case
from lamina.variables import Variable

__all__ = ["Layer"]


def reject_unsupported(layer_name, **options):
    """Raises NotImplementedError for options lamina accepts in signatures (Keras's) but does not
    apply yet (regularizers, constraints): silently ignoring them would train a different model."""
    for option, value in options.items():
        if value is not None:
            raise NotImplementedError(
                f"{layer_name}: `{option}={value!r}` is not supported by lamina yet (regularizers and "
                "constraints are not applied); leave it as None.")


@keras_export("keras.layers.Layer")
class Layer(KerasSaveable):
    """Base class for layers. Subclasses implement `build(input_shape)` (create weights with
    `add_weight`) and `call(inputs, training=None)`; `compute_output_shape` lets models infer shapes
    without data."""

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        # Keras's auto-config: the constructor arguments, when they are all plain values, are what
        # `get_config()` returns for a subclass that does not define it.
        object.__setattr__(instance, "_auto_config", _auto_config(cls, args, kwargs))
        return instance

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None, autocast=True,
                 name=None, **kwargs):
        reject_unsupported(type(self).__name__, activity_regularizer=activity_regularizer)
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        if kwargs:
            raise ValueError(
                f"Unrecognized keyword arguments passed to {self.__class__.__name__}: {kwargs}")
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError("Argument `name` must be a string and cannot contain character `/`. "
                             f"Received: name={name} (of type {type(name)})")
        if "_tracked_layers" not in self.__dict__:
            object.__setattr__(self, "_tracked_layers", [])
        object.__setattr__(self, "_trainable_vars", [])  # created trainable (freezing flips them)
        object.__setattr__(self, "_non_trainable_vars", [])  # created non-trainable (e.g. statistics)
        self.name = name or auto_name(to_snake_case(self.__class__.__name__))
        self._trainable = bool(trainable)
        self.dtype = standardize_dtype(dtype_policy_name(dtype)) or "float32"
        self.built = False
        self.input_spec = None
        self._inbound_nodes = []
        self._build_shapes_dict = None
        self._parent_path = None  # the name-scope path the layer was first built or called under
        self.supports_masking = False
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None:
            warnings.warn(
                "Do not pass an `input_shape`/`input_dim` argument to a layer. When using Sequential "
                "models, prefer using an `Input(shape)` object as the first layer in the model instead.",
                stacklevel=2)
            self._input_shape_arg = (batch_size,) + tuple(input_shape)
        self._call_has_training = "training" in inspect.signature(self.call).parameters

    # ------------------------------------------------------------------ tracking
    def __setattr__(self, name, value):
        if "_tracked_layers" not in self.__dict__:  # a subclass setting attributes before super().__init__()
            object.__setattr__(self, "_tracked_layers", [])
        if isinstance(value, Layer) and name != "_tracked_layers":
            if value not in self._tracked_layers:
                self._tracked_layers.append(value)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
            for v in value:
                if v not in self._tracked_layers:
                    self._tracked_layers.append(v)
        object.__setattr__(self, name, value)

    @property
    def _layers_for_weights(self):
        return self._tracked_layers

    # ------------------------------------------------------------------ weights
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none", name=None):
        """Creates a weight of this layer (a `Variable` with path `<layer>/<name>`)."""
        reject_unsupported(f"{self.name}.add_weight", regularizer=regularizer, constraint=constraint)
        dtype = standardize_dtype(dtype) or self.dtype
        name = name or auto_name("variable")
        # sizes checked, and charged to the budget of a model being loaded, before allocating
        shape = limits.charge_weight(() if shape is None else shape, np.dtype(dtype).itemsize,
                                     f"'{self.name}/{name}'")
        if initializer is None:
            initializer = "glorot_uniform" if dtype == "float32" else "zeros"
        init = initializers.get(initializer)
        v = Variable(init, shape=shape, dtype=dtype, trainable=trainable, name=name)
        with NameScope(self.name, self):
            v.path = f"{current_path()}/{name}"
        if trainable:
            v.trainable = self.trainable
            self._trainable_vars.append(v)
        else:
            self._non_trainable_vars.append(v)
        return v

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self._trainable = value
        for v in self._trainable_vars:
            v.trainable = value
        for layer in self._layers_for_weights:
            layer.trainable = value

    def _all_weights(self):
        """The layer's own weights (created trainable first, in creation order), then each
        sub-layer's, without duplicates: Keras's order, which freezing does not change."""
        out, seen = [], set()
        for w in self._trainable_vars + self._non_trainable_vars:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        for layer in self._layers_for_weights:
            for w in layer._all_weights():
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self):
        """Weights updated by training: none when the layer is frozen."""
        if not self.trainable:
            return []
        return [w for w in self._all_weights() if w.trainable]

    @property
    def non_trainable_weights(self):
        """Weights training leaves alone: all of them when the layer is frozen."""
        if not self.trainable:
            return self._all_weights()
        return [w for w in self._all_weights() if not w.trainable]

    @property
    def weights(self):
        """All weights: each layer's trainable ones first, then its non-trainable ones, as Keras
        orders them."""
        return self._all_weights()

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    def count_params(self):
        """Number of scalars in the layer's weights (ValueError before it is built)."""
        if not self.built:
            raise ValueError(
                "You tried to call `count_params` on layer '" + self.name + "', but the layer isn't "
                "built. You can build it manually via: `layer.build(input_shape)`.")
        total = 0
        for w in self._all_weights():
            n = 1
            for d in w.shape:
                n *= d
            total += n
        return total

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                f"You called `set_weights(weights)` on layer '{self.name}' with a weight list of length "
                f"{len(weights)}, but the layer was expecting {len(params)} weights.")
        for p, w in zip(params, weights):
            t = convert_to_tensor(w, p.dtype)
            if tuple(t.shape) != p.shape:
                raise ValueError(
                    f"Layer {self.name} weight shape {p.shape} is not compatible with provided weight "
                    f"shape {tuple(t.shape)}.")
        for p, w in zip(params, weights):
            p.assign(w)

    # ------------------------------------------------------------------ building and calling
    def build(self, input_shape):
        """Creates the layer's weights for `input_shape` (layers without weights need nothing)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"Layer {self.__class__.__name__} does not have a `call()` method implemented.")

    def compute_output_shape(self, input_shape):
        """The output shape for `input_shape` (None for unknown dimensions)."""
        raise NotImplementedError(
            f"Layer {self.__class__.__name__} should implement `def compute_output_shape(self, input_shape)`.")

    def _open_name_scope(self):
        if self._parent_path is None:
            self._parent_path = current_path()
        return NameScope(self.name, self)

    def _maybe_build(self, input_shape):
        if self.built:
            return
        if tree.is_shape(input_shape):
            input_shape = tuple(input_shape)
        self._build_shapes_dict = {"input_shape": input_shape}
        with self._open_name_scope():
            self.build(input_shape)
        self.built = True

    def _check_inputs(self, inputs):
        """Input-spec check: one spec for a single input, or one per input of a list."""
        spec = self.input_spec
        if spec is None:
            return
        if isinstance(spec, (list, tuple)):
            flat = tree.flatten(inputs)
            for i, (s, x) in enumerate(zip(spec, flat)):
                if s is not None:
                    assert_input_compatibility(s, x, self.name, i)
        elif not tree.is_nested(inputs):
            assert_input_compatibility(spec, inputs, self.name)

    def __call__(self, inputs, *args, **kwargs):
        if type(inputs) is not Tensor:
            if isinstance(inputs, KerasTensor) or (
                    tree.is_nested(inputs) and any(isinstance(t, KerasTensor) for t in tree.flatten(inputs))):
                return self._symbolic_call(inputs, *args, **kwargs)
            if tree.is_nested(inputs):
                inputs = tree.map_structure(lambda t: t if type(t) is Tensor else convert_to_tensor(t), inputs)
            else:
                inputs = convert_to_tensor(inputs)
        self._check_inputs(inputs)
        if not self._call_has_training:
            kwargs.pop("training", None)
        if self.built and not self._tracked_layers:  # nothing can create weights: skip the name scope
            return self.call(inputs, *args, **kwargs)
        with self._open_name_scope():  # weights built here get paths under this layer's
            self._maybe_build(tree.map_structure(lambda t: tuple(t.shape), inputs))
            return self.call(inputs, *args, **kwargs)

    def _symbolic_call(self, inputs, *args, **kwargs):
        if args:
            raise ValueError(
                f"Layer {self.name}: extra positional arguments are not supported in a symbolic call; "
                "pass them as keyword arguments.")
        self._check_inputs(inputs)
        shapes = tree.map_structure(lambda t: tuple(t.shape), inputs)
        with self._open_name_scope():
            self._maybe_build(shapes)
            out_shapes = self._output_shapes(inputs, shapes, kwargs)
        out_dtype = getattr(self, "compute_dtype", None) or self.dtype
        outputs = tree.map_shape_structure(lambda s: KerasTensor(s, dtype=out_dtype), out_shapes)
        Node(self, inputs, outputs, {k: v for k, v in kwargs.items() if k != "training"})
        return outputs

    def _output_shapes(self, inputs, shapes, kwargs):
        """compute_output_shape(), or, for layers that do not define it (user layers), the shapes
        found by running call() once on zeros (None dimensions taken as 1, and given back as None)."""
        try:
            return self.compute_output_shape(shapes)
        except NotImplementedError:
            pass

        def zeros(t):
            return ops.zeros(tuple(1 if d is None else d for d in t.shape), t.dtype)

        dummy = tree.map_structure(zeros, inputs)
        kwargs = dict(kwargs)
        if self._call_has_training:
            kwargs["training"] = False
        else:
            kwargs.pop("training", None)
        with autograd.no_grad():
            out = self.call(dummy, **kwargs)
        unknown_batch = any(t.shape and t.shape[0] is None for t in tree.flatten(inputs))
        return tree.map_structure(
            lambda t: ((None,) + tuple(t.shape)[1:]) if unknown_batch and len(t.shape) else tuple(t.shape), out)

    # ------------------------------------------------------------------ graph attributes
    def _node_attribute(self, attr):
        if not self._inbound_nodes:
            raise AttributeError(
                f"The layer {self.name} has never been called and thus has no defined {attr}.")
        values = getattr(self._inbound_nodes[0], attr + "_tensors")
        return values[0] if len(values) == 1 else values

    @property
    def input(self):
        """The symbolic input of the layer's first call (Sequential and functional models)."""
        return self._node_attribute("input")

    @property
    def output(self):
        """The symbolic output of the layer's first call (Sequential and functional models)."""
        return self._node_attribute("output")

    # ------------------------------------------------------------------ config
    def get_config(self):
        """The layer's constructor arguments, as Keras 3 writes them: `name`, `trainable` and
        `dtype` (a DTypePolicy config); a subclass adds its own arguments. A subclass that does not
        define `get_config` gets the plain-valued arguments it was constructed with (Keras's
        auto-config)."""
        config = {"name": self.name}
        auto = self.__dict__.get("_auto_config")
        if type(self).get_config is Layer.get_config and auto is not None:
            config.update(auto)
            params = inspect.signature(type(self).__init__).parameters
            if "name" not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
                config.pop("name", None)
        config.update(trainable=self.trainable, dtype=_dtype_policy_config(self.dtype))
        return config

    @classmethod
    def from_config(cls, config):
        """A new layer from `get_config()`'s dict (a DTypePolicy config is read as its dtype)."""
        config = dict(config)
        if "dtype" in config:
            config["dtype"] = dtype_policy_name(config["dtype"])
        batch_input_shape = config.pop("batch_input_shape", None)
        if batch_input_shape is not None:
            config["input_shape"] = tuple(batch_input_shape[1:])
        params = inspect.signature(cls.__init__).parameters
        held = {}
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            for key in ("name", "trainable", "dtype"):  # base arguments the subclass does not take
                if key in config and key not in params:
                    held[key] = config.pop(key)
        layer = cls(**config)
        if "trainable" in held:
            layer.trainable = held["trainable"]
        return layer

    def get_build_config(self):
        """The shapes the layer was built for (`{"input_shape": ...}`), or None if it was not."""
        shapes = self._build_shapes_dict
        if shapes is None:
            return None
        if len(shapes) == 1:
            return {"input_shape": next(iter(shapes.values()))}
        return {"shapes_dict": shapes}

    def build_from_config(self, config):
        """Builds the layer (creates its weights) for the shapes `get_build_config()` gave. A layer
        or model without its own `build` runs once on zeros of that shape, which creates the
        weights of the layers it calls."""
        if not config or config.get("input_shape") is None or self.built:
            return
        shape = _as_shapes(config["input_shape"])
        if type(self).build is Layer.build and (self._tracked_layers or hasattr(self, "compile")):
            zeros = tree.map_shape_structure(lambda s: ops.zeros(tuple(1 if d is None else d for d in s)), shape)
            with autograd.no_grad():
                self(zeros, training=False)
            self._build_shapes_dict = {"input_shape": shape}
        else:
            self._maybe_build(shape)
        self.built = True

    # ------------------------------------------------------------------ saving
    def _obj_type(self):
        return "Layer"

    @classmethod
    def _saving_reference(cls):
        return Layer(name="layer_reference")

    def save_own_variables(self, store):
        """Writes the layer's own variables (not its sub-layers': they have their own) into `store`
        as "0", "1", ... (trainable first). Override it, with `load_own_variables`, to choose what
        a file holds for the layer (Keras 3's hook, called by `model.save` / `save_weights`)."""
        for i, v in enumerate(self._trainable_vars + self._non_trainable_vars):
            store[str(i)] = v

    def load_own_variables(self, store):
        """Reads back what `save_own_variables` wrote (called by `load_model` / `load_weights`):
        ValueError, with nothing assigned, when the count or a shape does not fit."""
        all_vars = self._trainable_vars + self._non_trainable_vars
        if len(store.keys()) != len(all_vars):
            if not all_vars and not self.built:
                raise ValueError(
                    f"Layer '{self.name}' was never built and thus it doesn't have any variables. However the "
                    f"weights file lists {len(store.keys())} variables for this layer.\nIn most cases, this "
                    "error indicates that either:\n\n1. The layer is owned by a parent layer that implements a "
                    "`build()` method, but calling the parent's `build()` method did NOT create the state of "
                    f"the child layer '{self.name}'. A `build()` method must create ALL state for the layer, "
                    "including the state of any children layers.\n\n2. You need to implement the "
                    f"`def build_from_config(self, config)` method on layer '{self.name}', to specify how to "
                    "rebuild it during loading. In this case, you might also want to implement the method that "
                    "generates the build config at saving time, `def get_build_config(self)`. The method "
                    "`build_from_config()` is meant to create the state of the layer (i.e. its variables) "
                    "upon deserialization.")
            raise ValueError(
                f"Layer '{self.name}' expected {len(all_vars)} variables, but received {len(store.keys())} "
                f"variables during loading. Expected: {[v.name for v in all_vars]}")
        assign_variables(all_vars, store)

    def __repr__(self):
        return f"<{self.__class__.__name__} name={self.name}, built={self.built}>"


def dtype_policy_name(dtype):
    """The dtype of a Keras DTypePolicy config (`{"class_name": "DTypePolicy", "config": {"name": ...}}`),
    or `dtype` itself."""
    if isinstance(dtype, dict):
        inner = dtype.get("config")
        if dtype.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy") or not isinstance(inner, dict) \
                or not isinstance(inner.get("name"), str):
            raise ValueError(f"Invalid dtype policy config: {dtype}")
        return inner["name"]
    return dtype


def _dtype_policy_config(dtype):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


def _as_shapes(value):
    """A shape (or structure of shapes) read back from JSON: lists of ints become tuples."""
    if tree.is_shape(value):
        return tuple(value)
    if isinstance(value, dict):
        return {k: _as_shapes(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_shapes(v) for v in value]
    raise ValueError(f"Invalid shape in a build config: {value!r}")


_PLAIN = (str, int, float, bool, type(None))


def _auto_config(cls, args, kwargs):
    """The constructor's arguments (defaults included, `name` left out) when every value is plain
    (str, int, float, bool, None, or lists / dicts of them); None otherwise."""
    try:
        signature = inspect.signature(cls.__init__)
        bound = signature.bind(None, *args, **kwargs)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if any(p.kind == p.POSITIONAL_ONLY for p in params[1:]):
        return None
    if cls.__init__ is not Layer.__init__:  # the base arguments' defaults belong to every layer
        bound.apply_defaults()
    values = dict(bound.arguments)
    values.pop(params[0].name, None)
    for p in params[1:]:
        if p.kind == p.VAR_KEYWORD:
            values.update(values.pop(p.name, {}))
        elif p.kind == p.VAR_POSITIONAL and values.pop(p.name, ()):
            return None
    values.pop("name", None)
    if not all(isinstance(v, _PLAIN) for v in tree.flatten(values)):
        return None
    return values
