"""The Tensor and Variable Python API: conversions, operators, NumPy interop, runtime settings."""
import os

import numpy as np
import pytest

import lamina
from lamina import ops
from lamina.backend import convert_to_tensor


@pytest.fixture
def t():
    return ops.convert_to_tensor(np.arange(6, dtype=np.float32).reshape(2, 3))


A = np.arange(6, dtype=np.float32).reshape(2, 3)


# ---------------------------------------------------------------- attributes and conversions


def test_shape_dtype_ndim_size(t):
    assert t.shape == (2, 3) and isinstance(t.shape, tuple)
    assert all(type(d) is int for d in t.shape)
    assert t.dtype == "float32" and isinstance(t.dtype, str)
    assert t.ndim == 2 and t.size == 6
    s = ops.convert_to_tensor(3.0)
    assert s.shape == () and s.ndim == 0 and s.size == 1


def test_operators(t):
    b = np.array([1.0, -2.0, 4.0], np.float32)
    tb = ops.convert_to_tensor(b)
    cases = [
        (t + tb, A + b), (t - tb, A - b), (t * tb, A * b), (t / tb, A / b), (-t, -A),
        (t + 2, A + 2), (2 + t, 2 + A), (t - 1.5, A - 1.5), (1.5 - t, 1.5 - A),
        (t * 3, A * 3), (3 * t, 3 * A), (t / 4, A / 4), (4 / (t + 1), 4 / (A + 1)),
        (t ** 2, A ** 2), (2 ** t, 2 ** A),
        (t + b, A + b), (b + t, b + A), (b - t, b - A), (b * t, b * A), (b / (t + 1), b / (A + 1)),
        (t @ np.ones((3, 2), np.float32), A @ np.ones((3, 2))),
        (np.ones((4, 2), np.float32) @ t, np.ones((4, 2)) @ A),
        (t @ tb, A @ b), (abs(-t), A), (+t, A),
        (np.float32(2) * t, 2 * A), (np.float64(0.5) + t, 0.5 + A),
    ]
    for got, want in cases:
        assert isinstance(got, lamina.Tensor), type(got)
        assert got.dtype == "float32"
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_numpy_array_on_left_gives_tensor(t):
    out = np.ones(3, np.float32) + t
    assert isinstance(out, lamina.Tensor)
    out = np.ones((2, 3)) * t
    assert isinstance(out, lamina.Tensor)


def test_asarray_zero_copy_and_read_only(t):
    a1, a2 = np.asarray(t), np.asarray(t)
    assert np.shares_memory(a1, a2)
    assert a1.dtype == np.float32 and a1.shape == (2, 3)
    assert not a1.flags.writeable
    with pytest.raises(ValueError):
        a1[0, 0] = 5.0
    np.testing.assert_array_equal(a1, A)
    # numpy() is a private, writable copy
    n = t.numpy()
    assert not np.shares_memory(n, a1)
    n[0, 0] = 100.0
    assert float(t[0, 0]) == 0.0
    # dtype argument and copy=True
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    c = np.array(t, copy=True)
    assert not np.shares_memory(c, a1)


def test_asarray_keeps_storage_alive():
    arr = np.asarray(ops.add(np.ones(1000, np.float32), 1.0))
    ops.zeros((1000,))  # would reuse the freed buffer if the view did not keep it alive
    ops.ones((1000,))
    np.testing.assert_array_equal(arr, np.full(1000, 2.0))


def test_repr_shows_values(t):
    r = repr(t)
    assert "tensor(" in r and "shape=(2, 3)" in r and "dtype=float32" in r
    assert "5." in r and "[[0., 1., 2.]" in r
    assert str(ops.convert_to_tensor([1, 2])).count("1") >= 1
    assert "int32" in repr(ops.convert_to_tensor([1, 2]))


def test_len_iter_and_scalar_conversions(t):
    assert len(t) == 2
    rows = list(t)
    assert len(rows) == 2 and rows[1].shape == (3,)
    np.testing.assert_array_equal(np.asarray(rows[1]), A[1])
    assert float(t[1, 2]) == 5.0 and isinstance(float(t[1, 2]), float)
    assert int(t[1, 2]) == 5
    assert bool(t[0, 1]) is True and bool(t[0, 0]) is False
    assert int(ops.convert_to_tensor(7)) == 7
    s = ops.convert_to_tensor(2.5)
    with pytest.raises(TypeError):
        len(s)
    with pytest.raises(TypeError):
        iter(s).__next__()
    with pytest.raises(TypeError):
        float(t)
    with pytest.raises(ValueError):
        bool(t)
    # integer tensors work as Python indices
    assert [10, 20, 30][ops.convert_to_tensor(2)] == 30


def test_item(t):
    assert t[1, 1].item() == 4.0 and type(t[1, 1].item()) is float
    assert type(ops.convert_to_tensor(3).item()) is int
    assert ops.convert_to_tensor(True).item() is True
    assert ops.convert_to_tensor([[2.5]]).item() == 2.5
    with pytest.raises(ValueError):
        t.item()


def test_setitem_raises(t):
    with pytest.raises(TypeError, match="immutable"):
        t[0, 0] = 1.0
    with pytest.raises(TypeError):
        t[:, 1] = np.zeros(2)
    np.testing.assert_array_equal(np.asarray(t), A)


def test_convert_to_tensor_dtype_rules():
    assert convert_to_tensor(np.zeros(3, np.float64)).dtype == "float32"
    assert convert_to_tensor(np.zeros(3, np.float16)).dtype == "float32"
    assert convert_to_tensor(1.5).dtype == "float32"
    assert convert_to_tensor(np.float64(1.5)).dtype == "float32"
    assert convert_to_tensor(3).dtype == "int32"
    assert convert_to_tensor([1, 2, 3]).dtype == "int32"
    assert convert_to_tensor([1.0, 2]).dtype == "float32"
    assert convert_to_tensor(np.array([1, 2], np.int64)).dtype == "int64"
    assert convert_to_tensor(np.array([1, 2], np.int8)).dtype == "int32"
    assert convert_to_tensor(np.array([1, 2], np.uint8)).dtype == "int32"
    assert convert_to_tensor([2 ** 40]).dtype == "int64"  # does not fit int32
    assert convert_to_tensor(True).dtype == "bool"
    assert convert_to_tensor(np.array([True, False])).dtype == "bool"
    assert convert_to_tensor([True, False]).dtype == "bool"
    assert convert_to_tensor([1, 2], dtype="float32").dtype == "float32"
    assert convert_to_tensor(np.array([1.7, -1.7]), dtype="int32").numpy().tolist() == [1, -1]
    # non-contiguous inputs are copied correctly
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(convert_to_tensor(x.T)), x.T)
    np.testing.assert_array_equal(np.asarray(convert_to_tensor(x[:, ::2])), x[:, ::2])
    # the tensor owns a copy: changing the source later does not change it
    src = np.ones(3, np.float32)
    tt = convert_to_tensor(src)
    src[0] = 9.0
    assert float(tt[0]) == 1.0
    # tensors, Variables pass through
    same = convert_to_tensor(tt)
    assert same is tt
    v = lamina.Variable(np.ones(2, np.float32), name="v")
    np.testing.assert_array_equal(np.asarray(convert_to_tensor(v)), [1.0, 1.0])


@pytest.mark.parametrize("bad", [1 + 2j, np.array([1 + 1j]), "abc", b"xy", np.array(["a", "b"]),
                                 np.array([object()]), None, [1, "a"]])
def test_convert_to_tensor_rejects_unsupported(bad):
    with pytest.raises(TypeError):
        convert_to_tensor(bad)


def test_convert_ragged_list_is_value_error():
    with pytest.raises(ValueError):
        convert_to_tensor([[1, 2], [3]])


@pytest.mark.parametrize("dtype", ["complex64", np.complex128, "str", object, "float128x"])
def test_unsupported_dtype_names(dtype):
    with pytest.raises(TypeError):
        ops.zeros((2,), dtype=dtype)


# ---------------------------------------------------------------- Variable


def test_variable_basics():
    v = lamina.Variable(np.arange(12, dtype=np.float64).reshape(4, 3), name="kernel")
    assert v.shape == (4, 3) and v.dtype == "float32" and v.ndim == 2
    assert v.name == "kernel" and v.path == "kernel"
    assert v.trainable is True
    assert isinstance(v.value, lamina.Tensor)
    np.testing.assert_array_equal(np.asarray(v.value), np.arange(12).reshape(4, 3))
    assert repr(v) == "<Variable shape=(4, 3), dtype=float32, path=kernel>"
    np.testing.assert_array_equal(np.asarray(v), np.arange(12).reshape(4, 3))
    assert len(v) == 4
    np.testing.assert_array_equal(np.asarray(v[1]), [3, 4, 5])


def test_variable_auto_names_are_unique():
    a = lamina.Variable(1.0)
    b = lamina.Variable(1.0)
    assert a.name != b.name
    assert a.name.startswith("variable") and b.name.startswith("variable")


def test_variable_does_not_alias_its_initial_value():
    src = ops.convert_to_tensor(np.ones(3, np.float32))
    v = lamina.Variable(src)
    v.assign(np.zeros(3))
    np.testing.assert_array_equal(np.asarray(src), np.ones(3))


def test_variable_trainable_toggle():
    v = lamina.Variable(np.ones((2, 2), np.float32), name="w")
    v.trainable = False
    assert v.trainable is False
    with lamina.GradientTape() as tape:
        y = ops.sum(v * 2.0)
    assert tape.gradient(y, v) is None
    v.trainable = True
    with lamina.GradientTape() as tape:
        y = ops.sum(v * 2.0)
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, v)), np.full((2, 2), 2.0))
    assert lamina.Variable(np.ones(2), trainable=False).trainable is False


def test_variable_assign():
    v = lamina.Variable(np.zeros((4, 3), np.float32), name="k")
    view = v.value
    out = v.assign(np.ones((4, 3)))
    assert out is v
    np.testing.assert_array_equal(v.numpy(), np.ones((4, 3)))
    np.testing.assert_array_equal(np.asarray(view), np.ones((4, 3)))  # in place
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 4\)"):
        v.assign(np.ones((3, 4)))
    v.assign_add(np.full((4, 3), 2.0))
    np.testing.assert_array_equal(v.numpy(), np.full((4, 3), 3.0))
    v.assign_sub(ops.ones((4, 3)))
    np.testing.assert_array_equal(v.numpy(), np.full((4, 3), 2.0))
    v.assign(5.0 * ops.ones((4, 3)))
    assert float(ops.sum(v)) == 60.0
    with pytest.raises(ValueError):
        v.assign_add(np.ones(5))


def test_variable_assign_keeps_dtype():
    v = lamina.Variable(np.array([1, 2], np.int32), name="counter")
    assert v.dtype == "int32"
    v.assign_add(1)
    assert v.dtype == "int32"
    np.testing.assert_array_equal(v.numpy(), [2, 3])


def test_variable_assign_does_not_change_earlier_results():
    v = lamina.Variable(np.zeros((2, 2), np.float32), name="w")
    reshaped = ops.reshape(v, (4,))
    expanded = ops.expand_dims(v, 0)
    squeezed = ops.squeeze(ops.reshape(v, (1, 4)))
    arr = np.asarray(v.value)
    with lamina.GradientTape() as tape:
        y = ops.sum(ops.matmul(v, np.ones((2, 2), np.float32)))
    v.assign(np.ones((2, 2)))
    for r in (reshaped, expanded, squeezed, arr):
        np.testing.assert_array_equal(np.asarray(r).ravel(), np.zeros(4))
    np.testing.assert_array_equal(np.asarray(v.value), np.ones((2, 2)))  # value is the current value
    assert float(y) == 0.0
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, v)), np.full((2, 2), 2.0))
    v.assign_add(np.ones((2, 2)))
    np.testing.assert_array_equal(v.numpy(), np.full((2, 2), 2.0))
    v.assign(ops.reshape(v, (2, 2)) * 2.0)  # a value computed from the variable itself
    np.testing.assert_array_equal(v.numpy(), np.full((2, 2), 4.0))


def test_variable_numpy_is_a_copy():
    v = lamina.Variable(np.ones(3, np.float32))
    n = v.numpy()
    n[0] = 42.0
    assert v.numpy()[0] == 1.0
    n2 = v.numpy()
    v.assign(np.zeros(3))
    assert n2[0] == 1.0


def test_variable_operators():
    v = lamina.Variable(np.array([1.0, 2.0], np.float32))
    np.testing.assert_array_equal(np.asarray(v + 1), [2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(1 - v), [0.0, -1.0])
    np.testing.assert_array_equal(np.asarray(v * v), [1.0, 4.0])
    np.testing.assert_array_equal(np.asarray(-v), [-1.0, -2.0])
    np.testing.assert_array_equal(np.asarray(v @ np.ones(2, np.float32)), 3.0)
    assert float(v[1]) == 2.0


def test_variable_callable_initializer():
    v = lamina.Variable(lambda shape, dtype: ops.ones(shape, dtype=dtype), shape=(2, 5), name="init")
    assert v.shape == (2, 5)
    np.testing.assert_array_equal(v.numpy(), np.ones((2, 5)))
    with pytest.raises(ValueError):
        lamina.Variable(lambda shape, dtype: ops.ones(shape), name="noshape")
    with pytest.raises(ValueError):
        lamina.Variable(np.ones(3), shape=(4,))
    with pytest.raises(ValueError):
        lamina.Variable(np.ones(3), name="a/b")


# ---------------------------------------------------------------- runtime


def test_num_threads():
    n = lamina.get_num_threads()
    assert isinstance(n, int) and n >= 1
    try:
        lamina.set_num_threads(1)
        assert lamina.get_num_threads() == 1
        x = np.random.default_rng(0).normal(size=(300, 300)).astype(np.float32)
        one = np.asarray(ops.matmul(x, x))
        lamina.set_num_threads(2)
        assert lamina.get_num_threads() == 2
        np.testing.assert_allclose(np.asarray(ops.matmul(x, x)), one, rtol=1e-4, atol=1e-3)
    finally:
        lamina.set_num_threads(n)
    for bad in (0, -1, 1.5, "2", True, None):
        with pytest.raises(ValueError):
            lamina.set_num_threads(bad)
    assert lamina.get_num_threads() == n


def test_cmake_dir():
    d = lamina.cmake_dir()
    assert os.path.isdir(d)
    assert os.path.isfile(os.path.join(d, "laminaConfig.cmake"))


def test_version():
    assert isinstance(lamina.__version__, str) and lamina.__version__.count(".") == 2


def test_equality_operators_are_elementwise_and_tensors_stay_hashable():
    a = ops.convert_to_tensor(np.array([1.0, 2.0, 3.0], "float32"))
    eq = a == np.array([1.0, 0.0, 3.0], "float32")
    assert eq.dtype == "bool"
    np.testing.assert_array_equal(np.asarray(eq), [True, False, True])
    np.testing.assert_array_equal(np.asarray(a != 2.0), [True, False, True])
    assert (a == None) is False and (a != None) is True  # noqa: E711
    assert len({a, a}) == 1


def test_argmax_of_a_scalar_checks_the_axis():
    s = ops.convert_to_tensor(3.0)
    assert int(ops.argmax(s, axis=0)) == 0
    with pytest.raises(IndexError, match="argmax"):
        ops.argmax(s, axis=5)
