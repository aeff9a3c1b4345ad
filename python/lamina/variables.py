"""`lamina.Variable`: a named, mutable tensor whose gradient a GradientTape tracks when trainable."""
import numpy as np

from lamina import _core
from lamina.backend import Tensor, convert_to_numpy, convert_to_tensor, standardize_dtype
from lamina.utils.naming import auto_name


class Variable:
    """A mutable tensor with a name (Keras 3's `keras.Variable`).

    Args:
        initializer: the initial value (array, tensor, scalar) or a callable
            `initializer(shape, dtype)` (then `shape` is required).
        shape: the shape, needed when `initializer` is callable.
        dtype: the dtype (default float32 for float values).
        trainable: whether gradients are computed for it (float32 only).
        name: a name (default "variable").
    """

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, autocast=True,
                 aggregation="none", synchronization="auto", name=None):
        if name is not None and not isinstance(name, str):
            raise ValueError(f"Argument `name` must be a string, received: {name!r}")
        if name is not None and "/" in name:
            raise ValueError(f"Argument `name` must not contain a '/' character, received: {name!r}")
        dtype = standardize_dtype(dtype)
        if callable(initializer) and not isinstance(initializer, (Tensor, np.ndarray, Variable)):
            if shape is None:
                raise ValueError("When creating a Variable from a callable initializer, pass `shape`.")
            value = initializer(tuple(shape), dtype=dtype or "float32")
        else:
            value = initializer
        t = convert_to_tensor(value, dtype)
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise ValueError(f"Initial value has shape {t.shape}, which is incompatible with shape={tuple(shape)}")
        # A private copy: the variable owns its storage, so assign() never changes other tensors.
        self._lamina_tensor = t._clone()
        self.name = name or auto_name("variable")  # the counter Layer.add_weight uses too (as in Keras)
        self.path = self.name
        self._trainable = False
        self.trainable = trainable

    # --- identity and metadata
    @property
    def value(self):
        """The current value, as a Tensor (gradients flow to this variable through it)."""
        return self._read()

    def _read(self):
        """The tensor an op computes with. While a GradientTape records, a snapshot that shares
        this variable's storage: `assign` then writes into new storage (copy-on-write), so the
        recorded graph keeps the value it was computed with, as TensorFlow's tape does. The
        snapshot of a trainable variable is recorded as an identity of it, so gradients still
        reach the variable."""
        t = self._lamina_tensor
        if not _core.is_recording():
            return t
        if t._requires_grad:
            return _core.reshape(t, list(t.shape))  # a view with a recorded identity backward
        return t._detach()

    @property
    def shape(self):
        return tuple(self._lamina_tensor.shape)

    @property
    def dtype(self):
        return self._lamina_tensor.dtype

    @property
    def ndim(self):
        return self._lamina_tensor.ndim

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self._trainable = value
        if self.dtype == "float32":
            self._lamina_tensor._set_requires_grad(value)

    # --- values
    def numpy(self):
        """A NumPy copy of the current value."""
        return convert_to_numpy(self._lamina_tensor)

    def assign(self, value):
        """Overwrites the value in place (same shape); returns the variable."""
        t = convert_to_tensor(value, self.dtype)
        if tuple(t.shape) != self.shape:
            raise ValueError(
                f"The shape of the target variable and the shape of the target value in `variable.assign(value)` "
                f"must match. variable.shape={self.shape}, Received: value.shape={tuple(t.shape)}. "
                f"Target variable: {self}")
        # Copy-on-write: views taken earlier (reshape results, NumPy arrays) keep their values.
        self._lamina_tensor._unshare()
        self._lamina_tensor._assign(t)
        return self

    def assign_add(self, value):
        return self.assign(_core.add(self._lamina_tensor._detach(), convert_to_tensor(value, self.dtype)))

    def assign_sub(self, value):
        return self.assign(_core.subtract(self._lamina_tensor._detach(), convert_to_tensor(value, self.dtype)))

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __repr__(self):
        return f"<Variable shape={self.shape}, dtype={self.dtype}, path={self.path}>"

    def __len__(self):
        return len(self._lamina_tensor)

    def __float__(self):
        return float(self._lamina_tensor)

    def __int__(self):
        return int(self._lamina_tensor)

    def __bool__(self):
        return bool(self._lamina_tensor)

    def __getitem__(self, key):
        return self._read()[key]

    # Hashing by identity keeps variables usable as dict keys (optimizer slots).
    __hash__ = object.__hash__


def _install_variable_operators():
    names = ["__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
             "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__lt__", "__le__",
             "__gt__", "__ge__", "__neg__", "__pos__", "__abs__"]
    for n in names:
        op = getattr(Tensor, n)
        setattr(Variable, n, (lambda op: lambda self, *a: op(self._read(), *a))(op))
