"""LayerNormalization, added as the recipe "a new layer in both languages" says: one op
(`ops.layer_normalization`, kernels in kernels/norm.cpp) that the Python layer here and
`nn::LayerNormalization` (tests/cpp/test_nn.cpp) both call. Forward against NumPy and Keras,
gradients against finite differences, saving round trips and Keras-loadable weights."""
import numpy as np
import pytest

import lamina as keras
from lamina import layers, ops
from test_batch_norm_op import fd_grad

RNG = np.random.default_rng(3)


def np_layer_norm(x, gamma, beta, axes, eps):
    axes = tuple(sorted(a % x.ndim for a in axes))
    shape = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    y = y if gamma is None else y * gamma.reshape(shape)
    return y if beta is None else y + beta.reshape(shape)


@pytest.mark.parametrize("shape,axis", [((4, 6), -1), ((2, 3, 4), [1, 2]), ((2, 3, 4), [-2, -1]), ((3, 4, 2), 1),
                                        ((2, 3, 2, 2), [0, 2])])
def test_op_matches_numpy_and_keras(shape, axis):
    x = RNG.normal(5.0, 3.0, size=shape).astype(np.float32)
    axes = axis if isinstance(axis, list) else [axis]
    pshape = tuple(shape[a] for a in sorted(a % len(shape) for a in axes))
    gamma, beta = RNG.normal(size=pshape).astype(np.float32), RNG.normal(size=pshape).astype(np.float32)
    y = np.asarray(ops.layer_normalization(x, gamma, beta, axis=axis, epsilon=1e-3))
    np.testing.assert_allclose(y, np_layer_norm(x.astype(np.float64), gamma, beta, axes, 1e-3), rtol=1e-5, atol=1e-5)
    if sorted(a % len(shape) for a in axes) == list(range(len(shape) - len(axes), len(shape))):
        # (Keras's torch backend normalises trailing axes only)
        real_keras = pytest.importorskip("keras")
        want = real_keras.ops.layer_normalization(x, gamma, beta, axis=axis, epsilon=1e-3)
        np.testing.assert_allclose(y, real_keras.ops.convert_to_numpy(want), rtol=1e-5, atol=1e-5)
    # default epsilon: Keras's backend.epsilon()
    np.testing.assert_allclose(np.asarray(ops.layer_normalization(x, axis=axis)),
                               np_layer_norm(x.astype(np.float64), None, None, axes, 1e-7), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape,axis", [((3, 5), [-1]), ((2, 3, 4), [1]), ((2, 3, 2), [0, 2])])
def test_op_gradients_match_finite_differences(shape, axis):
    x = RNG.normal(size=shape)
    pshape = tuple(shape[a] for a in sorted(axis))
    gamma, beta, r = RNG.normal(size=pshape), RNG.normal(size=pshape), RNG.normal(size=shape)
    ts = [ops.convert_to_tensor(v.astype(np.float32)) for v in (x, gamma, beta)]
    with keras.GradientTape() as tape:
        tape.watch(ts)
        loss = ops.sum(ops.multiply(ops.layer_normalization(*ts, axis=axis, epsilon=1e-3), r.astype(np.float32)))
    dx, dg, db = (np.asarray(g) for g in tape.gradient(loss, ts))
    f = lambda xx, gg, bb: float((np_layer_norm(xx, gg, bb, axis, 1e-3) * r).sum())  # noqa: E731
    np.testing.assert_allclose(dx, fd_grad(lambda v: f(v, gamma, beta), x), rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(dg, fd_grad(lambda v: f(x, v, beta), gamma), rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(db, fd_grad(lambda v: f(x, gamma, v), beta), rtol=1e-2, atol=1e-3)


def test_layer_weights_defaults_and_config():
    ln = layers.LayerNormalization()
    assert ln.epsilon == 1e-3 and ln.center and ln.scale
    x = RNG.normal(size=(4, 3, 5)).astype(np.float32)
    y = ln(x)
    assert [w.name for w in ln.weights] == ["gamma", "beta"] and ln.gamma.shape == (5,)
    np.testing.assert_allclose(np.asarray(y), np_layer_norm(x.astype(np.float64), None, None, [-1], 1e-3),
                               rtol=1e-4, atol=1e-5)
    ln2 = layers.LayerNormalization(axis=[1, 2], center=False)
    ln2(x)
    assert [w.name for w in ln2.weights] == ["gamma"] and ln2.gamma.shape == (3, 5)
    config = ln2.get_config()
    assert config["axis"] == [1, 2] and config["center"] is False and config["epsilon"] == 1e-3
    clone = layers.LayerNormalization.from_config(config)
    clone(x)
    clone.set_weights(ln2.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(ln2(x)))
    with pytest.raises(ValueError, match="Axis 3 is out of bounds"):
        layers.LayerNormalization(axis=3)(x)
    with pytest.raises(TypeError, match="Expected an int or a list/tuple of ints"):
        layers.LayerNormalization(axis="last")


def test_layer_matches_keras_layer():
    real_keras = pytest.importorskip("keras")
    x = RNG.normal(2.0, 3.0, size=(3, 4, 6)).astype(np.float32)
    ours, theirs = layers.LayerNormalization(axis=[1, 2], epsilon=1e-2), real_keras.layers.LayerNormalization(
        axis=[1, 2], epsilon=1e-2)
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [RNG.normal(size=(4, 6)).astype(np.float32) for _ in range(2)]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(np.asarray(ours(x)), real_keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)
    assert ours.get_config()["axis"] == theirs.get_config()["axis"]


def _model():
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((5, 4)), layers.Dense(6), layers.LayerNormalization(), layers.Flatten(),
                             layers.Dense(2)])


def test_training_and_saving_round_trip(tmp_path):
    model = _model()
    x, y = RNG.normal(size=(16, 5, 4)).astype(np.float32), RNG.normal(size=(16, 2)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    before = model.layers[1].gamma.numpy()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert not np.array_equal(before, model.layers[1].gamma.numpy())  # gradients reach gamma
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "ln.keras")
    np.testing.assert_array_equal(keras.saving.load_model(tmp_path / "ln.keras").predict(x, verbose=0), want)
    model.save_weights(tmp_path / "ln.weights.h5")
    other = _model()
    other.load_weights(tmp_path / "ln.weights.h5")
    np.testing.assert_array_equal(other.predict(x, verbose=0), want)


def test_keras_loads_the_layer(tmp_path):
    real_keras = pytest.importorskip("keras")
    model = _model()
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    model.layers[1].gamma.assign(RNG.normal(size=6).astype(np.float32))  # not the initial ones
    model.layers[1].beta.assign(RNG.normal(size=6).astype(np.float32))
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "ln.keras")
    theirs = real_keras.saving.load_model(tmp_path / "ln.keras")
    assert type(theirs.layers[1]).__name__ == "LayerNormalization"
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), want, rtol=1e-5, atol=1e-5)
    model.save_weights(tmp_path / "ln.weights.h5")
    theirs.load_weights(tmp_path / "ln.weights.h5")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), want, rtol=1e-5, atol=1e-5)
