"""Symbolic tensors and graph nodes: what `lamina.Input` returns and what calling a layer on it
records. No data flows here; shapes are inferred by each layer's `compute_output_shape`.

This sits beside the backend, below layers (as Keras's `backend.KerasTensor` and `ops.Node`), so
that serialization can recognise a symbolic tensor without importing the layers."""
from lamina.utils import tree
from lamina.utils.naming import auto_name

__all__ = ["KerasTensor", "Node"]


class KerasTensor:
    """A symbolic tensor: a shape (batch dimension usually None), a dtype and the layer call that
    made it (`_keras_history` = (layer, node_index, tensor_index))."""

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.name = name or auto_name("keras_tensor")
        self._keras_history = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, ragged=False, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A symbolic KerasTensor cannot be converted to a NumPy array: it holds no data. Call the "
            "layer or model on real data instead.")


class Node:
    """One call of a layer on symbolic inputs: links input tensors to output tensors.

    `arguments` is the structure the layer was called with (a tensor, or a list / dict of them),
    `outputs` the structure it returned; `call_kwargs` the other keyword arguments of the call.
    """

    def __init__(self, layer, arguments, outputs, call_kwargs=None):
        self.operation = layer
        self.arguments = arguments
        self.outputs = outputs
        self.call_kwargs = dict(call_kwargs or {})
        self.input_tensors = [t for t in tree.flatten(arguments) if isinstance(t, KerasTensor)]
        self.output_tensors = tree.flatten(outputs)
        index = len(layer._inbound_nodes)
        for i, t in enumerate(self.output_tensors):
            t._keras_history = (layer, index, i)
        layer._inbound_nodes.append(self)

    @property
    def parent_nodes(self):
        """The nodes that produced this node's inputs."""
        out = []
        for t in self.input_tensors:
            layer, index, _ = t._keras_history
            out.append(layer._inbound_nodes[index])
        return out
