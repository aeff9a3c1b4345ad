"""Tensor operations with Keras 3 names and semantics (`keras.ops`), computed by lamina's C++ core.

Every function accepts tensors, Variables, NumPy arrays and Python scalars, and returns a
`lamina.Tensor`. Floating inputs compute in float32. Binary operations broadcast as NumPy does.
Gradients flow through every float op while a `lamina.GradientTape` records.
"""
import builtins
import inspect
import operator

import numpy as np

from lamina import _core
from lamina.backend import _INT64_MAX, _INT64_MIN, Tensor, convert_to_numpy, convert_to_tensor, standardize_dtype

# The table ops (_core.unary_ops) join __all__ where they are made, below.
__all__ = [
    "absolute", "add", "arange", "average_pool", "batch_norm", "batch_normalization", "conv", "dense", "max_pool", "argmax", "argmin",
    "broadcast_to", "cast", "clip", "concatenate", "convert_to_numpy", "convert_to_tensor", "divide", "dtype",
    "equal", "expand_dims", "full", "full_like", "greater", "greater_equal", "layer_normalization", "less", "less_equal",
    "log_softmax", "logical_and", "logical_not", "logical_or", "matmul", "max", "maximum", "mean", "min",
    "minimum", "multiply", "ndim", "not_equal", "one_hot", "ones", "ones_like", "power", "reshape", "shape",
    "size", "slice", "softmax", "sparse_categorical_crossentropy", "squeeze", "stack", "subtract", "sum",
    "swish", "take", "transpose", "true_divide", "where", "zeros", "zeros_like",
]


def _t(x):
    """Any accepted input -> core Tensor (fast path for tensors)."""
    return x if type(x) is Tensor else convert_to_tensor(x)


def _shape(shape):
    # operator.index accepts ints (Python, NumPy, int tensors) and rejects floats and strings.
    try:
        if isinstance(shape, (str, bytes)):
            raise TypeError
        if isinstance(shape, (int, np.integer)):
            dims = [operator.index(shape)]
        else:
            dims = [operator.index(d) for d in shape]
    except TypeError:
        raise TypeError(f"Expected a shape (a tuple of ints), got {shape!r}") from None
    # The core takes int64 dimensions: a larger one is a ValueError naming it (not pybind11's
    # "incompatible function arguments"); the core checks the sign and the total size.
    for d in dims:
        if not _INT64_MIN <= d <= _INT64_MAX:
            raise ValueError(f"Dimension {d} in shape {tuple(dims)} is out of range: a tensor can "
                             f"hold at most {_INT64_MAX} elements")
    return dims


def _axes(axis):
    if axis is None:
        return []
    try:
        if isinstance(axis, (list, tuple)):
            return [operator.index(a) for a in axis]
        return [operator.index(axis)]
    except TypeError:
        raise TypeError(f"Expected an axis (an int or a tuple of ints), got {axis!r}") from None


# ---------------------------------------------------------------- creation and conversion


def zeros(shape, dtype=None):
    """A tensor of zeros (float32 unless `dtype` is given)."""
    return _core.zeros(_shape(shape), standardize_dtype(dtype) or "float32")


def ones(shape, dtype=None):
    """A tensor of ones (float32 unless `dtype` is given)."""
    return _core.ones(_shape(shape), standardize_dtype(dtype) or "float32")


def full(shape, fill_value, dtype=None):
    """A tensor filled with `fill_value`."""
    if dtype is None:
        dtype = "float32" if isinstance(fill_value, float) else (
            "bool" if isinstance(fill_value, bool) else "int32" if isinstance(fill_value, int) else "float32")
    return _core.full(_shape(shape), float(fill_value), standardize_dtype(dtype))


def zeros_like(x, dtype=None):
    x = _t(x)
    return zeros(x.shape, dtype or x.dtype)


def ones_like(x, dtype=None):
    x = _t(x)
    return ones(x.shape, dtype or x.dtype)


def full_like(x, fill_value, dtype=None):
    x = _t(x)
    return full(x.shape, fill_value, dtype or x.dtype)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in [start, stop), as `numpy.arange`."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = "int32" if all(isinstance(v, (int, np.integer)) for v in (start, stop, step)) else "float32"
    return _core.arange(float(start), float(stop), float(step), standardize_dtype(dtype))


def cast(x, dtype):
    """`x` converted to `dtype` (float to int truncates toward zero)."""
    return _core.cast(_t(x), standardize_dtype(dtype))


def shape(x):
    """The shape of `x` as a tuple."""
    return tuple(_t(x).shape)


def ndim(x):
    return _t(x).ndim


def size(x):
    return _t(x).size


def dtype(x):
    return _t(x).dtype


# ---------------------------------------------------------------- elementwise


def add(x1, x2):
    return _core.add(_t(x1), _t(x2))


def subtract(x1, x2):
    return _core.subtract(_t(x1), _t(x2))


def multiply(x1, x2):
    return _core.multiply(_t(x1), _t(x2))


def divide(x1, x2):
    """True division; the result is float32."""
    return _core.divide(_t(x1), _t(x2))


true_divide = divide


def power(x1, x2):
    return _core.power(_t(x1), _t(x2))


def maximum(x1, x2):
    return _core.maximum(_t(x1), _t(x2))


def minimum(x1, x2):
    return _core.minimum(_t(x1), _t(x2))


def equal(x1, x2):
    return _core.equal(_t(x1), _t(x2))


def not_equal(x1, x2):
    return _core.not_equal(_t(x1), _t(x2))


def less(x1, x2):
    return _core.less(_t(x1), _t(x2))


def less_equal(x1, x2):
    return _core.less_equal(_t(x1), _t(x2))


def greater(x1, x2):
    return _core.greater(_t(x1), _t(x2))


def greater_equal(x1, x2):
    return _core.greater_equal(_t(x1), _t(x2))


def logical_and(x1, x2):
    return _core.logical_and(_t(x1), _t(x2))


def logical_or(x1, x2):
    return _core.logical_or(_t(x1), _t(x2))


def logical_not(x):
    return _core.logical_not(_t(x))


def where(condition, x1=None, x2=None):
    """Elements of `x1` where `condition` is true, else of `x2` (all broadcast together)."""
    if x1 is None or x2 is None:
        raise ValueError("[where] lamina needs both x1 and x2 (the one-argument form is not supported)")
    return _core.where(_t(condition), _t(x1), _t(x2))


def clip(x, x_min, x_max):
    """`x` limited to [x_min, x_max]. The result dtype is Keras's `result_type(x, x_min, x_max)`:
    float bounds make an integer `x` float32, and a bool `x` becomes int32."""
    x = _t(x)
    if x.dtype != "float32" and any(isinstance(v, (float, np.floating)) or getattr(v, "dtype", None) == "float32"
                                    for v in (x_min, x_max)):
        x = _core.cast(x, "float32")
    elif x.dtype == "bool":
        x = _core.cast(x, "int32")
    return _core.clip(x, float(x_min), float(x_max))


# ---------------------------------------------------------------- unary ops and activations


def _f(x):
    x = _t(x)
    return x if x.dtype == "float32" else _core.cast(x, "float32")


def _unary(name, params):
    """The Python op of a row of the C++ table (cpp/include/lamina/unary_ops.def): Keras's name and
    signature, `x` converted to a tensor; the core applies the row's dtype rule."""
    core = getattr(_core, name)

    def op(x, *args, **kwargs):
        return core(_t(x), *args, **kwargs)

    op.__name__ = op.__qualname__ = name
    op.__module__ = __name__
    op.__doc__ = (f"keras.ops.{name}: a row of lamina's op table (lamina/unary_ops.def among the C++ "
                  "headers) gives its formula, gradient and dtype rule.")
    op.__signature__ = inspect.Signature(
        [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d) for p, d in params])
    return op


for _name, _params in _core.unary_ops:
    globals()[_name] = _unary(_name, _params)
    __all__.append(_name)
del _name, _params

# keras.activations' names, from the same C++ table (read by lamina.activations, not a keras.ops name)
_ACTIVATION_NAMES = tuple(_core.activation_names())

absolute = abs  # noqa: F821 (a table op) -- Keras has both names
swish = silu  # noqa: F821 (a table op)


def softmax(x, axis=-1):
    x = _f(x)
    if axis is None:
        return _core.reshape(_core.softmax(_core.reshape(x, [-1]), 0), list(x.shape))
    return _core.softmax(x, int(axis))


def log_softmax(x, axis=-1):
    x = _f(x)
    if axis is None:
        return _core.reshape(_core.log_softmax(_core.reshape(x, [-1]), 0), list(x.shape))
    return _core.log_softmax(x, int(axis))


# ---------------------------------------------------------------- reductions


def sum(x, axis=None, keepdims=False):
    return _core.sum(_t(x), _axes(axis), bool(keepdims))


def mean(x, axis=None, keepdims=False):
    return _core.mean(_t(x), _axes(axis), bool(keepdims))


def max(x, axis=None, keepdims=False, initial=None):
    out = _core.max(_t(x), _axes(axis), bool(keepdims))
    return out if initial is None else maximum(out, initial)


def min(x, axis=None, keepdims=False, initial=None):
    out = _core.min(_t(x), _axes(axis), bool(keepdims))
    return out if initial is None else minimum(out, initial)


def _arg(fn, x, axis, keepdims):
    x = _t(x)
    if axis is None:
        out = fn(_core.reshape(x, [-1]), 0, False)
        return _core.reshape(out, [1] * x.ndim) if keepdims else out
    return fn(x, int(axis), bool(keepdims))


def argmax(x, axis=None, keepdims=False):
    """Index (int32) of the first maximum along `axis` (of the flattened tensor when None)."""
    return _arg(_core.argmax, x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _arg(_core.argmin, x, axis, keepdims)


# ---------------------------------------------------------------- linear algebra and shapes


def matmul(x1, x2):
    """Matrix product with NumPy's rules (1-D promotion, batch broadcasting)."""
    return _core.matmul(_t(x1), _t(x2))


def reshape(x, newshape):
    """`x` with a new shape of the same size; one dimension may be -1."""
    return _core.reshape(_t(x), _shape(newshape))


def transpose(x, axes=None):
    return _core.transpose(_t(x), _axes(axes))


def broadcast_to(x, shape):
    return _core.broadcast_to(_t(x), _shape(shape))


def expand_dims(x, axis):
    x = _t(x)
    axes = _axes(axis)
    rank = x.ndim + len(axes)
    norm = sorted(a + rank if a < 0 else a for a in axes)
    for a in norm:
        if not 0 <= a < rank:
            raise IndexError(f"[expand_dims] axis {axis} is out of bounds for a tensor of shape {x.shape} "
                             f"(result rank {rank})")
    if len(set(norm)) != len(norm):
        raise ValueError(f"[expand_dims] repeated axis in {axis} for a tensor of shape {x.shape}")
    new = list(x.shape)
    for a in norm:
        new.insert(a, 1)
    return _core.reshape(x, new)


def squeeze(x, axis=None):
    x = _t(x)
    if axis is None:
        return _core.reshape(x, [d for d in x.shape if d != 1])
    drop = set()
    for a in _axes(axis):
        if not -x.ndim <= a < x.ndim:
            raise IndexError(f"[squeeze] axis {a} is out of bounds for a tensor of shape {x.shape}")
        a = a % x.ndim
        if x.shape[a] != 1:
            raise ValueError(f"[squeeze] cannot squeeze axis {a} of shape {x.shape}: its size is not 1")
        drop.add(a)
    return _core.reshape(x, [d for i, d in enumerate(x.shape) if i not in drop])


def concatenate(xs, axis=0):
    return _core.concatenate([_t(x) for x in xs], int(axis))


def stack(x, axis=0):
    xs = [_t(v) for v in x]
    if not xs:
        raise ValueError("[stack] needs at least one tensor")
    for v in xs[1:]:
        if v.shape != xs[0].shape:
            raise ValueError(f"[stack] all input tensors must have the same shape, got shapes "
                             f"{xs[0].shape} and {v.shape}")
    axis = operator.index(axis)
    rank = xs[0].ndim + 1
    if not -rank <= axis < rank:
        raise IndexError(f"[stack] axis {axis} is out of bounds for stacking tensors of shape {xs[0].shape}")
    return concatenate([expand_dims(v, axis) for v in xs], axis)


def take(x, indices, axis=None):
    """Entries of `x` at integer `indices` along `axis` (of the flattened tensor when None)."""
    x = _t(x)
    idx = _t(indices)
    if idx.dtype not in ("int32", "int64"):
        raise TypeError(f"[take] indices must be int32 or int64, got {idx.dtype}")
    if axis is None:
        return _core.take(_core.reshape(x, [-1]), idx, 0)
    return _core.take(x, idx, int(axis))


def slice(inputs, start_indices, shape):
    """Keras's `ops.slice`: the block of size `shape` starting at `start_indices`."""
    x = _t(inputs)
    start = _shape(start_indices)
    size = _shape(shape)
    if len(start) != x.ndim or len(size) != x.ndim:
        raise ValueError(f"[slice] start_indices {tuple(start)} and shape {tuple(size)} need {x.ndim} entries "
                         f"for a tensor of shape {x.shape}")
    stop = []
    for d, (s, n) in enumerate(zip(start, size)):
        n = x.shape[d] - s if n == -1 else n
        if s < 0 or n < 0 or s + n > x.shape[d]:
            raise ValueError(f"[slice] block start {tuple(start)} size {tuple(size)} does not fit in "
                             f"shape {x.shape}")
        stop.append(s + n)
    return _core.slice(x, start, stop, [1] * x.ndim)


def one_hot(x, num_classes, axis=-1, dtype=None):
    """One-hot encoding of integer labels (float32 unless `dtype` is given)."""
    x = _t(x)
    try:
        num_classes = operator.index(num_classes)
    except TypeError:
        raise TypeError(f"one_hot: `num_classes` must be an integer, got {num_classes!r}") from None
    if num_classes < 0:  # NumPy / TensorFlow reject a negative depth too
        raise ValueError(f"one_hot: `num_classes` must be a non-negative integer, got {num_classes}")
    axis = operator.index(axis)
    if not -(x.ndim + 1) <= axis <= x.ndim:
        raise ValueError(f"one_hot: axis {axis} is out of bounds for an output of rank {x.ndim + 1}")
    classes = arange(num_classes, dtype=x.dtype if x.dtype != "bool" else "int32")
    hot = equal(expand_dims(x, -1), classes)
    if axis not in (-1, x.ndim):
        perm = list(range(x.ndim))
        perm.insert(axis % (x.ndim + 1), x.ndim)
        hot = transpose(hot, perm)
    return cast(hot, dtype or "float32")


# ---------------------------------------------------------------- losses


def _class_indices(target):
    """Integer class labels from `target`: ints pass through; floats holding whole numbers are cast
    (Keras casts float labels); fractional or NaN labels raise ValueError instead of truncating."""
    if target.dtype in ("int32", "int64"):
        return target
    if target.dtype == "bool":
        return cast(target, "int32")
    idx = cast(target, "int64")
    bad = not_equal(cast(idx, "float32"), target)  # fractional, NaN or out of int64's range
    if target.size and int(sum(cast(bad, "int32"))):
        value = float(_core.reshape(target, [-1])[int(argmax(bad))])
        raise ValueError(
            f"[sparse_categorical_crossentropy] labels must be whole-number class indices, got "
            f"{value} in labels of shape {target.shape} ({target.dtype})")
    return idx


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Per-sample cross-entropy between integer labels and logits (or probabilities).

    Labels out of [0, classes) raise IndexError; float labels must hold whole numbers."""
    output = _f(output)
    target = _class_indices(_t(target))
    if axis not in (-1, output.ndim - 1):
        perm = [d for d in range(output.ndim) if d != axis % output.ndim] + [axis % output.ndim]
        output = transpose(output, perm)
    if output.ndim == target.ndim and target.ndim > 0 and target.shape[-1] == 1:
        target = squeeze(target, -1)
    if from_logits:
        return _core.sparse_categorical_crossentropy(output, target)
    # Probabilities: the log of the renormalised, clipped output taken as logits (as Keras's
    # TensorFlow backend does); the fused op checks the labels and adds no loop here.
    probs = divide(output, sum(output, axis=-1, keepdims=True))
    return _core.sparse_categorical_crossentropy(log(clip(probs, 1e-7, 1.0 - 1e-7)), target)


# ---------------------------------------------------------------- indexing


def _getitem(x, key):
    """Basic NumPy indexing: ints, slices, Ellipsis, None, and integer arrays on one axis."""
    if not isinstance(key, tuple):
        key = (key,)
    # Integer arrays / lists / tensors: one advanced index is supported, through take().
    adv = [i for i, k in enumerate(key)
           if isinstance(k, (list, np.ndarray, Tensor)) and not isinstance(k, bool)]
    if adv:
        if len(adv) > 1:
            raise IndexError("lamina supports one integer-array index per indexing expression")
        i = adv[0]
        idx = _t(key[i])
        if idx.dtype == "bool":
            raise IndexError("boolean mask indexing is not supported; use ops.where")
        if idx.dtype not in ("int32", "int64"):
            raise IndexError(f"arrays used as indices must be of integer type, got {idx.dtype}")
        if any(k is Ellipsis for k in key[:i]):
            raise IndexError("an ellipsis before an integer-array index is not supported")
        pre = x[key[:i] + (builtins.slice(None),) + key[i + 1:]] if len(key) > 1 else x
        axis = builtins.sum(1 for k in key[:i] if k is None or isinstance(k, builtins.slice))
        out = _core.take(pre, idx, axis)
        # NumPy's rule: integers count as advanced indices too; when the advanced indices are not
        # adjacent (x[0, :, [1, 2]]), the indexed dimensions go first.
        pos = [j for j, k in enumerate(key)
               if j == i or (isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)))]
        if pos[-1] - pos[0] + 1 != len(pos) and axis > 0:
            nd = idx.ndim
            perm = list(range(axis, axis + nd)) + list(range(axis)) + list(range(axis + nd, out.ndim))
            out = _core.transpose(out, perm)
        return out
    n_ellipsis = builtins.sum(1 for k in key if k is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_real = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > x.ndim:
        raise IndexError(f"too many indices for tensor: tensor is {x.ndim}-dimensional (shape {x.shape}), "
                         f"but {n_real} were indexed")
    if n_ellipsis:
        i = key.index(Ellipsis)
        key = key[:i] + (builtins.slice(None),) * (x.ndim - n_real) + key[i + 1:]
    else:
        key = key + (builtins.slice(None),) * (x.ndim - n_real)
    start, stop, step, out_shape = [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            continue
        n = x.shape[axis]
        if isinstance(k, builtins.slice):
            s, e, st = k.indices(n)
            start.append(s), stop.append(e), step.append(st)
            out_shape.append(len(range(s, e, st)))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n} "
                                 f"(tensor of shape {x.shape})")
            i %= n
            start.append(i), stop.append(i + 1), step.append(1)
        else:
            raise IndexError(
                f"only integers, slices, ellipsis, None and integer arrays are valid indices, got {k!r}")
        axis += 1
    out = _core.slice(x, start, stop, step)
    return _core.reshape(out, out_shape) if list(out.shape) != out_shape else out


# ---------------------------------------------------------------- convolution and pooling (NHWC)


def dense(inputs, kernel, bias=None, activation="linear"):
    """lamina's fused Dense op: `activation(inputs @ kernel + bias)` in one C++ call, `activation`
    the name of a built-in activation (keras.activations'); the bias and a relu run in the GEMM's
    tile writes, the other activations after it."""
    return _core.dense(_f(inputs), _f(kernel), None if bias is None else _f(bias), activation)


def _pair(value, name):
    if isinstance(value, (int, np.integer)):
        return [int(value), int(value)]
    value = [int(v) for v in value]
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a tuple of 2 ints, got {value}")
    return value


def _channels_last(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"lamina works on channels_last (NHWC) data only. Received: data_format={data_format}")


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, bias=None,
         activation="linear"):
    """2-D convolution of NHWC `inputs` (N, H, W, C) with `kernel` (KH, KW, C, F).

    lamina extensions: `bias` of shape (F,) and `activation`, the name of a built-in activation (the
    bias and a relu run in the convolution GEMM's tile writes, the other activations after it).
    """
    _channels_last(data_format)
    return _core.conv(_f(inputs), _f(kernel), None if bias is None else _f(bias), _pair(strides, "strides"),
                      str(padding).lower(), _pair(dilation_rate, "dilation_rate"), activation)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling of NHWC `inputs` over `pool_size` windows (strides default to pool_size)."""
    _channels_last(data_format)
    pool = _pair(pool_size, "pool_size")
    return _core.max_pool(_f(inputs), pool, pool if strides is None else _pair(strides, "strides"),
                          str(padding).lower())


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling of NHWC `inputs` (padding positions are not counted)."""
    _channels_last(data_format)
    pool = _pair(pool_size, "pool_size")
    return _core.average_pool(_f(inputs), pool, pool if strides is None else _pair(strides, "strides"),
                              str(padding).lower())


# ---------------------------------------------------------------- normalisation


def _vector(x):
    return None if x is None else _f(x)


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """Normalizes `x` along `axis` by `mean` and `variance` (vectors of length `x.shape[axis]`):
    `(x - mean) * scale / sqrt(variance + epsilon) + offset`; `offset` / `scale` default to 0 / 1."""
    return _core.batch_normalization(_f(x), _f(mean), _f(variance), operator.index(axis), _vector(offset),
                                     _vector(scale), float(epsilon))


def _state(v):
    """The float32 tensor a stateful op updates in place: a Variable's own storage, or a tensor."""
    t = getattr(v, "_lamina_tensor", v)
    if type(t) is not Tensor or t.dtype != "float32":
        raise TypeError(f"Expected a float32 Variable or tensor to update in place, got {v!r}")
    return t


def batch_norm(x, gamma, beta, moving_mean, moving_variance, axis=-1, momentum=0.99, epsilon=1e-3, training=False):
    """lamina's BatchNormalization op, the one the Python and the C++ layer call.

    `training=True`: normalises with the batch's mean and biased variance over every axis but
    `axis` and updates `moving_mean` / `moving_variance` (Variables or float32 tensors) in place,
    `moving = moving * momentum + batch * (1 - momentum)`. `training=False`:
    `batch_normalization(x, moving_mean, moving_variance, axis, beta, gamma, epsilon)`.
    `gamma` / `beta` may be None (1 / 0).
    """
    return _core.batch_norm(_f(x), _vector(gamma), _vector(beta), _state(moving_mean), _state(moving_variance),
                            operator.index(axis), float(momentum), float(epsilon), bool(training))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None):
    """Normalizes each sample of `x` over `axis` (an int or a list of ints):
    `(x - mean) / sqrt(variance + epsilon) * gamma + beta`; `gamma` / `beta` (the shape of `x` at
    those axes) default to 1 / 0, `epsilon` to 1e-7 (Keras's `backend.epsilon()`)."""
    return _core.layer_normalization(_f(x), _vector(gamma), _vector(beta), _axes(axis),
                                     1e-7 if epsilon is None else float(epsilon))
