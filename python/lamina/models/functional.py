"""Functional models: `lamina.Model(inputs, outputs)` over the graph that symbolic layer calls
recorded. Calling the model on data runs the graph's nodes in order through the C++ ops."""
from lamina.backend import Tensor, convert_to_tensor
from lamina.layers.core import Input, InputLayer
from lamina.models.functional_config import functional_from_config, functional_get_config
from lamina.models.model import Model
from lamina.saving.object_registration import keras_export
from lamina.symbolic import KerasTensor
from lamina.utils import tree

__all__ = ["Functional"]


def _describe(x):
    return f"{x!r} (of type {type(x).__name__})"


@keras_export("keras.src.models.functional.Functional", registered_name="Functional")
class Functional(Model):
    """A model defined by its symbolic inputs and outputs (Keras's functional API).

        inputs = lamina.Input(shape=(16,))
        x = layers.Dense(8, activation="relu")(inputs)
        outputs = layers.Dense(1)(x)
        model = lamina.Model(inputs=inputs, outputs=outputs)

    `inputs` and `outputs` may be one tensor, a list, or a dict; calling the model returns the
    structure of `outputs`. Layers are shared with the graph they come from (same weights).
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        flat_inputs = tree.flatten(inputs)
        for x in flat_inputs:
            if not isinstance(x, KerasTensor):
                raise ValueError(
                    f"All `inputs` values must be KerasTensors (made by `keras.Input`). Received: "
                    f"inputs={inputs} including invalid value {_describe(x)}")
            if x._keras_history is None or not isinstance(x._keras_history[0], InputLayer):
                raise ValueError(
                    f"Every input of a functional model must come straight from `keras.Input()`; "
                    f"{x.name} is the output of layer \"{x._keras_history[0].name}\".")
        flat_outputs = tree.flatten(outputs)
        if not flat_outputs:
            raise ValueError("A functional model needs at least one output.")
        for x in flat_outputs:
            if not isinstance(x, KerasTensor):
                raise ValueError(
                    f"All `outputs` values must be KerasTensors. Received: outputs={outputs} including "
                    f"invalid value {_describe(x)}")
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._flat_inputs = flat_inputs
        self._flat_outputs = flat_outputs
        self._nodes, operations = self._map_graph()
        self._operations = operations
        object.__setattr__(self, "_tracked_layers", [op for op in operations if not isinstance(op, InputLayer)])
        self._build_shapes_dict = {"input_shape": tree.map_structure(lambda t: t.shape, inputs)}
        self.built = True

    # ------------------------------------------------------------------ graph
    def _map_graph(self):
        """Walks the graph back from the outputs (as Keras does): returns the nodes in an order
        where each comes after the nodes it depends on (input layers' nodes excluded), and the
        layers ordered by depth (inputs first), ties broken by the order the walk met them."""
        input_ids = {id(t) for t in self._flat_inputs}
        input_names = [t.name for t in self._flat_inputs]
        finished, in_progress, order, first_seen = set(), set(), [], {}

        def visit(tensor, output):
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            if id(node) in finished:
                return
            if id(node) in in_progress:
                raise ValueError(f"The graph of model \"{self.name}\" has a cycle at layer \"{layer.name}\".")
            first_seen.setdefault(id(layer), (len(first_seen), layer))
            if id(tensor) not in input_ids:
                if isinstance(layer, InputLayer):
                    raise ValueError(
                        f"Graph disconnected: the output {output.name} depends on the input "
                        f"\"{tensor.name}\" (from layer \"{layer.name}\"), which is not one of the model's "
                        f"inputs {input_names}.")
                in_progress.add(id(node))
                for t in node.input_tensors:
                    visit(t, output)
                in_progress.discard(id(node))
            finished.add(id(node))
            order.append(node)

        for output in self._flat_outputs:
            visit(output, output)
        # depth: outputs' nodes 0, each producer one deeper than its deepest consumer
        depth = {}
        for node in reversed(order):
            d = depth.setdefault(id(node), 0)
            if isinstance(node.operation, InputLayer):
                continue
            for parent in node.parent_nodes:
                depth[id(parent)] = max(depth.get(id(parent), 0), d + 1)
        layer_depth = {}
        for node in order:
            key = id(node.operation)
            layer_depth[key] = max(layer_depth.get(key, 0), depth[id(node)])
        for t in self._flat_inputs:  # an input the outputs do not use still belongs to the model
            first_seen.setdefault(id(t._keras_history[0]), (len(first_seen), t._keras_history[0]))
            layer_depth.setdefault(id(t._keras_history[0]), max(layer_depth.values(), default=0))
        layers = sorted(first_seen.values(), key=lambda il: (-layer_depth[id(il[1])], il[0]))
        nodes = [n for n in order if not isinstance(n.operation, InputLayer)]
        return nodes, [layer for _, layer in layers]

    def _is_chain(self):
        """True when the graph is a plain stack (one input, each node fed by the previous one)."""
        if len(self._flat_inputs) != 1:
            return False
        previous = self._flat_inputs[0]
        seen = set()
        for node in self._nodes:
            if node.input_tensors != [previous] or len(node.output_tensors) != 1 or id(node.operation) in seen:
                return False
            seen.add(id(node.operation))
            previous = node.output_tensors[0]
        return True

    @property
    def layers(self):
        """Every layer of the graph, input layers first, in the order they run."""
        return list(self._operations)

    @property
    def inputs(self):
        return list(self._flat_inputs) if not isinstance(self._inputs_struct, dict) else self._inputs_struct

    @property
    def outputs(self):
        return list(self._flat_outputs) if not isinstance(self._outputs_struct, dict) else self._outputs_struct

    @property
    def input_shape(self):
        """The input shape(s), batch axis included (None)."""
        shapes = [t.shape for t in self._flat_inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._flat_outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    # ------------------------------------------------------------------ calling
    def _flatten_data_inputs(self, data):
        n = len(self._flat_inputs)
        if isinstance(data, dict):
            if isinstance(self._inputs_struct, dict):
                missing = [k for k in self._inputs_struct if k not in data]
                if missing:
                    raise ValueError(f"Model \"{self.name}\" is missing inputs {missing}; got keys {sorted(data)}")
                return tree.flatten({k: data[k] for k in self._inputs_struct})
            by_name = {t.name: t for t in self._flat_inputs}
            if set(data) != set(by_name):
                raise ValueError(f"Model \"{self.name}\" expects inputs named {sorted(by_name)}, got {sorted(data)}")
            return [data[t.name] for t in self._flat_inputs]
        if isinstance(data, (list, tuple)):
            flat = tree.flatten(data)
        else:
            flat = [data]
        if len(flat) != n:
            raise ValueError(
                f"Model \"{self.name}\" expects {n} input(s), but it received {len(flat)} input tensors.")
        return flat

    def call(self, inputs, training=None):
        flat = self._flatten_data_inputs(inputs)
        values = {}
        for i, (symbol, x) in enumerate(zip(self._flat_inputs, flat)):
            if type(x) is not Tensor:
                x = convert_to_tensor(x)
            expected = symbol.shape
            if len(x.shape) != len(expected) or any(
                    e is not None and e != g for e, g in zip(expected, x.shape)):
                raise ValueError(
                    f'Input {i} of layer "{self.name}" is incompatible with the layer: expected '
                    f"shape={expected}, found shape={tuple(x.shape)}")
            values[id(symbol)] = x
        for node in self._nodes:
            args = tree.map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t, node.arguments)
            out = node.operation(args, training=training, **node.call_kwargs)
            for symbol, value in zip(node.output_tensors, tree.flatten(out)):
                values[id(symbol)] = value
        return tree.pack_sequence_as(self._outputs_struct, [values[id(t)] for t in self._flat_outputs])

    def compute_output_shape(self, input_shape):
        """Output shapes for input shapes, found by walking the graph with shapes only."""
        if tree.is_shape(input_shape):
            flat_shapes = [tuple(input_shape)]
        else:
            flat_shapes = [tuple(s) for s in _flatten_shapes(input_shape)]
        if len(flat_shapes) != len(self._flat_inputs):
            raise ValueError(f"Model \"{self.name}\" expects {len(self._flat_inputs)} input shape(s), got {input_shape}")
        symbols = {id(t): KerasTensor(s, t.dtype, name="shape_probe") for t, s in zip(self._flat_inputs, flat_shapes)}
        for node in self._nodes:
            args = tree.map_structure(lambda t: symbols[id(t)] if isinstance(t, KerasTensor) else t, node.arguments)
            shapes = tree.map_structure(lambda t: tuple(t.shape), args)
            out_shapes = node.operation._output_shapes(args, shapes, node.call_kwargs)
            out_flat = _flatten_shapes(out_shapes)
            for symbol, shape in zip(node.output_tensors, out_flat):
                symbols[id(symbol)] = KerasTensor(shape, symbol.dtype, name="shape_probe")
        result = [tuple(symbols[id(t)].shape) for t in self._flat_outputs]
        return tree.pack_sequence_as(self._outputs_struct, result) if tree.is_nested(self._outputs_struct) else result[0]

    # ------------------------------------------------------------------ config
    def get_config(self):
        """Keras 3's functional config: `name`, `trainable`, `layers` (each layer's serialized config
        with its `name` and `inbound_nodes`: the calls of it that belong to this model, their
        arguments with tensors as `__keras_tensor__` entries `[layer name, node index, tensor
        index]`), `input_layers` and `output_layers`. Node indices count only this model's calls
        (see `functional_config`)."""
        if type(self).__init__ is not Functional.__init__:
            return Model.get_config(self)  # a subclass with its own constructor: its arguments
        return functional_get_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new functional model (new weights) from `get_config()`'s dict, by Keras 3's algorithm:
        create every layer, then replay the recorded calls in order."""
        return functional_from_config(cls, config, custom_objects=custom_objects)

    def get_build_config(self):
        return {"input_shape": None}  # built from its inputs (Keras writes the same)

    def _obj_type(self):
        return "Functional"

    @classmethod
    def _saving_reference(cls):
        x = Input(shape=(1,), name="functional_reference_input")
        return Functional(x, x, name="functional_reference")


def _flatten_shapes(structure):
    if tree.is_shape(structure):
        return [tuple(structure)]
    if isinstance(structure, dict):
        return [s for k in sorted(structure) for s in _flatten_shapes(structure[k])]
    return [s for item in structure for s in _flatten_shapes(item)]
