"""Turns what users pass to `fit` / `evaluate` / `predict` (NumPy arrays, lamina tensors, lists or
dicts of them, or a Python generator of batches) into batches of lamina tensors."""
import math
import numbers
import warnings

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


def _is_number_nest(x):
    """A Python number, or a non-empty list / tuple whose items are all number nests."""
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and all(_is_number_nest(item) for item in x)
    return isinstance(x, numbers.Number)


def standardize_lists(structure, label="x"):
    """`structure` with every nested Python list of numbers (`[[1, 2], [3, 4]]`, `[0, 1, 2]`)
    turned into one NumPy array, as tf.keras's lists-of-scalars adapter did (Keras 3 refuses them
    with "Unrecognized data type"). Lists holding arrays stay structures: one entry per input."""
    if isinstance(structure, (list, tuple)):
        if _is_number_nest(structure):
            try:
                return np.asarray(structure)
            except ValueError as e:  # ragged: rows of different lengths
                raise ValueError(f"Could not convert the nested Python list given as '{label}' to an array "
                                 f"(its rows must all have the same length): {e}") from None
        return type(structure)(standardize_lists(item, label) for item in structure)
    if isinstance(structure, dict):
        return {k: standardize_lists(v, label) for k, v in structure.items()}
    return structure


def _is_array_like(x):
    return isinstance(x, (np.ndarray, Tensor, list, tuple, dict)) or hasattr(x, "__array__")


def _check_cardinality(named):
    sizes = {}
    for label, structure in named:
        if structure is None:
            continue
        for leaf in tree.flatten(structure):
            if leaf.ndim == 0:
                raise ValueError(f"Expected arrays with a batch dimension for '{label}', got a scalar: {leaf!r}. "
                                 "Pass an array (or a list of arrays, one per model input) whose first "
                                 "axis is the samples.")
            sizes.setdefault(label, []).append(leaf.shape[0])
    distinct = {n for v in sizes.values() for n in v}
    if len(distinct) > 1:
        msg = "Data cardinality is ambiguous. Make sure all arrays contain the same number of samples."
        for label, v in sizes.items():
            msg += f"\n'{label}' sizes: {', '.join(str(n) for n in v)}"
        raise ValueError(msg)
    return distinct.pop() if distinct else 0


def _class_weight_table(class_weight):
    """`class_weight` as (sorted class indices, their weights), after checking it: a dict whose keys
    are class indices (ints >= 0, or floats equal to one, as Keras's `dict.get(int(label))` finds
    them) and whose values are numbers. A negative or non-integer key can match no label: Keras
    ignores it silently, lamina says so (a negative key is not "count from the end")."""
    if not isinstance(class_weight, dict):
        raise ValueError("`class_weight` must be a dict mapping class indices to weights, e.g. {0: 1.0, 1: 5.0}; "
                         f"received an object of type {type(class_weight).__name__}.")
    keys, weights = [], []
    for key, weight in class_weight.items():
        integral = isinstance(key, numbers.Integral) or (
            isinstance(key, numbers.Real) and float(key).is_integer())
        if isinstance(key, bool) or not integral or key < 0:
            raise ValueError("`class_weight` keys must be class indices (integers >= 0, one per class of the "
                             f"labels); received the key {key!r}.")
        try:
            weights.append(float(weight))
        except (TypeError, ValueError):
            raise ValueError(f"`class_weight` values must be numbers; received {weight!r} for class {key!r}.") from None
        keys.append(int(key))
    order = np.argsort(np.asarray(keys, np.int64), kind="stable")
    return np.asarray(keys, np.int64)[order], np.asarray(weights, np.float32)[order]


def _class_weight_to_sample_weight(y, class_weight):
    """One weight per sample: `class_weight[label]`, 1.0 for a class not in the dict (Keras 3's
    class_weight_to_sample_weights: one-hot `y` -> argmax, (n, 1) -> squeezed, labels rounded)."""
    keys, weights = _class_weight_table(class_weight)
    y = np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else y[..., 0]
    if y.ndim != 1:
        raise ValueError("`class_weight` needs one label (or one one-hot row) per sample; received targets of "
                         f"shape {np.shape(y)} after reducing the class axis.")
    with np.errstate(invalid="ignore"):
        labels = np.round(y).astype(np.int64) if y.dtype.kind == "f" else y.astype(np.int64)
    sample_weight = np.ones(labels.shape, np.float32)
    if keys.size:
        idx = np.minimum(np.searchsorted(keys, labels), keys.size - 1)
        found = keys[idx] == labels
        sample_weight[found] = weights[idx[found]]
    return sample_weight


_RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
            "generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` "
            "function when building your dataset.")


def normalize_steps(steps, name):
    """`steps_per_epoch` / `validation_steps` / `steps` as Keras 3 reads them: None, 0 or a negative
    number mean "until the data runs out"; anything but an integer is a TypeError."""
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer or None; received {steps!r} (of type {type(steps).__name__}).")
    return int(steps) if steps > 0 else None


class ArrayData:
    """In-memory data: batches of `batch_size` samples, reshuffled at the start of each pass when
    `shuffle`. With `steps`, each epoch takes that many batches and the next epoch goes on where it
    stopped (a new pass starts once the data ran out, as Keras 3's EpochIterator)."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, class_weight=None, steps=None):
        self.x = tree.map_structure(_to_numpy, standardize_lists(x, "x"))
        self.y = None if y is None else tree.map_structure(_to_numpy, standardize_lists(y, "y"))
        self.sample_weight = None if sample_weight is None else _to_numpy(sample_weight)
        self.size = _check_cardinality([("x", self.x), ("y", self.y), ("sample_weight", self.sample_weight)])
        if class_weight is not None:
            if self.sample_weight is not None:  # Keras 3's ArrayDataAdapter
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
            if self.y is None or tree.is_nested(self.y):
                raise ValueError("`class_weight` is only supported for Models with a single output "
                                 "(a single array of targets `y`).")
            self.sample_weight = _class_weight_to_sample_weight(self.y, class_weight)
        self.steps = normalize_steps(steps, "steps")
        if batch_size is None or (isinstance(batch_size, numbers.Integral) and batch_size == 0):
            # Keras 3: no batch size (or 0) -> enough for `steps` batches, else 32
            batch_size = max(1, math.ceil(self.size / self.steps)) if self.steps else 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"Expected `batch_size` to be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self._pass = None  # the batches left in the current pass over the data (with `steps`)
        self._seen = 0

    @property
    def batches_per_pass(self):
        return math.ceil(self.size / self.batch_size)

    @property
    def num_batches(self):
        """Batches per epoch: `steps` when given, else one pass over the data."""
        return self.steps or self.batches_per_pass

    def _take(self, structure, idx):
        if structure is None:
            return None
        return tree.map_structure(lambda a: convert_to_tensor(a[idx]), structure)

    def _one_pass(self):
        order = np.random.permutation(self.size) if self.shuffle else None
        for start in range(0, self.size, self.batch_size):
            stop = min(start + self.batch_size, self.size)
            idx = order[start:stop] if order is not None else slice(start, stop)
            yield self._take(self.x, idx), self._take(self.y, idx), self._take(self.sample_weight, idx)

    def reset(self):
        """The next epoch starts a new pass (evaluation always starts from the first batch)."""
        self._pass, self._seen = None, 0

    def batches(self):
        """Yields (x, y, sample_weight) batches of lamina tensors for one epoch."""
        if self.steps is None:
            yield from self._one_pass()
            return
        if self._pass is None:
            self._pass, self._seen = self._one_pass(), 0
        for _ in range(self.steps):
            if self._seen >= self.batches_per_pass:
                warnings.warn(_RAN_OUT, stacklevel=3)
                break
            self._seen += 1
            yield next(self._pass)
        if self._seen >= self.batches_per_pass:
            self.reset()


class GeneratorData:
    """A Python generator / iterator of `(x, y)` or `(x, y, sample_weight)` batches (or `x` alone
    for predict). With `steps`, each epoch takes that many batches from the same iterator."""

    def __init__(self, iterable, steps=None):
        self.iterator = iter(iterable)
        self.steps = normalize_steps(steps, "steps")
        self.exhausted = False

    @property
    def num_batches(self):
        return self.steps

    def reset(self):
        """A generator cannot restart: evaluation takes the next batches."""

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
        return ArrayData(x, y, sample_weight, batch_size, shuffle, class_weight, steps)
    if class_weight is not None:  # Keras 3's message
        raise ValueError("Argument `class_weight` is not supported for Python generator inputs. "
                         f"Received: class_weight={class_weight}")
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
    x = tree.map_structure(_to_numpy, standardize_lists(x, "x"))
    y = None if y is None else tree.map_structure(_to_numpy, standardize_lists(y, "y"))
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
