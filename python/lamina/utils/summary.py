"""`model.summary()`: the same table Keras 3 prints (rich box drawing, Keras's column layout)."""
import math
import re
import shutil

import rich.console
import rich.markup
import rich.table

__all__ = ["print_summary", "readable_memory_size"]


def readable_memory_size(size):
    """Bytes as Keras shows them: `140.00 B`, `45.62 KB`."""
    for unit in ["B", "KB", "MB", "GB", "TB", "PB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _num(x):
    return f"[color(45)]{x}[/]" if x is None else f"[color(34)]{x}[/]"


def _bold(x, color=None):
    return f"[bold][color({color})]{x}[/][/]" if color else f"[bold]{x}[/]"


def _format_shape(layer):
    nodes = layer._inbound_nodes
    if nodes:
        outputs = nodes[-1].output_tensors
        shapes = [f"({', '.join(_num(d) for d in t.shape)})" for t in outputs]
        return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"
    if layer._build_shapes_dict:
        try:
            shape = layer.compute_output_shape(layer._build_shapes_dict["input_shape"])
            return f"({', '.join(_num(d) for d in shape)})"
        except NotImplementedError:
            return "?"
    return "?"


def _count(weights):
    seen = {id(w): w for w in weights}.values()
    return int(sum(math.prod(w.shape) for w in seen)), float(sum(math.prod(w.shape) * 4 for w in seen))


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    """Prints the model's layers, output shapes and parameter counts (Keras 3's layout)."""
    layers = model.layers
    relevant_nodes = getattr(model, "_nodes", None)
    sequential_like = model._is_chain() if hasattr(model, "_is_chain") else True
    if sequential_like:
        default_line_length = 88
        positions = positions or [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
    else:
        default_line_length = 108
        positions = positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
        relevant = {id(n) for n in relevant_nodes}
    if show_trainable:
        default_line_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")
    default_line_length = min(default_line_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_line_length
    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) if pos <= 1 else int(pos)
        width -= current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    columns = [rich.table.Column(name, justify=alignment[i], width=widths[i]) for i, name in enumerate(header)]
    table = rich.table.Table(*columns, width=line_length, show_lines=True)

    def fields(layer, prefix=""):
        name = rich.markup.escape(f"{prefix}{layer.name}")
        name += f" ([color(33)]{rich.markup.escape(layer.__class__.__name__)}[/])"
        if not layer.built:
            params = f"{_num(0)} (unbuilt)"
        else:
            params = _num(f"{layer.count_params():,}")
        row = [name, _format_shape(layer), params]
        if not sequential_like:
            row.append(connections(layer))
        if show_trainable:
            if layer.weights:
                row.append(_bold("Y", 34) if layer.trainable else _bold("N", 9))
            else:
                row.append(_bold("-"))
        return row

    def connections(layer):
        parts = []
        for node in layer._inbound_nodes:
            if id(node) not in relevant:
                continue
            for t in node.input_tensors:
                inbound, node_index, tensor_index = t._keras_history
                parts.append(f"{rich.markup.escape(inbound.name)}[{_num(node_index)}][{_num(tensor_index)}]")
        return ", ".join(parts) if parts else "-"

    def rows_of(layer, level=0):
        prefix = "   " * level + "└ " if level else ""
        rows = [fields(layer, prefix)]
        if expand_nested and getattr(layer, "layers", None):
            for sub in layer.layers:
                rows.extend(rows_of(sub, level + 1))
        return rows

    lo, hi = 0, len(layers)
    if layer_range is not None:
        # Keras's get_layer_index_bound_by_layer_name: its messages, and a range given last-first
        # covers the same layers as first-last.
        if len(layer_range) != 2:
            raise ValueError("layer_range must be a list or tuple of length 2. Received: "
                             f"layer_range = {layer_range} of length {len(layer_range)}")
        if not isinstance(layer_range[0], str) or not isinstance(layer_range[1], str):
            raise ValueError(f"layer_range should contain string type only. Received: {layer_range}")
        lower = [i for i, l in enumerate(layers) if re.match(layer_range[0], l.name)]
        upper = [i for i, l in enumerate(layers) if re.match(layer_range[1], l.name)]
        if not lower or not upper:
            raise ValueError(f"Passed layer_names do not match the layer names in the model. Received: {layer_range}")
        if min(lower) > max(upper):
            lo, hi = min(upper), max(lower) + 1
        else:
            lo, hi = min(lower), max(upper) + 1
    for layer in layers[lo:hi]:
        for row in rows_of(layer):
            table.add_row(*row)

    trainable_count, trainable_bytes = _count(model.trainable_weights)
    non_trainable_count, non_trainable_bytes = _count(model.non_trainable_weights)
    total_count = trainable_count + non_trainable_count
    total_bytes = trainable_bytes + non_trainable_bytes

    if print_fn:
        console = rich.console.Console(highlight=False, force_terminal=False, color_system=None)
        console.begin_capture()
    else:
        console = rich.console.Console(highlight=False)
    console.print(_bold(f'Model: "{rich.markup.escape(model.name)}"'))
    console.print(table)
    console.print(_bold(" Total params: ") + _num(f"{total_count:,}") + f" ({readable_memory_size(total_bytes)})")
    console.print(_bold(" Trainable params: ") + _num(f"{trainable_count:,}")
                  + f" ({readable_memory_size(trainable_bytes)})")
    console.print(_bold(" Non-trainable params: ") + _num(f"{non_trainable_count:,}")
                  + f" ({readable_memory_size(non_trainable_bytes)})")
    if print_fn:
        print_fn(console.end_capture())
