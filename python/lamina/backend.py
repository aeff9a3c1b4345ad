"""Conversions between Python/NumPy values and lamina tensors, and the Tensor's Python methods.

`Tensor` is the compiled core's tensor type; this module gives it NumPy interop, operators,
indexing and a readable repr. Every operator calls the same `lamina.ops` function a user would.
"""
import numbers

import numpy as np

from lamina import _core

Tensor = _core.Tensor

_NUMPY_TO_LAMINA = {
    np.dtype("float16"): "float32",
    np.dtype("float32"): "float32",
    np.dtype("float64"): "float32",
    np.dtype("int8"): "int32",
    np.dtype("int16"): "int32",
    np.dtype("int32"): "int32",
    np.dtype("uint8"): "int32",
    np.dtype("uint16"): "int32",
    np.dtype("int64"): "int64",
    np.dtype("uint32"): "int64",
    np.dtype("uint64"): "int64",
    np.dtype("bool"): "bool",
}

_FROM_NUMPY = {
    "float32": _core.from_numpy_float32,
    "int32": _core.from_numpy_int32,
    "int64": _core.from_numpy_int64,
    "bool": _core.from_numpy_bool,
}

_ALIASES = {"float": "float32", "float16": "float32", "float64": "float32", "bfloat16": "float32",
            "int": "int32", "int8": "int32", "int16": "int32", "uint8": "int32", "uint16": "int32",
            "uint32": "int64", "uint64": "int64"}


def standardize_dtype(dtype):
    """Maps a dtype given as a string, NumPy dtype or Python type to lamina's dtype name.

    Floating dtypes map to "float32" (the compute dtype, as Keras casts to floatx); small integer
    dtypes to "int32". Anything else (complex, strings, objects) raises TypeError.
    """
    if dtype is None:
        return None
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int32"
    if dtype is bool:
        return "bool"
    if isinstance(dtype, str):
        name = dtype
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = getattr(dtype, "name", str(dtype))
    name = _ALIASES.get(name, name)
    if name not in _FROM_NUMPY:
        raise TypeError(f"Unsupported dtype: {dtype!r}. lamina tensors are float32, int32, int64 or bool.")
    return name


_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _from_array(arr, dtype=None):
    if dtype is None:
        dtype = _NUMPY_TO_LAMINA.get(arr.dtype)
        if dtype is None:
            hint = (" Convert it first, for example with np.asarray(x, dtype='float32') (an object "
                    "array holds Python objects: numbers too large for int64, or mixed types)."
                    if arr.dtype == object else "")
            raise TypeError(
                f"Cannot convert an array of dtype {arr.dtype} to a lamina tensor: lamina tensors are "
                f"float32, int32, int64 or bool.{hint}")
    if arr.dtype == np.uint64 and dtype != "float32" and arr.size and arr.max() > _INT64_MAX:
        # int64 is lamina's widest integer: a cast would wrap these to negative numbers.
        raise ValueError(
            f"Cannot convert a uint64 array to {dtype}: it holds {int(arr.max())}, larger than the "
            f"int64 maximum {_INT64_MAX}.")
    return _FROM_NUMPY[dtype](arr)


def _from_int(x, dtype):
    """A Python or NumPy integer: int32 when it fits, else int64 (as lists of ints convert)."""
    x = int(x)
    if dtype is None:
        dtype = "int32" if -(2 ** 31) <= x < 2 ** 31 else "int64"
    if dtype in ("int64", "int32") and not _INT64_MIN <= x <= _INT64_MAX:
        raise ValueError(f"Cannot convert {x} to a lamina tensor: it is out of the range of {dtype}.")
    if dtype == "int64":  # exact (a double holds integers exactly only up to 2**53)
        return _FROM_NUMPY["int64"](np.array(x, np.int64))
    return _core.scalar(float(x), dtype)  # an int32 fill out of range raises ValueError


def convert_to_tensor(x, dtype=None):
    """Converts a tensor, Variable, NumPy array, Python scalar or nested list to a Tensor.

    Floats become float32, Python ints int32, bools bool. With `dtype`, the result is cast to it.
    """
    dtype = standardize_dtype(dtype)
    if type(x) is Tensor:
        return x if dtype is None or x.dtype == dtype else _core.cast(x, dtype)
    value = getattr(x, "_lamina_tensor", None)
    if value is not None:  # a Variable: its value, or a snapshot of it while recording
        read = getattr(x, "_read", None)
        return convert_to_tensor(value if read is None else read(), dtype)
    if isinstance(x, (bool, np.bool_)):
        return _core.scalar(float(x), dtype or "bool")
    if isinstance(x, numbers.Integral):
        return _from_int(x, dtype)
    if isinstance(x, numbers.Real):
        return _core.scalar(float(x), dtype or "float32")
    if isinstance(x, np.ndarray):
        return _from_array(x, dtype)
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"Cannot convert {x!r} to a lamina tensor.")
    try:
        arr = np.asarray(x)
    except Exception as e:  # ragged lists and other objects NumPy cannot read
        raise ValueError(f"Cannot convert {type(x).__name__} to a lamina tensor: {e}") from None
    if arr.dtype == np.float64 and dtype is None:
        dtype = "float32"
    if arr.dtype.kind == "i" and dtype is None and not isinstance(x, np.generic):
        dtype = "int32" if arr.dtype.itemsize <= 4 or _fits_int32(arr) else "int64"
    return _from_array(arr, dtype)


def _fits_int32(arr):
    return arr.size == 0 or (arr.min() >= -(2 ** 31) and arr.max() < 2 ** 31)


def convert_to_numpy(x):
    """Returns a NumPy array with the values of a tensor, Variable, array or scalar."""
    if type(x) is Tensor:
        return np.array(x._numpy_view())
    value = getattr(x, "_lamina_tensor", None)
    if value is not None:
        return np.array(value._numpy_view())
    return np.asarray(x)


# ---------------------------------------------------------------- Tensor methods


def _tensor_array(self, dtype=None, copy=None):
    view = self._numpy_view()
    if copy:
        view = view.copy()
    return view if dtype is None else view.astype(dtype, copy=bool(copy))


def _tensor_repr(self):
    body = np.array2string(self._numpy_view(), separator=", ", prefix="tensor(")
    return f"tensor({body}, shape={self.shape}, dtype={self.dtype})"


def _tensor_len(self):
    if self.ndim == 0:
        raise TypeError("len() of a 0-d tensor")
    return self.shape[0]


def _tensor_iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield self[i]


def _exact_item(t):
    # _item() goes through a double: int64 values above 2**53 would change.
    return t._numpy_view().reshape(-1)[0].item() if t.dtype == "int64" else t._item()


def _scalar_conversion(kind):
    def convert(self):
        if self.size != 1:
            raise TypeError(f"only tensors with one element can be converted to Python scalars, got shape {self.shape}")
        return kind(_exact_item(self))
    return convert


def _tensor_item(self):
    if self.size != 1:
        raise ValueError(f"item(): expected a tensor with one element, got shape {self.shape}")
    v = _exact_item(self)
    return float(v) if self.dtype == "float32" else bool(v) if self.dtype == "bool" else int(v)


def _tensor_index(self):
    if self.dtype not in ("int32", "int64") or self.size != 1:
        raise TypeError("only integer tensors with one element can be used as an index")
    return int(_exact_item(self))


def _tensor_bool(self):
    if self.size != 1:
        raise ValueError(
            f"The truth value of a tensor with more than one element is ambiguous (shape {self.shape}).")
    return bool(self._item())


def _tensor_setitem(self, key, value):
    raise TypeError(
        "lamina tensors are immutable: build a new tensor (for example with ops.where), or use "
        "Variable.assign to change a variable.")


def _install_tensor_methods(ops):
    """Gives `Tensor` its Python methods. The operators call the public `ops` functions, which sit
    above this module: the package's `__init__` passes the `lamina.ops` module in."""
    def binary(fn, reflected=False):
        if reflected:
            return lambda self, other: fn(other, self)
        return lambda self, other: fn(self, other)

    methods = {
        "__add__": binary(ops.add), "__radd__": binary(ops.add, True),
        "__sub__": binary(ops.subtract), "__rsub__": binary(ops.subtract, True),
        "__mul__": binary(ops.multiply), "__rmul__": binary(ops.multiply, True),
        "__truediv__": binary(ops.divide), "__rtruediv__": binary(ops.divide, True),
        "__pow__": binary(ops.power), "__rpow__": binary(ops.power, True),
        "__matmul__": binary(ops.matmul), "__rmatmul__": binary(ops.matmul, True),
        "__lt__": binary(ops.less), "__le__": binary(ops.less_equal),
        "__eq__": lambda self, other: False if other is None else ops.equal(self, other),
        "__ne__": lambda self, other: True if other is None else ops.not_equal(self, other),
        "__hash__": lambda self: self._id,
        "__gt__": binary(ops.greater), "__ge__": binary(ops.greater_equal),
        "__and__": binary(ops.logical_and), "__or__": binary(ops.logical_or),
        "__invert__": lambda self: ops.logical_not(self),
        "__neg__": lambda self: ops.negative(self),
        "__pos__": lambda self: self,
        "__abs__": lambda self: ops.absolute(self),
        "__getitem__": lambda self, key: ops._getitem(self, key),
        "__setitem__": _tensor_setitem,
        "__array__": _tensor_array,
        "__array_priority__": 1000,
        "__repr__": _tensor_repr,
        "__str__": _tensor_repr,
        "__len__": _tensor_len,
        "__iter__": _tensor_iter,
        "__float__": _scalar_conversion(float),
        "__int__": _scalar_conversion(int),
        "__index__": _tensor_index,
        "__bool__": _tensor_bool,
        "numpy": lambda self: convert_to_numpy(self),
        "item": _tensor_item,
        "reshape": lambda self, *shape: ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape),
        "T": property(lambda self: ops.transpose(self)),
    }
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
