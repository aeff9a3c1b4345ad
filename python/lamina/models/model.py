"""`lamina.Model`: the base of Sequential, functional and subclassed models.

`lamina.Model(inputs, outputs)` builds a functional model; subclassing `lamina.Model` (layers as
attributes, `call(self, inputs, training=None)`) builds a subclassed one."""
import json

from lamina.layers.layer import Layer
from lamina.models.trainer import Trainer
from lamina.saving import saving_api
from lamina.saving.object_registration import keras_export
from lamina.saving.serialization_lib import serialize_keras_object
from lamina.utils.summary import print_summary

__all__ = ["Model"]


def _functional():
    """The `Functional` class, which `Model(inputs, outputs)` and a functional config build."""
    from lamina.models.functional import Functional  # a subclass of Model: its module imports this one

    return Functional


@keras_export("keras.Model")
class Model(Trainer, Layer):
    """A layer made of layers, with `summary()`, `get_layer()`, training (`compile` / `fit` /
    `evaluate` / `predict`, from `Trainer`) and saving.

    - `Model(inputs=..., outputs=...)`: a functional model over the graph between symbolic tensors.
    - `class MyModel(Model)`: a subclassed model; layers assigned as attributes are tracked, and
      `call(self, inputs, training=None)` says how they run.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            functional = _functional()
            return functional.__new__(functional)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError(
                f"{type(self).__name__}.__init__() takes keyword arguments only (name=, trainable=, dtype=); "
                "to build a functional model call lamina.Model(inputs, outputs).")
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ saving
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Saves the model (config, weights, compile config and optimizer state) as a `.keras`
        file that Keras 3 can load too. See `lamina.saving.save_model`."""
        return saving_api.save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Saves the weights (and the optimizer's state, when compiled) to a `.weights.h5` file in
        Keras 3's layout."""
        return saving_api.save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Loads weights from a `.weights.h5` or `.keras` file (lamina's or Keras 3's), all or
        nothing: weights that do not fit raise ValueError and leave the model unchanged."""
        return saving_api.load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs):
        """The model's serialized config as a JSON string (`lamina.models.model_from_json`)."""
        return json.dumps(serialize_keras_object(self), **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from its config: a functional model's config builds a functional model (for
        `Model`, `Functional` and subclasses that keep the functional constructor); any other
        config is passed to the constructor, as Keras does."""
        functional = _functional()
        keys = ("name", "layers", "input_layers", "output_layers")
        functional_like = cls in (Model, functional) or cls.__init__ is functional.__init__
        if isinstance(config, dict) and all(k in config for k in keys) and functional_like:
            return functional.from_config.__func__(functional if cls is Model else cls, config,
                                                   custom_objects=custom_objects)
        return Layer.from_config.__func__(cls, config)

    def _obj_type(self):
        return "Model"

    @classmethod
    def _saving_reference(cls):
        return Model(name="model_reference")

    @property
    def layers(self):
        """The model's layers (tracked attributes, for a subclassed model)."""
        return list(self._tracked_layers)

    def get_layer(self, name=None, index=None):
        """A layer of the model by `name` or by `index` (ValueError when there is none)."""
        if index is not None and name is not None:
            raise ValueError(
                f"Provide only a layer name or a layer index. Received: index={index}, name={name}.")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has {len(layers)} layers.")
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: {[l.name for l in layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Prints a table of the layers, their output shapes and parameter counts (Keras 3's format).

        Args:
            line_length: total width (default min(88, terminal columns - 4)).
            positions: column boundaries as fractions of the width (default [0.45, 0.80, 1.0]).
            print_fn: a function called with the whole summary text instead of printing it.
            expand_nested: also list the layers inside nested models.
            show_trainable: add a column saying whether each layer is trainable.
            layer_range: two name patterns, the first and last layer to show.
        """
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)
