"""Nested structures (lists, tuples, dicts) of tensors: flatten them and rebuild them.
Dicts are walked in sorted key order, as Keras does."""

__all__ = ["flatten", "is_nested", "map_structure", "pack_sequence_as", "is_shape", "map_shape_structure"]


def is_nested(x):
    return isinstance(x, (list, tuple, dict))


def flatten(structure):
    """The leaves of `structure`, depth first."""
    if isinstance(structure, dict):
        return [leaf for k in sorted(structure) for leaf in flatten(structure[k])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def _pack(structure, it):
    # A module-level function: a nested closure that calls itself would form a reference cycle
    # holding every tensor of `flat` (and their autograd graphs) until the garbage collector runs.
    if isinstance(structure, dict):
        return {k: _pack(structure[k], it) for k in sorted(structure)}
    if isinstance(structure, (list, tuple)):
        items = [_pack(v, it) for v in structure]
        return items if isinstance(structure, list) else tuple(items)
    return next(it)


def pack_sequence_as(structure, flat):
    """`structure` with its leaves replaced, in order, by the items of `flat`."""
    return _pack(structure, iter(flat))


def map_structure(fn, structure):
    return pack_sequence_as(structure, [fn(leaf) for leaf in flatten(structure)])


def is_shape(x):
    """A shape: a tuple (or list) of ints and Nones."""
    return isinstance(x, (tuple, list)) and all(d is None or isinstance(d, int) for d in x)


def map_shape_structure(fn, structure):
    """Applies `fn` to every shape in a structure of shapes."""
    if is_shape(structure):
        return fn(tuple(structure))
    if isinstance(structure, dict):
        return {k: map_shape_structure(fn, v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        items = [map_shape_structure(fn, v) for v in structure]
        return items if isinstance(structure, list) else tuple(items)
    raise ValueError(f"Expected a shape or a structure of shapes, got {structure!r}")
