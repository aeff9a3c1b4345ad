"""BatchNormalization: numerics against NumPy (training and inference), its fused op's gradients,
moving statistics, and the Keras rule that a frozen BatchNormalization runs in inference mode."""
import numpy as np
import pytest

import lamina as keras
from lamina import layers, ops
from test_batch_norm_op import fd_grad

RNG = np.random.default_rng(0)


def np_bn(x, gamma, beta, eps, axis=-1):
    axes = tuple(d for d in range(x.ndim) if d != axis % x.ndim)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape), mean.ravel(), var.ravel()


def test_fused_batch_norm_forward_and_statistics():
    x = RNG.normal(2.0, 3.0, size=(4, 3, 5, 6)).astype(np.float32)
    gamma, beta = RNG.normal(size=6).astype(np.float32), RNG.normal(size=6).astype(np.float32)
    mean, var = ops.zeros((6,)), ops.ones((6,))  # momentum 0: they become the batch statistics
    y = ops.batch_norm(x, gamma, beta, mean, var, momentum=0.0, epsilon=1e-3, training=True)
    want, wmean, wvar = np_bn(x.astype(np.float64), gamma, beta, 1e-3)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(mean), wmean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(var), wvar, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 2)])
def test_fused_batch_norm_gradients_match_finite_differences(shape):
    x = RNG.normal(size=shape)
    c = shape[-1]
    gamma, beta = RNG.normal(size=c), RNG.normal(size=c)
    r = RNG.normal(size=shape)
    tx, tg, tb = (ops.convert_to_tensor(v.astype(np.float32)) for v in (x, gamma, beta))
    with keras.GradientTape() as tape:
        tape.watch([tx, tg, tb])
        y = ops.batch_norm(tx, tg, tb, ops.zeros((c,)), ops.ones((c,)), epsilon=1e-3, training=True)
        loss = ops.sum(ops.multiply(y, r.astype(np.float32)))
    dx, dg, db = (np.asarray(g) for g in tape.gradient(loss, [tx, tg, tb]))
    f = lambda xx, gg, bb: float((np_bn(xx, gg, bb, 1e-3)[0] * r).sum())  # noqa: E731
    np.testing.assert_allclose(dx, fd_grad(lambda v: f(v, gamma, beta), x), rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(dg, fd_grad(lambda v: f(x, v, beta), gamma), rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(db, fd_grad(lambda v: f(x, gamma, v), beta), rtol=1e-2, atol=1e-3)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match=r"\[batch_norm\] expected gamma of shape \(3,\)"):
        ops.batch_norm(ops.ones((2, 3)), ops.ones((4,)), None, ops.zeros((3,)), ops.ones((3,)), training=True)
    with pytest.raises(ValueError, match="empty"):
        ops.batch_norm(ops.ones((0, 3)), None, None, ops.zeros((3,)), ops.ones((3,)), training=True)
    with pytest.raises(ValueError, match="Axis 3 of input tensor should have a defined dimension|out of bounds"):
        layers.BatchNormalization(axis=5)(np.ones((2, 3), "float32"))


def test_layer_weights_training_and_inference():
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = RNG.normal(1.0, 2.0, size=(8, 4)).astype(np.float32)
    y_inf = bn(x)  # inference before any training: moving stats 0 / 1
    np.testing.assert_allclose(np.asarray(y_inf), x / np.sqrt(1 + 1e-3), rtol=1e-5)
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    y = bn(x, training=True)
    want, mean, var = np_bn(x.astype(np.float64), np.ones(4), np.zeros(4), 1e-3)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)


def test_layer_on_another_axis_matches_numpy():
    bn = layers.BatchNormalization(axis=1)
    x = RNG.normal(size=(3, 5, 2, 2)).astype(np.float32)
    y = bn(x, training=True)
    want, _, _ = np_bn(x.astype(np.float64), np.ones(5), np.zeros(5), 1e-3, axis=1)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-4)
    assert bn.moving_mean.shape == (5,)


def test_frozen_batch_norm_runs_in_inference_mode_and_never_moves():
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input(shape=(6, 6, 2)), layers.Conv2D(4, 3), layers.BatchNormalization(),
                             layers.Activation("relu"), layers.GlobalAveragePooling2D()], name="bn_base")
    x, y = RNG.random((16, 6, 6, 2), dtype=np.float32), RNG.random((16, 1), dtype=np.float32)
    base.trainable = False
    model = keras.Sequential([base, layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = [w.numpy().copy() for w in base.weights]
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for a, b in zip(before, [w.numpy() for w in base.weights]):
        np.testing.assert_array_equal(a, b)  # kernels and the moving statistics alike
    # the frozen model gives the same output in training mode as in inference mode
    np.testing.assert_allclose(np.asarray(base(x, training=True)), np.asarray(base(x, training=False)))
    # unfreeze and fine-tune with a low learning rate: statistics and weights move
    base.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    bn = base.layers[1]
    assert not np.array_equal(before[-2], bn.moving_mean.numpy())
    assert model.count_params() == 4 * 3 * 3 * 2 + 4 + 4 * 4 + 5
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 8 (32.00 B)" in lines[0]


def test_batch_norm_cnn_learns_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(16, 3), layers.BatchNormalization(),
                              layers.Activation("relu"), layers.Flatten(), layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    split = pytest.importorskip("sklearn.model_selection").train_test_split
    x_train, x_test, y_train, y_test = split(x, data.target, test_size=0.25, random_state=0)
    model.fit(x_train, y_train, epochs=10, verbose=0)
    # evaluated in inference mode, with the moving statistics
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.95
