"""Random tensors (`keras.random` names). Without a seed, draws from the global generator that
`lamina.utils.set_random_seed` seeds."""
from lamina import _core
from lamina.backend import standardize_dtype
from lamina.ops import _shape, cast

__all__ = ["normal", "truncated_normal", "uniform"]


def _seed(seed):
    if seed is None:
        return -1
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    return seed


def _as_dtype(out, dtype):
    return out if dtype is None or standardize_dtype(dtype) == "float32" else cast(out, dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform values in [minval, maxval)."""
    return _as_dtype(_core.random_uniform(_shape(shape), float(minval), float(maxval), _seed(seed)), dtype)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normally distributed values."""
    return _as_dtype(_core.random_normal(_shape(shape), float(mean), float(stddev), _seed(seed)), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values; those more than two standard deviations from the mean are drawn again."""
    return _as_dtype(_core.truncated_normal(_shape(shape), float(mean), float(stddev), _seed(seed)), dtype)


def variance_scaling(shape, scale, mode, distribution, dtype=None, seed=None):
    """The draw of `keras.initializers.VarianceScaling` (and so of Glorot, He, LeCun), computed by
    the same C++ op the C++ layers initialise their kernels with."""
    return _as_dtype(_core.variance_scaling(_shape(shape), float(scale), mode, distribution, _seed(seed)), dtype)
