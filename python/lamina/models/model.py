"""`lamina.Model`: the base of Sequential (and, later, functional and subclassed models)."""
from lamina.layers.layer import Layer
from lamina.utils.summary import print_summary

__all__ = ["Model"]


class Model(Layer):
    """A layer made of layers, with `summary()` and (in later versions) training and saving."""

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise NotImplementedError(
                "lamina does not build functional models (Model(inputs, outputs)) yet; use Sequential.")
        super().__init__(**kwargs)

    @property
    def layers(self):
        return list(self._tracked_layers)

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
