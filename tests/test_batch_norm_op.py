"""The batch-normalisation ops: `ops.batch_normalization` (Keras's op: given statistics, any axis)
and `ops.batch_norm` (the BatchNormalization layers' step: batch statistics, the moving-average
update, inference) against NumPy, finite differences and Keras itself."""
import numpy as np
import pytest

import lamina as keras
from lamina import layers, ops

RNG = np.random.default_rng(7)


def _bshape(x, axis):
    shape = [1] * x.ndim
    shape[axis] = -1
    return shape


def np_normalize(x, mean, var, axis, offset=None, scale=None, eps=1e-3):
    s = _bshape(x, axis)
    y = (x - mean.reshape(s)) / np.sqrt(var.reshape(s) + eps)
    if scale is not None:
        y = y * scale.reshape(s)
    return y if offset is None else y + offset.reshape(s)


def np_moments(x, axis):
    axes = tuple(d for d in range(x.ndim) if d != axis % x.ndim)
    return x.mean(axes), x.var(axes)


def fd_grad(f, x, eps=1e-3):
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("shape,axis", [((5, 4), -1), ((3, 4, 2), 1), ((4, 3, 2, 2), 0), ((2, 3, 4), 2),
                                        ((6,), 0)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_normalization_matches_numpy(shape, axis, affine):
    x = RNG.normal(1.0, 2.0, size=shape).astype(np.float32)
    c = shape[axis]
    mean, var = RNG.normal(size=c).astype(np.float32), RNG.uniform(0.5, 2.0, size=c).astype(np.float32)
    offset, scale = (RNG.normal(size=c).astype(np.float32) for _ in range(2)) if affine else (None, None)
    y = ops.batch_normalization(x, mean, var, axis, offset=offset, scale=scale, epsilon=1e-2)
    want = np_normalize(x.astype(np.float64), mean, var, axis, offset, scale, eps=1e-2)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)


def test_batch_normalization_agrees_with_keras():
    real_keras = pytest.importorskip("keras")
    x = RNG.normal(size=(4, 3, 5)).astype(np.float32)
    mean, var, offset, scale = (RNG.uniform(0.1, 1.0, size=3).astype(np.float32) for _ in range(4))
    want = real_keras.ops.convert_to_numpy(real_keras.ops.batch_normalization(
        x, mean, var, axis=1, offset=offset, scale=scale, epsilon=1e-3))
    np.testing.assert_allclose(np.asarray(ops.batch_normalization(x, mean, var, 1, offset, scale)), want,
                               rtol=1e-5, atol=1e-6)


def test_batch_normalization_gradients_match_finite_differences():
    axis, shape = 1, (3, 4, 2)
    x = RNG.normal(size=shape)
    mean, var, offset, scale = RNG.normal(size=4), RNG.uniform(0.5, 2, size=4), RNG.normal(size=4), RNG.normal(size=4)
    r = RNG.normal(size=shape)
    ts = [ops.convert_to_tensor(v.astype(np.float32)) for v in (x, mean, var, offset, scale)]
    with keras.GradientTape() as tape:
        tape.watch(ts)
        loss = ops.sum(ops.multiply(ops.batch_normalization(ts[0], ts[1], ts[2], axis, ts[3], ts[4]), r))
    grads = [np.asarray(g) for g in tape.gradient(loss, ts)]
    args = [x, mean, var, offset, scale]
    for k, got in enumerate(grads):
        def f(v, k=k):
            a = list(args)
            a[k] = v
            return float((np_normalize(a[0], a[1], a[2], axis, a[3], a[4]) * r).sum())
        np.testing.assert_allclose(got, fd_grad(f, args[k]), rtol=1e-2, atol=1e-3, err_msg=f"input {k}")


@pytest.mark.parametrize("shape,axis", [((6, 3), -1), ((2, 3, 4, 2), 1), ((4, 2, 3), 0)])
def test_batch_norm_training_gradients_on_any_axis(shape, axis):
    x = RNG.normal(size=shape)
    c = shape[axis]
    gamma, beta, r = RNG.normal(size=c), RNG.normal(size=c), RNG.normal(size=shape)
    tx, tg, tb = (ops.convert_to_tensor(v.astype(np.float32)) for v in (x, gamma, beta))
    with keras.GradientTape() as tape:
        tape.watch([tx, tg, tb])
        y = ops.batch_norm(tx, tg, tb, ops.zeros((c,)), ops.ones((c,)), axis=axis, training=True)
        loss = ops.sum(ops.multiply(y, r.astype(np.float32)))
    dx, dg, db = (np.asarray(g) for g in tape.gradient(loss, [tx, tg, tb]))

    def f(xx, gg, bb):
        mean, var = np_moments(xx, axis)
        return float((np_normalize(xx, mean, var, axis, bb, gg) * r).sum())

    np.testing.assert_allclose(dx, fd_grad(lambda v: f(v, gamma, beta), x), rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(dg, fd_grad(lambda v: f(x, v, beta), gamma), rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(db, fd_grad(lambda v: f(x, gamma, v), beta), rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_batch_norm_training_updates_the_moving_statistics(axis):
    x = RNG.normal(3.0, 2.0, size=(5, 4, 3)).astype(np.float32)
    c = x.shape[axis]
    mm, mv = keras.Variable(RNG.normal(size=c).astype(np.float32)), keras.Variable(np.ones(c, np.float32))
    m0, v0 = mm.numpy(), mv.numpy()
    y = ops.batch_norm(x, None, None, mm, mv, axis=axis, momentum=0.9, epsilon=1e-3, training=True)
    mean, var = np_moments(x.astype(np.float64), axis)
    np.testing.assert_allclose(np.asarray(y), np_normalize(x.astype(np.float64), mean, var, axis), rtol=1e-4,
                               atol=1e-4)
    # Keras's formula, in float32: moving * momentum + batch * (1 - momentum)
    np.testing.assert_allclose(mm.numpy(), m0 * np.float32(0.9) + mean.astype(np.float32) * np.float32(0.1),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mv.numpy(), v0 * np.float32(0.9) + var.astype(np.float32) * np.float32(0.1),
                               rtol=1e-6, atol=1e-6)
    # inference reads the moving statistics and leaves them alone
    before = mm.numpy()
    y_inf = ops.batch_norm(x, None, None, mm, mv, axis=axis, epsilon=1e-3)
    np.testing.assert_array_equal(mm.numpy(), before)
    np.testing.assert_allclose(np.asarray(y_inf), np_normalize(x, mm.numpy(), mv.numpy(), axis), rtol=1e-5,
                               atol=1e-5)


def test_moving_statistics_are_copy_on_write():
    mm, mv = keras.Variable(np.zeros(2, np.float32)), keras.Variable(np.ones(2, np.float32))
    view = ops.reshape(mm, (1, 2))  # shares the variable's storage
    ops.batch_norm(np.array([[1.0, 2.0], [3.0, 6.0]], np.float32), None, None, mm, mv, momentum=0.0, training=True)
    np.testing.assert_array_equal(np.asarray(view), [[0.0, 0.0]])
    np.testing.assert_allclose(mm.numpy(), [2.0, 4.0])
    with pytest.raises(TypeError, match="update in place"):
        ops.batch_norm(np.ones((2, 2), np.float32), None, None, np.zeros(2), np.ones(2), training=True)


def test_layer_training_step_matches_keras():
    real_keras = pytest.importorskip("keras")
    x = RNG.normal(2.0, 3.0, size=(6, 3, 4)).astype(np.float32)
    ours, theirs = layers.BatchNormalization(axis=1, momentum=0.8), real_keras.layers.BatchNormalization(
        axis=1, momentum=0.8)
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [RNG.normal(size=3).astype(np.float32) for _ in range(3)] + [RNG.uniform(0.5, 2, 3).astype(np.float32)]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    for training in (True, True, False):
        want = real_keras.ops.convert_to_numpy(theirs(x, training=training))
        np.testing.assert_allclose(np.asarray(ours(x, training=training)), want, rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_frozen_layer_is_inference():
    bn = layers.BatchNormalization(axis=1)
    x = RNG.normal(size=(4, 3, 2)).astype(np.float32)
    bn(x, training=True)  # moving statistics away from 0 / 1
    bn.trainable = False
    before = [w.numpy() for w in bn.weights]
    y = bn(x, training=True)
    want = ops.batch_normalization(x, bn.moving_mean, bn.moving_variance, 1, offset=bn.beta, scale=bn.gamma)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(want))
    for a, w in zip(before, bn.weights):
        np.testing.assert_array_equal(a, w.numpy())


def test_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"\[batch_normalization\] expected mean of shape \(3,\)"):
        ops.batch_normalization(np.ones((2, 3), np.float32), np.zeros(2), np.ones(3), -1)
    with pytest.raises(IndexError, match=r"\[batch_normalization\] axis 2 is out of bounds"):
        ops.batch_normalization(np.ones((2, 3), np.float32), np.zeros(3), np.ones(3), 2)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        ops.batch_normalization(np.ones((2, 3), np.float32), np.zeros(3), np.ones(3), -1, epsilon=0.0)
    with pytest.raises(ValueError, match=r"\[batch_norm\] expected moving_variance of shape \(3,\)"):
        ops.batch_norm(np.ones((2, 3), np.float32), None, None, ops.zeros((3,)), ops.ones((2,)))
