"""ops.dense / ops.conv take any built-in activation by name (the C++ op fuses relu into the GEMM's
tile writes and applies the others after it), and Dense / Conv2D pass theirs through: the result
is the same, bit for bit, as the linear op followed by the activation."""
import numpy as np
import pytest

from lamina import activations, layers, ops

NAMES = ["linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "selu", "silu", "swish", "softplus",
         "leaky_relu"]


def _np(t):
    return np.asarray(t)


def _same_bits(a, b):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.fixture
def dense_args():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 29)).astype(np.float32)
    x[5, 3] = np.nan  # a NaN sample stays NaN through every activation
    return x, (0.2 * rng.standard_normal((29, 21))).astype(np.float32), rng.standard_normal(21).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_dense_applies_any_builtin_activation(dense_args, name):
    x, k, b = dense_args
    want = activations.get(name)(ops.dense(x, k, b))
    _same_bits(ops.dense(x, k, b, name), want)
    assert np.isnan(_np(ops.dense(x, k, b, name))[5]).any()


@pytest.mark.parametrize("name", ["relu", "tanh", "softmax", "leaky_relu"])
def test_conv_applies_any_builtin_activation(name):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    k = (0.3 * rng.standard_normal((3, 3, 3, 11))).astype(np.float32)
    b = rng.standard_normal(11).astype(np.float32)
    want = activations.get(name)(ops.add(ops.conv(x, k, padding="same"), b))
    _same_bits(ops.conv(x, k, padding="same", bias=b, activation=name), want)


def test_relu_gradient_through_the_fused_op_matches_the_unfused_ops(dense_args):
    import lamina

    x, k, b = dense_args
    x = np.nan_to_num(x)
    grads = []
    for fused in (True, False):
        kv, bv = lamina.Variable(k), lamina.Variable(b)
        with lamina.GradientTape() as tape:
            y = (ops.dense(x, kv, bv, "relu") if fused
                 else ops.relu(ops.add(ops.matmul(x, kv), bv)))
            loss = ops.sum(ops.multiply(y, y))
        grads.append([_np(g) for g in tape.gradient(loss, [kv, bv])])
    _same_bits(grads[0][0], grads[1][0])
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-5)


def test_an_unknown_activation_name_is_refused(dense_args):
    x, k, b = dense_args
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: nope"):
        ops.dense(x, k, b, "nope")
    with pytest.raises(ValueError, match="Could not interpret activation function identifier"):
        ops.conv(np.zeros((1, 3, 3, 1), np.float32), np.zeros((1, 1, 1, 1), np.float32), activation="nope")


@pytest.mark.parametrize("activation", ["relu", "gelu", None, "user"])
def test_layers_pass_their_activation_to_the_op(activation):
    calls = []

    def user(t):  # a user's callable: applied by the layer to the op's linear result
        calls.append(1)
        return ops.multiply(t, 2.0)

    act = user if activation == "user" else activation
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 6, 2)).astype(np.float32)
    conv = layers.Conv2D(5, 3, activation=act)
    dense = layers.Dense(3, activation=act)
    y_conv, y_dense = conv(x), dense(x.reshape(4, -1))
    fn = activations.get(act)
    _same_bits(y_conv, fn(ops.conv(x, conv.kernel.value, bias=conv.bias.value)))
    _same_bits(y_dense, fn(ops.dense(x.reshape(4, -1), dense.kernel.value, dense.bias.value)))
    assert len(calls) == (4 if activation == "user" else 0)
