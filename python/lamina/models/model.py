"""`lamina.Model`: the base of Sequential, functional and subclassed models.

`lamina.Model(inputs, outputs)` builds a functional model; subclassing `lamina.Model` (layers as
attributes, `call(self, inputs, training=None)`) builds a subclassed one."""
from lamina.layers.layer import Layer
from lamina.models.trainer import Trainer
from lamina.utils.summary import print_summary

__all__ = ["Model"]


class Model(Trainer, Layer):
    """A layer made of layers, with `summary()`, `get_layer()` and (in later versions) training and
    saving.

    - `Model(inputs=..., outputs=...)`: a functional model over the graph between symbolic tensors.
    - `class MyModel(Model)`: a subclassed model; layers assigned as attributes are tracked, and
      `call(self, inputs, training=None)` says how they run.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from lamina.models.functional import Functional

            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError(
                f"{type(self).__name__}.__init__() takes keyword arguments only (name=, trainable=, dtype=); "
                "to build a functional model call lamina.Model(inputs, outputs).")
        super().__init__(**kwargs)

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
