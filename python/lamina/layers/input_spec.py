"""`InputSpec` and the input check layers run before calling C++, worded as the project's spec
quotes Keras (`Input 0 of layer "dense" is incompatible with the layer: ...`)."""

__all__ = ["InputSpec", "assert_input_compatibility", "incompatible_input_head"]


class InputSpec:
    """What a layer accepts: `ndim`, `min_ndim`, `max_ndim`, `axes` ({axis: size}), `shape`."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(shape) if shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.name = name
        self.optional = optional

    def __repr__(self):
        parts = [f"{k}={v}" for k, v in (("dtype", self.dtype), ("shape", self.shape), ("ndim", self.ndim),
                                          ("max_ndim", self.max_ndim), ("min_ndim", self.min_ndim))
                 if v is not None]
        if self.axes:
            parts.append(f"axes={self.axes}")
        return f"InputSpec({', '.join(parts)})"


def incompatible_input_head(spec, layer_name, index=0):
    """The start of the message for an input that does not fit a layer, in the wording the issue
    tracker and DESIGN.md specify (Keras 3.15 itself says "Input 0 with name 'None' of layer
    'dense' ...")."""
    return f'Input {index} of layer "{layer_name}" is incompatible with the layer: '



def assert_input_compatibility(spec, x, layer_name, index=0):
    """Raises ValueError when `x` (anything with `.shape`) does not fit `spec`."""
    shape = tuple(x.shape)
    ndim = len(shape)
    head = incompatible_input_head(spec, layer_name, index)
    if spec.ndim is not None and ndim != spec.ndim:
        raise ValueError(head + f"expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {shape}")
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(head + f"expected max_ndim={spec.max_ndim}, found ndim={ndim}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(head + f"expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
                                f"Full shape received: {shape}")
    for axis, value in spec.axes.items():
        if value is None:
            continue
        if not -ndim <= axis < ndim or shape[axis] not in (value, None):
            raise ValueError(head + f"expected axis {axis} of input shape to have value {value}, "
                                    f"but received input with shape {shape}")
    if spec.shape is not None:
        for got, want in zip(shape, spec.shape):
            if want is not None and got is not None and got != want:
                raise ValueError(head + f"expected shape={spec.shape}, found shape={shape}")
