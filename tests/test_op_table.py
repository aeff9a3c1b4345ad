"""The unary op table (cpp/include/lamina/unary_ops.def): what follows from it in Python.

lamina.ops exports each row under its C++ name with Keras's signature; keras.activations' by-name
table is the C++ Activation list; the dtype rules of the rows hold. The values and gradients of
each op are checked by tests/test_ops.py's CASES (a row per op, enforced there)."""
import inspect

import numpy as np
import pytest

import lamina
from lamina import _core, activations, ops

TABLE = dict(_core.unary_ops)


def test_every_row_is_exported_under_its_cpp_name():
    assert {"relu", "gelu", "exp", "sign", "leaky_relu"} <= set(TABLE)
    for name, params in TABLE.items():
        fn = getattr(ops, name)
        assert name in ops.__all__ and fn.__name__ == name
        sig = inspect.signature(fn)
        assert list(sig.parameters) == ["x"] + [p for p, _ in params]
        assert [sig.parameters[p].default for p, _ in params] == [d for _, d in params]


def test_signatures_and_defaults_are_keras():
    keras = pytest.importorskip("keras")
    for name in TABLE:
        theirs = inspect.signature(getattr(keras.ops, name)).parameters
        ours = inspect.signature(getattr(ops, name)).parameters
        assert list(ours) == list(theirs), name
        assert [p.default for p in ours.values()] == [p.default for p in theirs.values()], name
    assert inspect.signature(ops.gelu).parameters["approximate"].default is True
    assert inspect.signature(ops.leaky_relu).parameters["negative_slope"].default == 0.2


def test_keras_aliases():
    assert ops.absolute is ops.abs and ops.swish is ops.silu
    x = np.array([-1.5, 0.0, 2.0], np.float32)
    np.testing.assert_array_equal(np.asarray(ops.gelu(x, False)), np.asarray(ops.gelu(x, approximate=False)))
    np.testing.assert_array_equal(np.asarray(ops.elu(x, 0.5)), np.asarray(ops.elu(x, alpha=0.5)))


def test_dtype_rules():
    i32 = np.array([-3, 0, 5], np.int32)
    i64 = np.array([-3, 0, 2 ** 40], np.int64)
    b = np.array([True, False])
    # Float rows cast ints and bools
    for name in ("exp", "log", "sqrt", "sigmoid", "tanh", "silu", "gelu", "elu", "selu", "leaky_relu", "softplus"):
        assert getattr(ops, name)(i32).dtype == "float32", name
        assert getattr(ops, name)(b).dtype == "float32", name
    # relu keeps ints (exactly: 2**40 is not a float32 integer step away from its neighbours)
    assert ops.relu(i64).dtype == "int64"
    np.testing.assert_array_equal(np.asarray(ops.relu(i64)), [0, 0, 2 ** 40 ])
    assert ops.relu(b).dtype == "float32"
    # negative, abs, sign, square keep the dtype; square of bool is int32; negative of bool throws
    assert ops.negative(i32).dtype == "int32" and ops.abs(b).dtype == "bool" and ops.sign(i64).dtype == "int64"
    assert ops.square(b).dtype == "int32"
    np.testing.assert_array_equal(np.asarray(ops.square(i32)), [9, 0, 25])
    with pytest.raises(TypeError, match=r"\[negative\] not defined for bool"):
        ops.negative(b)
    # integers wrap as in NumPy
    imin = np.array([np.iinfo(np.int32).min], np.int32)
    np.testing.assert_array_equal(np.asarray(ops.negative(imin)), imin)
    np.testing.assert_array_equal(np.asarray(ops.abs(imin)), imin)


def test_activation_names_come_from_the_cpp_table():
    names = _core.activation_names()
    assert names[:2] == ["linear", "relu"] and "swish" in names
    assert list(activations._BY_NAME) == names
    for name in names:
        assert activations.get(name) is getattr(activations, name)
    assert activations.serialize(activations.swish) == "silu"


@pytest.mark.parametrize("name", _core.activation_names())
def test_cpp_activation_by_name_is_keras_activations(name):
    """ops::activation(x, a), what the C++ layers apply, is bit for bit keras.activations.<name>
    with its defaults (gelu exact, elu alpha 1, leaky_relu slope 0.2, softmax on the last axis)."""
    x = np.linspace(-4, 4, 24, dtype=np.float32).reshape(2, 3, 4)
    ours = np.asarray(_core.activation(ops.convert_to_tensor(x), name))
    theirs = np.asarray(activations.get(name)(x))
    np.testing.assert_array_equal(ours.view(np.int32), theirs.view(np.int32))


def test_unknown_activation_name():
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: nope"):
        _core.activation(ops.zeros((2,)), "nope")


def test_table_ops_record_gradients_through_the_wrapper():
    v = lamina.Variable(np.array([-1.0, 0.5, 2.0], np.float32))
    with lamina.GradientTape() as tape:
        loss = ops.sum(ops.leaky_relu(v, negative_slope=0.1))
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, v)), [0.1, 1.0, 1.0], rtol=1e-6)
