"""A functional model's config in Keras 3's schema, and the model back from it.

    {"name": ..., "trainable": ...,
     "layers": [{<serialized layer>, "name": "dense",
                 "inbound_nodes": [{"args": [<tensor>], "kwargs": {}}]}, ...],
     "input_layers": [["input_layer", 0, 0], ...], "output_layers": [["dense_1", 0, 0], ...]}

where a tensor is `{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [layer name, node index, tensor index]}}`. Node indices count only the calls that
belong to the model; in `input_layers` / `output_layers` (only there) a nested functional model's
count from 1, as Keras 3.15 writes and reads them.
"""
from lamina.layers.layer import Layer
from lamina.models.model import Model
from lamina.saving.serialization_lib import deserialize_keras_object, serialize_keras_object
from lamina.symbolic import KerasTensor

__all__ = ["functional_get_config", "functional_from_config"]


def _is_functional(layer):
    return layer._obj_type() == "Functional"  # by its kind: `Functional` is defined above this module


def functional_get_config(model):
    own = {id(node) for node in model._nodes}
    for t in model._flat_inputs:
        layer, index, _ = t._keras_history
        own.add(id(layer._inbound_nodes[index]))

    def history(t, io=False):
        layer, index, tensor_index = t._keras_history
        kept = sum(1 for node in layer._inbound_nodes[:index] if id(node) in own)
        if io and _is_functional(layer):
            kept += 1  # Keras counts a functional model's nodes from 1 in input_layers / output_layers
        return [layer.name, kept, tensor_index]

    def value(x):
        if isinstance(x, KerasTensor):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(x.shape), "dtype": x.dtype, "keras_history": history(x)}}
        return serialize_keras_object(x)

    def structure(x):
        if isinstance(x, dict):
            return {k: structure(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [structure(v) for v in x]
        return value(x)

    layer_configs = []
    for op in model._operations:
        inbound = []
        for node in op._inbound_nodes:
            if id(node) in own and node.input_tensors:
                kwargs = {k: structure(v) for k, v in node.call_kwargs.items()}
                if isinstance(op, Model):
                    kwargs.setdefault("mask", None)  # Keras records the `mask` argument of a model's call
                inbound.append({"args": [structure(node.arguments)], "kwargs": kwargs})
        layer_config = serialize_keras_object(op)
        layer_config["name"] = op.name
        layer_config["inbound_nodes"] = inbound
        layer_configs.append(layer_config)

    def io(x):
        if isinstance(x, dict):
            return {k: io(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [io(v) for v in x]
        return history(x, io=True)

    return {"name": model.name, "trainable": model.trainable, "layers": layer_configs,
            "input_layers": io(model._inputs_struct), "output_layers": io(model._outputs_struct)}


class _NotReady(Exception):
    """A node's input comes from a call that has not been replayed yet."""


def functional_from_config(cls, config, custom_objects=None):
    if not isinstance(config, dict) or not all(k in config for k in ("layers", "input_layers", "output_layers")):
        raise ValueError("A functional model config must be a dict with 'layers', 'input_layers' and "
                         f"'output_layers'. Received keys: {sorted(config) if isinstance(config, dict) else config}")
    config = dict(config)
    created, pending = {}, []
    for layer_data in config.pop("layers"):
        if not isinstance(layer_data, dict) or not isinstance(layer_data.get("name"), str):
            raise ValueError(f"Invalid layer entry in a functional model config: {str(layer_data)[:200]}")
        layer = deserialize_keras_object(layer_data, custom_objects=custom_objects)
        if not isinstance(layer, Layer):
            raise ValueError(f"Unexpected object from deserialization, expected a layer, got a {type(layer).__name__}")
        created[layer_data["name"]] = layer
        nodes = layer_data.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(f"Invalid 'inbound_nodes' for layer '{layer_data['name']}': {str(nodes)[:200]}")
        pending.append((layer, list(nodes)))

    def get_tensor(name, index, tensor_index, io=False):
        if name not in created:
            raise ValueError(f"Invalid functional model config: no layer named '{name}'.")
        layer = created[name]
        if io and _is_functional(layer):
            index -= 1
        if not isinstance(index, int) or index < 0:
            raise ValueError(f"Invalid node index {index} for layer '{name}'.")
        if index >= len(layer._inbound_nodes):
            raise _NotReady()
        outputs = layer._inbound_nodes[index].output_tensors
        if not isinstance(tensor_index, int) or not 0 <= tensor_index < len(outputs):
            raise ValueError(f"Invalid tensor index {tensor_index} for layer '{name}'.")
        return outputs[tensor_index]

    def is_history(x):
        return isinstance(x, (list, tuple)) and len(x) == 3 and isinstance(x[0], str)

    def convert(x):
        if isinstance(x, dict):
            if x.get("class_name") == "__keras_tensor__":
                h = (x.get("config") or {}).get("keras_history")
                if not is_history(h):
                    raise ValueError(f"Invalid tensor in a functional model config: {str(x)[:200]}")
                return get_tensor(*h)
            if "class_name" in x and "config" in x:
                return deserialize_keras_object(x, custom_objects=custom_objects)
            return {k: convert(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [convert(v) for v in x]
        return x

    def call(layer, node_data):
        if isinstance(node_data, list):  # the older format: [[name, node, tensor, kwargs], ...]
            inputs = [get_tensor(*d[:3]) for d in node_data]
            kwargs = node_data[0][3] if node_data and len(node_data[0]) > 3 else {}
            args = [inputs[0] if len(inputs) == 1 else inputs]
        elif isinstance(node_data, dict):
            args = convert(node_data.get("args") or [])
            kwargs = convert(node_data.get("kwargs") or {})
        else:
            raise ValueError(f"Invalid node in a functional model config: {str(node_data)[:200]}")
        if not isinstance(kwargs, dict):
            raise ValueError(f"Invalid node kwargs for layer '{layer.name}': {str(kwargs)[:200]}")
        if kwargs.get("mask") is not None:
            raise ValueError(f"Layer '{layer.name}' is called with a mask: lamina does not support masking.")
        kwargs.pop("mask", None)
        if not args:
            raise ValueError(f"Invalid node for layer '{layer.name}': no inputs.")
        layer(*args, **kwargs)

    while any(nodes for _, nodes in pending):
        progress = False
        for layer, nodes in pending:
            while nodes:
                try:
                    call(layer, nodes[0])
                except _NotReady:
                    break
                nodes.pop(0)
                progress = True
        if not progress:
            stuck = [layer.name for layer, nodes in pending if nodes]
            raise ValueError("Invalid Functional model configuration. The graph of the Functional model either has "
                             f"loops or disconnected nodes. The following layers' calls could not be resolved: {stuck}")

    def tensors(x):
        if is_history(x):
            try:
                return get_tensor(*x, io=True)
            except _NotReady:
                raise ValueError(f"Invalid functional model config: the tensor {x} was never produced.") from None
        if isinstance(x, dict):
            return {k: tensors(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [tensors(v) for v in x]
        raise ValueError(f"Invalid input or output entry in a functional model config: {str(x)[:200]}")

    inputs = tensors(config.pop("input_layers"))
    outputs = tensors(config.pop("output_layers"))
    name = config.pop("name", None)
    trainable = config.pop("trainable", True)
    return cls(inputs=inputs, outputs=outputs, name=name, trainable=True if trainable is None else trainable)
