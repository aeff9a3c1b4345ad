"""Turns what users pass to `fit` / `evaluate` / `predict` (NumPy arrays, lamina tensors, lists or
dicts of them, or a Python generator of batches) into batches of lamina tensors."""
import math

import numpy as np

from lamina.backend import Tensor, convert_to_tensor
from lamina.utils import tree

__all__ = ["ArrayData", "GeneratorData", "make_data", "train_validation_split"]


def _to_numpy(x):
    if x is None:
        return None
    if type(x) is Tensor:
        return np.asarray(x._numpy_view())
    if hasattr(x, "_lamina_tensor"):
        return x.numpy()
    return np.asarray(x)


def _is_array_like(x):
    return isinstance(x, (np.ndarray, Tensor, list, tuple, dict)) or hasattr(x, "__array__")


def _check_cardinality(named):
    sizes = {}
    for label, structure in named:
        if structure is None:
            continue
        for leaf in tree.flatten(structure):
            if leaf.ndim == 0:
                raise ValueError(f"Expected arrays with a batch dimension for '{label}', got a scalar.")
            sizes.setdefault(label, []).append(leaf.shape[0])
    distinct = {n for v in sizes.values() for n in v}
    if len(distinct) > 1:
        msg = "Data cardinality is ambiguous. Make sure all arrays contain the same number of samples."
        for label, v in sizes.items():
            msg += f"\n'{label}' sizes: {', '.join(str(n) for n in v)}"
        raise ValueError(msg)
    return distinct.pop() if distinct else 0


def _class_weight_to_sample_weight(y, class_weight):
    y = np.asarray(y)
    labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(y.shape[0], -1)[:, 0]
    labels = labels.astype(np.int64)
    table = np.zeros(int(max(max(class_weight), labels.max(initial=0))) + 1, np.float32) + 1.0
    for k, w in class_weight.items():
        table[int(k)] = w
    return table[labels]


class ArrayData:
    """In-memory data: batches of `batch_size` samples, reshuffled each epoch when `shuffle`."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, class_weight=None):
        self.x = tree.map_structure(_to_numpy, x)
        self.y = None if y is None else tree.map_structure(_to_numpy, y)
        self.sample_weight = None if sample_weight is None else _to_numpy(sample_weight)
        self.size = _check_cardinality([("x", self.x), ("y", self.y), ("sample_weight", self.sample_weight)])
        if class_weight is not None:
            if self.y is None or tree.is_nested(self.y):
                raise ValueError("`class_weight` needs a single array of targets `y`.")
            cw = _class_weight_to_sample_weight(self.y, class_weight)
            self.sample_weight = cw if self.sample_weight is None else self.sample_weight * cw
        if batch_size is None:
            batch_size = 32
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"Expected `batch_size` to be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle

    @property
    def num_batches(self):
        return math.ceil(self.size / self.batch_size)

    def _take(self, structure, idx):
        if structure is None:
            return None
        return tree.map_structure(lambda a: convert_to_tensor(a[idx]), structure)

    def batches(self):
        """Yields (x, y, sample_weight) batches of lamina tensors for one epoch."""
        order = np.random.permutation(self.size) if self.shuffle else None
        for start in range(0, self.size, self.batch_size):
            stop = min(start + self.batch_size, self.size)
            idx = order[start:stop] if order is not None else slice(start, stop)
            yield self._take(self.x, idx), self._take(self.y, idx), self._take(self.sample_weight, idx)


class GeneratorData:
    """A Python generator / iterator of `(x, y)` or `(x, y, sample_weight)` batches (or `x` alone
    for predict). With `steps`, each epoch takes that many batches from the same iterator."""

    def __init__(self, iterable, steps=None):
        self.iterator = iter(iterable)
        self.steps = steps
        self.exhausted = False

    @property
    def num_batches(self):
        return self.steps

    def batches(self):
        count = 0
        while self.steps is None or count < self.steps:
            try:
                item = next(self.iterator)
            except StopIteration:
                self.exhausted = True
                return
            if isinstance(item, tuple) and len(item) in (2, 3):
                x, y, sw = (item + (None,))[:3]
            else:
                x, y, sw = item, None, None
            convert = lambda s: None if s is None else tree.map_structure(  # noqa: E731
                lambda a: a if type(a) is Tensor else convert_to_tensor(a), s)
            yield convert(x), convert(y), convert(sw)
            count += 1


def make_data(x, y=None, sample_weight=None, batch_size=None, shuffle=False, class_weight=None, steps=None):
    """ArrayData for arrays and tensors, GeneratorData for generators and other iterables."""
    if x is None:
        raise ValueError("Expected input data `x`, got None.")
    if _is_array_like(x):
        return ArrayData(x, y, sample_weight, batch_size, shuffle, class_weight)
    if y is not None:
        raise ValueError("When `x` is a generator of batches, do not pass `y`: the generator yields (x, y).")
    if hasattr(x, "__iter__") or hasattr(x, "__next__"):
        return GeneratorData(x, steps)
    raise ValueError(f"Unrecognized data type: x={x!r} (of type {type(x).__name__})")


def train_validation_split(x, y, sample_weight, validation_split):
    """Splits off the last `validation_split` fraction of the samples (before any shuffling)."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"`validation_split` must be between 0 and 1, got {validation_split}")
    if not _is_array_like(x):
        raise ValueError("`validation_split` is only supported for arrays and tensors, not generators.")
    x = tree.map_structure(_to_numpy, x)
    y = None if y is None else tree.map_structure(_to_numpy, y)
    sw = None if sample_weight is None else _to_numpy(sample_weight)
    n = _check_cardinality([("x", x), ("y", y), ("sample_weight", sw)])
    split = int(math.floor(n * (1.0 - validation_split)))
    if split == 0 or split == n:
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to split it into a "
                         f"validation and training set as specified by `validation_split={validation_split}`.")

    def cut(s, part):
        if s is None:
            return None
        return tree.map_structure(lambda a: a[:split] if part == 0 else a[split:], s)

    return (cut(x, 0), cut(y, 0), cut(sw, 0)), (cut(x, 1), cut(y, 1), cut(sw, 1))
