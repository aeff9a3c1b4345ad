"""The initializers' draws (`variance_scaling`, `truncated_normal`, `compute_fans`) are one C++ op that
the Python initializers and the C++ layers both call: the values a seed gives are those the earlier
pure-Python composition gave (rewritten here from lamina's primitive random ops), and Keras's rules
for fans, limits and truncation hold."""
import math

import numpy as np
import pytest

import lamina as keras
from lamina import _core, initializers, ops
from lamina import random as lrandom


def _reference_truncated(shape, mean, stddev, seed):
    # the Python composition the initializers used before the op existed
    x = lrandom.normal(shape, 0.0, 1.0, seed=seed)
    for i in range(8):
        bad = ops.greater(ops.abs(x), 2.0)
        if x.size == 0 or not bool(ops.max(ops.cast(bad, "int32"))):
            break
        x = ops.where(bad, lrandom.normal(shape, 0.0, 1.0, seed=None if seed is None else seed + i + 1), x)
    return ops.add(ops.multiply(ops.clip(x, -2.0, 2.0), stddev), mean)


def _reference_fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _reference_variance_scaling(shape, scale, mode, distribution, seed):
    fan_in, fan_out = _reference_fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    scale = scale / max(1.0, fan)
    if distribution in ("truncated_normal", "normal"):
        return _reference_truncated(shape, 0.0, math.sqrt(scale) / 0.87962566103423978, seed)
    if distribution == "untruncated_normal":
        return lrandom.normal(shape, 0.0, math.sqrt(scale), seed=seed)
    limit = math.sqrt(3.0 * scale)
    return lrandom.uniform(shape, -limit, limit, seed=seed)


SHAPES = [(3, 4), (3, 3, 2, 5), (7,), (), (40, 30), (0, 4)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["uniform", "truncated_normal", "untruncated_normal"])
@pytest.mark.parametrize("seed", [3, None])
def test_variance_scaling_gives_the_values_a_seed_gave_before(shape, mode, distribution, seed):
    init = initializers.VarianceScaling(1.3, mode, distribution, seed=seed)
    keras.utils.set_random_seed(11)  # unseeded draws come from the global generator, in the same order
    got = np.asarray(init(shape))
    keras.utils.set_random_seed(11)
    want = np.asarray(_reference_variance_scaling(shape, 1.3, mode, distribution, seed))
    assert got.shape == tuple(shape)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
                                  "lecun_uniform"])
def test_presets_repeat_with_their_seed(name):
    cls = type(initializers.get(name))
    a, b = np.asarray(cls(seed=5)((6, 4))), np.asarray(cls(seed=5)((6, 4)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, np.asarray(cls(seed=6)((6, 4))))


def test_truncated_normal_matches_the_reference_and_stays_within_two_stddevs():
    got = np.asarray(keras.random.truncated_normal((200, 50), mean=1.0, stddev=0.5, seed=4))
    np.testing.assert_array_equal(got, np.asarray(_reference_truncated((200, 50), 1.0, 0.5, 4)))
    assert got.min() >= 0.0 and got.max() <= 2.0
    assert abs(got.mean() - 1.0) < 0.01
    # a cut normal's standard deviation is 0.8796 of the uncut one
    assert abs(got.std() - 0.5 * 0.87962566103423978) < 0.01
    np.testing.assert_array_equal(np.asarray(initializers.TruncatedNormal(1.0, 0.5, seed=4)((200, 50))), got)


def test_glorot_uniform_limit_uses_keras_fans():
    # conv kernel (3, 3, 4, 8): fan_in = 36, fan_out = 72; limit sqrt(6 / 108)
    assert _core.compute_fans([3, 3, 4, 8]) == (36, 72)
    assert _core.compute_fans([]) == (1, 1) and _core.compute_fans([5]) == (5, 5)
    w = np.asarray(initializers.GlorotUniform(seed=1)((3, 3, 4, 8)))
    limit = math.sqrt(6 / 108)
    assert -limit <= w.min() and w.max() < limit and w.max() > 0.9 * limit


def test_layers_kernels_are_the_initializers_draw():
    layer = keras.layers.Dense(5, kernel_initializer=initializers.GlorotUniform(seed=8))
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.kernel.numpy(), np.asarray(lrandom.variance_scaling((3, 5), 1.0, "fan_avg",
                                                                                            "uniform", seed=8)))


def test_op_errors():
    with pytest.raises(ValueError, match=r"\[variance_scaling\] Invalid `mode` argument: fan_max"):
        _core.variance_scaling([2, 2], 1.0, "fan_max", "uniform")
    with pytest.raises(ValueError, match=r"\[variance_scaling\] Invalid `distribution` argument: cauchy"):
        _core.variance_scaling([2, 2], 1.0, "fan_in", "cauchy")
    with pytest.raises(ValueError, match=r"\[variance_scaling\] Argument `scale` must be positive"):
        _core.variance_scaling([2, 2], 0.0, "fan_in", "uniform")
