"""GradientTape semantics (TensorFlow's), and a toy two-layer model trained with plain SGD."""
import numpy as np
import pytest

import lamina
from lamina import ops


def _np(x):
    return np.asarray(x)


@pytest.fixture
def wb():
    w = lamina.Variable(np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.25]], np.float32), name="w")
    b = lamina.Variable(np.array([0.1, -0.2], np.float32), name="b")
    return w, b


X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], np.float32)


def test_gradient_of_list_of_sources(wb):
    w, b = wb
    with lamina.GradientTape() as tape:
        y = ops.sum(ops.square(ops.matmul(X, w) + b))
    gw, gb = tape.gradient(y, [w, b])
    z = X @ _np(w.value) + _np(b.value)
    np.testing.assert_allclose(_np(gw), X.T @ (2 * z), rtol=1e-5)
    np.testing.assert_allclose(_np(gb), (2 * z).sum(0), rtol=1e-5)


def test_gradient_structure_follows_sources(wb):
    w, b = wb
    with lamina.GradientTape(persistent=True) as tape:
        y = ops.sum(w * w) + ops.sum(b)
    grads = tape.gradient(y, {"kernel": w, "bias": b})
    assert isinstance(grads, dict) and set(grads) == {"kernel", "bias"}
    np.testing.assert_allclose(_np(grads["kernel"]), 2 * _np(w.value))
    np.testing.assert_allclose(_np(grads["bias"]), np.ones(2))
    t = tape.gradient(y, (w, b))
    assert isinstance(t, tuple) and len(t) == 2
    single = tape.gradient(y, w)
    assert isinstance(single, lamina.Tensor)
    np.testing.assert_allclose(_np(single), 2 * _np(w.value))


def test_unconnected_source_is_none(wb):
    w, b = wb
    other = lamina.Variable(np.ones(3, np.float32), name="other")
    with lamina.GradientTape() as tape:
        y = ops.sum(w)
    gw, gb, go = tape.gradient(y, [w, b, other])
    np.testing.assert_allclose(_np(gw), np.ones((3, 2)))
    assert gb is None and go is None


def test_non_trainable_variable_gives_none(wb):
    w, b = wb
    frozen = lamina.Variable(np.full((2,), 2.0, np.float32), trainable=False, name="frozen")
    assert frozen.trainable is False
    with lamina.GradientTape() as tape:
        y = ops.sum(ops.matmul(X, w) * frozen)
    gw, gf = tape.gradient(y, [w, frozen])
    assert gf is None
    np.testing.assert_allclose(_np(gw), X.T @ np.full((2, 2), 2.0))
    # toggling trainable back on makes it a source again
    frozen.trainable = True
    with lamina.GradientTape() as tape:
        y = ops.sum(ops.matmul(X, w) * frozen)
    assert tape.gradient(y, frozen) is not None


def test_watch_plain_tensor():
    x = ops.convert_to_tensor([1.0, 2.0, 3.0])
    with lamina.GradientTape() as tape:
        y = ops.sum(x * x)
    assert tape.gradient(y, x) is None  # not watched: no gradient
    with lamina.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(x * x * x)
    np.testing.assert_allclose(_np(tape.gradient(y, x)), 3 * np.array([1.0, 4.0, 9.0]))
    # watching is per tape: a later tape that does not watch x gives None again
    with lamina.GradientTape() as tape:
        y = ops.sum(x * x)
    assert tape.gradient(y, x) is None


def test_watch_list_and_variable():
    x = ops.convert_to_tensor([1.0, 2.0])
    y0 = ops.convert_to_tensor([3.0, -1.0])
    frozen = lamina.Variable(np.array([2.0, 5.0], np.float32), trainable=False, name="frozen")
    with lamina.GradientTape() as tape:
        tape.watch([x, y0, frozen])
        out = ops.sum(x * y0 * frozen)
    gx, gy, gf = tape.gradient(out, [x, y0, frozen])
    np.testing.assert_allclose(_np(gx), [6.0, -5.0])
    np.testing.assert_allclose(_np(gy), [2.0, 10.0])
    np.testing.assert_allclose(_np(gf), [3.0, -2.0])
    assert frozen.trainable is False


def test_nested_tapes_watch():
    x = ops.convert_to_tensor([2.0])
    with lamina.GradientTape() as outer:
        outer.watch(x)
        with lamina.GradientTape() as inner:
            inner.watch(x)
            y = x * x * x
        y2 = y * 2.0
    np.testing.assert_allclose(_np(inner.gradient(y, x)), [12.0])
    np.testing.assert_allclose(_np(outer.gradient(y2, x)), [24.0])


def test_persistent_tape():
    x = ops.convert_to_tensor([1.0, -2.0])
    with lamina.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = ops.sum(x * x)
        z = ops.sum(ops.exp(x))
    np.testing.assert_allclose(_np(tape.gradient(y, x)), [2.0, -4.0])
    np.testing.assert_allclose(_np(tape.gradient(z, x)), np.exp([1.0, -2.0]), rtol=1e-6)
    np.testing.assert_allclose(_np(tape.gradient(y, x)), [2.0, -4.0])


def test_non_persistent_tape_second_call_raises():
    x = ops.convert_to_tensor([1.0, -2.0])
    with lamina.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(x * x)
    tape.gradient(y, x)
    with pytest.raises(RuntimeError):
        tape.gradient(y, x)


def test_non_scalar_target_uses_ones():
    x = ops.convert_to_tensor([[1.0, 2.0], [3.0, 4.0]])
    with lamina.GradientTape() as tape:
        tape.watch(x)
        y = x * x  # not a scalar: implicitly summed (seed of ones), as TF does
    np.testing.assert_allclose(_np(tape.gradient(y, x)), 2 * _np(x))


def test_output_gradients():
    x = ops.convert_to_tensor([1.0, 2.0, 3.0])
    with lamina.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    g = tape.gradient(y, x, output_gradients=np.array([1.0, 0.0, -2.0]))
    np.testing.assert_allclose(_np(g), [2.0, 0.0, -12.0])


def test_gradient_with_respect_to_intermediate():
    x = ops.convert_to_tensor([1.0, 2.0])
    with lamina.GradientTape() as tape:
        tape.watch(x)
        h = x * 3.0
        y = ops.sum(h * h)
    gh, gx = tape.gradient(y, [h, x])
    np.testing.assert_allclose(_np(gh), 2 * 3 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(_np(gx), 18 * np.array([1.0, 2.0]))


def test_nothing_recorded_outside_tape(wb):
    w, _ = wb
    outside = w * 2.0  # computed before the tape: no history
    with lamina.GradientTape() as tape:
        y = ops.sum(outside)
    assert tape.gradient(y, w) is None
    with lamina.GradientTape() as tape:
        y = ops.sum(outside) + ops.sum(w)
    np.testing.assert_allclose(_np(tape.gradient(y, w)), np.ones((3, 2)))


def test_results_outside_tape_carry_no_graph(wb):
    w, _ = wb
    out = ops.matmul(X, w)
    assert not out._requires_grad
    with lamina.GradientTape():
        inside = ops.matmul(X, w)
    assert inside._requires_grad


def test_no_grad_inside_tape(wb):
    w, _ = wb
    with lamina.GradientTape() as tape:
        with lamina.no_grad():
            stopped = ops.sum(w * w)
        y = stopped * ops.sum(w)
        recorded_after = ops.sum(w * w)  # recording resumes after the block
    assert not stopped._requires_grad
    assert recorded_after._requires_grad
    np.testing.assert_allclose(_np(tape.gradient(y, w)), np.full((3, 2), float(stopped)), rtol=1e-6)


def test_variable_used_twice_accumulates():
    v = lamina.Variable(np.array([2.0, -1.0], np.float32), name="v")
    with lamina.GradientTape() as tape:
        y = ops.sum(v * 3.0) + ops.sum(v * v) + ops.sum(ops.matmul(v, ops.ones((2,))) * 0 + v)
    # d/dv: 3 + 2v + 1
    np.testing.assert_allclose(_np(tape.gradient(y, v)), 3 + 2 * np.array([2.0, -1.0]) + 1)


def test_same_source_listed_twice():
    v = lamina.Variable(np.array([1.0, 2.0], np.float32), name="v")
    with lamina.GradientTape() as tape:
        y = ops.sum(v * v)
    g1, g2 = tape.gradient(y, [v, v])
    np.testing.assert_allclose(_np(g1), [2.0, 4.0])
    np.testing.assert_allclose(_np(g2), [2.0, 4.0])


def test_gradient_does_not_change_variable_values():
    v = lamina.Variable(np.array([1.0, 2.0], np.float32), name="v")
    with lamina.GradientTape() as tape:
        y = ops.sum(v)
    g = tape.gradient(y, v)
    v.assign_sub(g * 0.5)
    np.testing.assert_allclose(v.numpy(), [0.5, 1.5])
    np.testing.assert_allclose(_np(g), [1.0, 1.0])  # the gradient is not aliased to the variable


def test_tape_gradient_int_source_raises():
    with lamina.GradientTape() as tape:
        with pytest.raises(TypeError):
            tape.watch(ops.convert_to_tensor([1, 2]))


# ---------------------------------------------------------------- toy model


def _blobs(n_per_class=60, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [-3.0, -2.0], [3.0, -2.0]])
    x = np.concatenate([c + rng.normal(scale=0.7, size=(n_per_class, 2)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    perm = rng.permutation(len(y))
    return x[perm].astype(np.float32), y[perm].astype(np.int32)


def test_toy_two_layer_model_trains_with_sgd():
    x, y = _blobs()
    lamina.utils.set_random_seed(0)
    w1 = lamina.Variable(lamina.random.normal((2, 16), stddev=0.5, seed=1), name="kernel")
    b1 = lamina.Variable(ops.zeros((16,)), name="bias")
    w2 = lamina.Variable(lamina.random.normal((16, 3), stddev=0.5, seed=2), name="kernel_1")
    b2 = lamina.Variable(ops.zeros((3,)), name="bias_1")
    params = [w1, b1, w2, b2]
    xt, yt = ops.convert_to_tensor(x), ops.convert_to_tensor(y)

    def forward():
        h = ops.relu(ops.add(ops.matmul(xt, w1), b1))
        return ops.add(ops.matmul(h, w2), b2)

    def loss_fn():
        return ops.mean(ops.sparse_categorical_crossentropy(yt, forward(), from_logits=True))

    initial = float(loss_fn())
    lr = 0.1
    for _ in range(300):
        with lamina.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, params)
        assert all(g is not None for g in grads)
        for p, g in zip(params, grads):
            p.assign_sub(g * lr)
    final = float(loss_fn())
    acc = float(np.mean(np.asarray(ops.argmax(forward(), axis=-1)) == y))
    assert final < 0.1 * initial, (initial, final)
    assert acc > 0.9, acc
