"""The bounds on what a layer's arguments, a config or a model file can make lamina allocate or
compute, in one place (layers, `add_weight`, the confusion metrics and `lamina.saving` read them
from here).

- Sizes (`units`, `filters`, kernel / pool windows, strides, dilation rates, the dimensions of an
  input shape) are positive (dimensions of shapes: non-negative) ints of at most `MAX_DIMENSION`.
- One weight holds at most `MAX_WEIGHT_ELEMENTS` scalars.
- Loading a model builds it under a `WeightBudget`: every weight `add_weight` creates is charged
  to it *before* it is allocated, so a config that declares more weights than its file can hold
  raises ValueError instead of allocating them.
- Zip members are read in a stream with a cap: never more than their header declares, than the
  config's weights justify (plus a margin), nor more than `MAX_EXPANSION` times their compressed
  size once past `EXPANSION_FLOOR_BYTES`.

The numbers in these messages name the constant, so a user who does need more can see which one.
"""
import math
import numbers
import threading

__all__ = ["MAX_DIMENSION", "MAX_WEIGHT_ELEMENTS", "MAX_INPUT_ELEMENTS", "MAX_CONFIG_BYTES", "MAX_EXPANSION",
           "EXPANSION_FLOOR_BYTES", "WEIGHTS_FIXED_MARGIN_BYTES", "WEIGHTS_PER_VARIABLE_MARGIN_BYTES",
           "MAX_STORED_BYTES_PER_SCALAR", "check_size", "check_shape", "WeightBudget", "charge_weight"]

MAX_DIMENSION = 2**31 - 1           # any one size or dimension (int32's range, as TensorFlow's shapes)
MAX_WEIGHT_ELEMENTS = 2**31 - 1     # scalars in one weight (8 GiB of float32)
MAX_INPUT_ELEMENTS = 2**28          # scalars in one sample of a build shape (a model built by running on zeros)
MAX_CONFIG_BYTES = 64 << 20         # a config.json larger than this is not a model's
MAX_EXPANSION = 100                 # a zip member may expand at most this many times its stored size ...
EXPANSION_FLOOR_BYTES = 64 << 20    # ... once larger than this (Keras refuses > 100x past 4 GiB)
WEIGHTS_FIXED_MARGIN_BYTES = 1 << 20         # HDF5's own structures: superblock, root group, heaps
WEIGHTS_PER_VARIABLE_MARGIN_BYTES = 16 << 10  # per dataset and its group (object headers, B-trees, names)
MAX_STORED_BYTES_PER_SCALAR = 8 * 4  # float64 in the file (8 bytes) x (the weight + up to 3 optimizer slots)

# Metrics (arguments possibly from a loaded compile config). AUC keeps 4 float32 counts per
# threshold and label, and each update makes a few float64 passes over the thresholds. Measured (one core): 200 thresholds (Keras's default) cost
# 0.07 ms per update, 10**4 0.6 ms, 10**6 (the bound: 16 MB of state) 0.5 s to create and 80 ms
# per update; 10**9, accepted before, took 50 s and then ran out of memory.
MAX_NUM_THRESHOLDS = 10**6
# thresholds x labels of a multi-label AUC: 4 variables of 4 bytes each -> at most 160 MB of state
MAX_THRESHOLD_LABEL_COUNTS = 10**7


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_size(value, name, minimum=1):
    """`value` as an int in [minimum, MAX_DIMENSION], else ValueError naming `name`."""
    if not _is_int(value) or not minimum <= value <= MAX_DIMENSION:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected an integer between {minimum} and "
            f"{MAX_DIMENSION} (lamina.utils.limits.MAX_DIMENSION). Received: {name}={value!r}")
    return int(value)


def check_shape(shape, name, allow_none=True, max_elements=None):
    """`shape` as a tuple whose dimensions are ints in [0, MAX_DIMENSION] (or None), whose known
    dimensions multiply to at most `max_elements` (when given); else ValueError."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"Invalid `{name}`: expected a tuple of dimensions. Received: {name}={shape!r}") from None
    for d in dims:
        if d is None and allow_none:
            continue
        if not _is_int(d) or not 0 <= d <= MAX_DIMENSION:
            raise ValueError(
                f"Invalid `{name}` {dims!r}: dimensions must be integers between 0 and {MAX_DIMENSION} "
                "(lamina.utils.limits.MAX_DIMENSION)" + (" or None." if allow_none else "."))
    if max_elements is not None:
        n = math.prod(d for d in dims if d is not None)
        if n > max_elements:
            raise ValueError(f"Invalid `{name}` {dims!r}: {n} elements, more than the {max_elements} allowed.")
    return tuple(int(d) if d is not None else None for d in dims)


_state = threading.local()


class WeightBudget:
    """`with WeightBudget(max_bytes, source):` -- weights created in this thread inside the block
    (through `charge_weight`) may total at most `max_bytes`; the one that would pass it raises
    ValueError before it is allocated. `used` is the total charged."""

    def __init__(self, max_bytes, source):
        self.max_bytes = int(max_bytes)
        self.source = source
        self.used = 0

    def __enter__(self):
        self._previous = getattr(_state, "budget", None)
        _state.budget = self
        return self

    def __exit__(self, *args):
        _state.budget = self._previous

    def charge(self, nbytes, what):
        if self.used + nbytes > self.max_bytes:
            raise ValueError(
                f"{self.source} declares more weights than it can hold: {what} would bring them to "
                f"{self.used + nbytes} bytes, but the file's weights allow at most {self.max_bytes}. "
                "The file is damaged or not a model lamina wrote.")
        self.used += nbytes


def charge_weight(shape, itemsize, what):
    """Checks a new weight's shape (each dimension within MAX_DIMENSION, at most
    MAX_WEIGHT_ELEMENTS scalars) and charges its bytes to the open WeightBudget, if any."""
    shape = check_shape(shape, f"shape of {what}", allow_none=False)
    n = math.prod(shape)
    if n > MAX_WEIGHT_ELEMENTS:
        raise ValueError(f"The weight {what} of shape {shape} would hold {n} scalars, more than "
                         f"{MAX_WEIGHT_ELEMENTS} (lamina.utils.limits.MAX_WEIGHT_ELEMENTS).")
    budget = getattr(_state, "budget", None)
    if budget is not None:
        budget.charge(n * itemsize, what)
    return shape
