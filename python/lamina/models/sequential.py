"""`lamina.Sequential`: a plain stack of layers, each with one input and one output."""
from lamina.backend import Tensor, convert_to_tensor
from lamina.layers.core import InputLayer
from lamina.layers.layer import Layer, _dtype_policy_config
from lamina.models.model import Model
from lamina.saving.object_registration import keras_export
from lamina.saving.serialization_lib import deserialize_keras_object, serialize_keras_object
from lamina.symbolic import KerasTensor
from lamina.utils import tree
from lamina.utils.naming import auto_name

__all__ = ["Sequential"]


@keras_export("keras.Sequential")
class Sequential(Model):
    """A stack of layers. Build it from a list or with `add()`; it builds its weights on its first
    call, on `build(input_shape)`, or at once when it starts with an `Input`.

        model = lamina.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3)])
        y = model(ops.ones((1, 4)))     # builds: (1, 4) -> (1, 2) -> (1, 3)
    """

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name)
        self._layers = []
        self._graph = None  # (input KerasTensor, output KerasTensor) of the last build
        if layers is not None:
            if isinstance(layers, (Layer, KerasTensor)):
                layers = [layers]
            for layer in layers:
                self.add(layer, rebuild=False)
            self._maybe_rebuild()

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        """The model's layers (an input layer given with `Input` is not listed)."""
        layers = self._layers
        if layers and isinstance(layers[0], InputLayer):
            return layers[1:]
        return list(layers)

    @layers.setter
    def layers(self, _):
        raise AttributeError(
            "`Sequential.layers` attribute is reserved and should not be used. "
            "Use `add()` and `pop()` to change the layers in this model.")

    @property
    def _layers_for_weights(self):
        return self.layers

    def add(self, layer, rebuild=True):
        """Adds a layer on top of the stack (an `Input` may come first)."""
        if isinstance(layer, KerasTensor) and layer._keras_history is not None:
            origin = layer._keras_history[0]
            if isinstance(origin, InputLayer):
                layer = origin
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `keras.Layer` can be added to a Sequential model. "
                f"Received: {layer} (of type {type(layer)})")
        if isinstance(layer, InputLayer):
            if self._layers and isinstance(self._layers[0], InputLayer):
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use input shape "
                    f"{self._layers[0].batch_shape}. You cannot add a different Input layer to it.")
            if self._layers:
                raise ValueError("An Input can only be the first layer of a Sequential model.")
        if any(l is layer for l in self._layers):
            raise ValueError(
                f"The layer {layer.name} is already in the model {self.name}: a Sequential model cannot "
                "use the same layer twice.")
        names = {l.name for l in self._layers}
        if layer.name in names:
            raise ValueError(
                f"All layers added to a Sequential model should have unique names. Name '{layer.name}' "
                f"is already the name of a layer in this model. Update the `name` argument to pass a unique name.")
        self._layers.append(layer)
        self.built = False
        self._graph = None
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        """Removes and returns the top layer (IndexError when there is none)."""
        if not self.layers:
            raise IndexError(f"pop from an empty Sequential model '{self.name}'")
        layer = self._layers.pop()
        self.built = False
        self._graph = None
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        self.built = False
        self._graph = None
        if not self.layers:
            return
        if isinstance(self._layers[0], InputLayer):
            self.build(self._layers[0].batch_shape)
        elif getattr(self._layers[0], "_input_shape_arg", None) is not None:
            self.build(self._layers[0]._input_shape_arg)
        elif isinstance(self._layers[0], Model) and tree.is_shape(getattr(self._layers[0], "input_shape", None) or 0):
            self.build(self._layers[0].input_shape)  # a model with a known input shape (e.g. functional)

    # ------------------------------------------------------------------ building and calling
    def build(self, input_shape=None):
        """Builds every layer for `input_shape` (batch axis included, may be None), inferring each
        layer's output shape without data."""
        if not self.layers:
            raise ValueError(
                f"Sequential model {self.name} cannot be built because it has no layers. "
                "Call `model.add(layer)`.")
        if input_shape is None and self._layers and isinstance(self._layers[0], InputLayer):
            input_shape = self._layers[0].batch_shape
        if input_shape is None:
            raise ValueError(
                f"You must provide an `input_shape` argument to build Sequential model '{self.name}', "
                "e.g. `model.build((None, 4))`.")
        input_shape = tuple(input_shape)
        if isinstance(self._layers[0], InputLayer):
            if self._layers[0].batch_shape[1:] != input_shape[1:]:
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use input shape "
                    f"{self._layers[0].batch_shape}. You cannot build it with input_shape {input_shape}")
        else:
            self._layers.insert(0, InputLayer(batch_shape=input_shape))
        x = inputs = self._layers[0].output
        auto_name("functional")  # Keras builds a functional model here: keep its automatic names in step
        with self._open_name_scope():  # weights made here get paths `<model>/<layer>/<weight>`
            for layer in self._layers[1:]:
                x = layer(x)
        self._graph = (inputs, x)
        self._build_shapes_dict = {"input_shape": input_shape}
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, KerasTensor) and type(inputs) is not Tensor:
            inputs = convert_to_tensor(inputs)
        if not self.built:
            self.build(inputs.shape)
        if isinstance(inputs, KerasTensor):
            return Layer._symbolic_call(self, inputs, *args, **kwargs)
        with self._open_name_scope():
            return self.call(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # ------------------------------------------------------------------ graph attributes (once built)
    def _graph_part(self, what, index):
        if self._graph is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined {what} yet.")
        return self._graph[index]

    @property
    def inputs(self):
        """[the symbolic input] once the model is built (AttributeError before)."""
        return [self._graph_part("inputs", 0)]

    @property
    def outputs(self):
        """[the symbolic output of the top layer] once the model is built (AttributeError before)."""
        return [self._graph_part("outputs", 1)]

    @property
    def input_shape(self):
        return self._graph_part("input shape", 0).shape

    @property
    def output_shape(self):
        return self._graph_part("output shape", 1).shape

    # ------------------------------------------------------------------ weights and summary
    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"Weights for model '{self.name}' have not yet been created. Weights are created when "
                "the model is first called on inputs or `build()` is called with an `input_shape`."
                if what == "weights" else
                f"The model '{self.name}' has not yet been built. Build the model first by calling "
                "`build()` or by calling the model on a batch of data.")

    @property
    def weights(self):
        """All weights (ValueError while the model is not built: it has none yet)."""
        self._require_built("weights")
        return super().weights

    def summary(self, *args, **kwargs):
        self._require_built("summary")
        return super().summary(*args, **kwargs)

    def _obj_type(self):
        return "Sequential"

    @classmethod
    def _saving_reference(cls):
        return Sequential(name="sequential_reference")

    def get_config(self):
        """Keras 3's Sequential config: `name`, `trainable`, `dtype`, `layers` (each layer's
        serialized config, the input layer first) and `build_input_shape` once built."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": _dtype_policy_config(self.dtype),
                  "layers": [serialize_keras_object(layer) for layer in self._layers]}
        if self._graph is not None:
            config["build_input_shape"] = self._layers[0].batch_shape
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model with the same layers (new weights), built if the config says it was."""
        if not isinstance(config, dict) or "name" not in config or "layers" not in config:
            raise ValueError("A Sequential model configuration must be a dictionary containing the "
                             f"'name' and 'layers' keys. Received: config={config}")
        model = cls(name=config["name"], trainable=config.get("trainable", True))
        for item in config["layers"]:
            layer = deserialize_keras_object(item, custom_objects=custom_objects)
            if not isinstance(layer, Layer):
                raise ValueError(f"Expected a layer in a Sequential config, got {type(layer).__name__}: "
                                 f"{str(item)[:200]}")
            model.add(layer, rebuild=False)
        build_input_shape = config.get("build_input_shape")
        if build_input_shape is not None and not model.built and model.layers:
            model.build(tuple(build_input_shape))
        else:
            model._maybe_rebuild()
        return model
