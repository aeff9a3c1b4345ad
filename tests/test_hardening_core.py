"""Hardening of the core (issue 12): long graphs, Dense with no input features, integer overflow,
the GradientTape's recorded values, arange / one_hot / bool arithmetic, and what Python values
convert to tensors. The reference for each behaviour is named in its test."""
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lamina as keras
from lamina import layers, ops


def _run_with_small_stack(code, stack_bytes=2 * 1024 * 1024, timeout=300):
    """Runs `code` in a fresh interpreter whose main-thread stack is limited to `stack_bytes`, so
    that a recursion proportional to a graph's length fails at a few ten thousand ops."""
    def limit():
        resource.setrlimit(resource.RLIMIT_STACK, (stack_bytes, stack_bytes))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit)


# ---------------------------------------------------------------- long graphs (issue 12, item 2)

LONG = 200_000  # the recursive teardown crashed at ~130,000 ops with an 8 MiB stack; here 2 MiB


def test_long_graph_is_freed_and_differentiated_without_recursion():
    r = _run_with_small_stack(f"""
        import lamina as keras
        x = keras.Variable(2.0)
        with keras.GradientTape(persistent=True) as tape:
            y = x
            for _ in range({LONG}):
                y = y * 1.0
        g = tape.gradient(y, x)
        assert float(g) == 1.0, float(g)
        del y, tape
        # a non-persistent tape frees the graph after gradient(), also iteratively
        with keras.GradientTape() as tape:
            y = x
            for _ in range({LONG}):
                y = y * 1.0
        assert float(tape.gradient(y, x)) == 1.0
        del y, tape
        print("ok")
    """)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


# ---------------------------------------------------------------- Dense with 0 input features (item 3)


def test_dense_with_no_input_features_gives_the_bias_on_each_row():
    # matmul of (n, 0) by (0, units) is zeros (NumPy); + bias gives the bias on every row.
    x = np.zeros((3, 0), np.float32)
    kernel = np.zeros((0, 2), np.float32)
    bias = np.array([1.5, -2.0], np.float32)
    for _ in range(3):  # a reused cache buffer holds old values: every call must overwrite it
        ops.dense(np.full((3, 2), 7.0, np.float32), np.eye(2, dtype=np.float32), None)
        np.testing.assert_array_equal(np.asarray(ops.dense(x, kernel, bias)), np.tile(bias, (3, 1)))
        np.testing.assert_array_equal(np.asarray(ops.dense(x, kernel, None)), np.zeros((3, 2)))
        np.testing.assert_array_equal(np.asarray(ops.dense(x, kernel, bias, "relu")), [[1.5, 0]] * 3)
    out = ops.dense(np.zeros((2, 4, 0), np.float32), kernel, bias)
    np.testing.assert_array_equal(np.asarray(out), np.broadcast_to(bias, (2, 4, 2)))


def test_dense_layer_with_no_input_features_and_its_gradients():
    layer = layers.Dense(3, bias_initializer="ones")
    x = np.zeros((4, 0), np.float32)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.ones((4, 3)))
    with keras.GradientTape() as tape:
        loss = ops.sum(ops.multiply(layer(x), np.arange(3, dtype=np.float32)))
    dk, db = tape.gradient(loss, [layer.kernel, layer.bias])
    assert dk.shape == (0, 3)
    np.testing.assert_array_equal(np.asarray(db), [0.0, 4.0, 8.0])  # 4 rows times the weights


# ---------------------------------------------------------------- undefined behaviour (item 9)


def test_bool_fill():
    np.testing.assert_array_equal(np.asarray(ops.ones((5,), "bool")), [True] * 5)
    np.testing.assert_array_equal(np.asarray(ops.full((2,), 0, "bool")), [False, False])


def test_shape_products_that_overflow_raise_valueerror_naming_the_shape():
    with pytest.raises(ValueError, match=r"\[reshape\].*\(4294967296, 4294967296, 4\)"):
        ops.reshape(ops.zeros((4,)), (2 ** 32, 2 ** 32, 4))
    with pytest.raises(ValueError, match=r"\[reshape\].*\(-1, 4294967296, 4294967296\)"):
        ops.reshape(ops.zeros((4,)), (-1, 2 ** 32, 2 ** 32))
    # an empty shape's other dimensions must still have a representable product (NumPy)
    with pytest.raises(ValueError, match=r"\(0, 4294967296, 4294967296\)"):
        ops.reshape(ops.zeros((0,)), (0, 2 ** 32, 2 ** 32))
    # broadcasting two valid empty shapes into one whose product overflows
    a = ops.zeros((0, 2 ** 40, 1))
    with pytest.raises(ValueError, match=r"\(0, 1099511627776, 1099511627776\)"):
        ops.add(a, ops.zeros((0, 1, 2 ** 40)))


@pytest.mark.parametrize("make", [ops.zeros, ops.ones, lambda s: ops.full(s, 1.0),
                                  lambda s: keras.random.uniform(s), lambda s: keras.random.normal(s)])
def test_creation_with_dimensions_beyond_int64_is_valueerror(make):
    # Was pybind11's "incompatible function arguments" (a TypeError listing signatures).
    with pytest.raises(ValueError, match=r"9223372036854775808.*\(9223372036854775808,\)"):
        make((2 ** 63,))
    with pytest.raises(ValueError, match=r"\(3, -36893488147419103232\)"):
        make((3, -(2 ** 65)))
    with pytest.raises(ValueError, match=r"[Nn]egative dimension.*\(2, -1\)"):
        make((2, -1))


def test_int_sum_wraps_like_keras():
    # Keras 3 (every backend): sum of int32 is int32, wrapping around; NumPy's int64 sum cast to
    # int32 gives the same number.
    x = np.array([2 ** 31 - 1, 1, 5], np.int32)
    s = ops.sum(x)
    assert s.dtype == "int32"
    assert int(s) == int(np.sum(x, dtype=np.int64).astype(np.int32)) == -(2 ** 31) + 5
    x64 = np.array([2 ** 63 - 1, 2], np.int64)
    assert int(ops.sum(x64)) == int(np.sum(x64))  # NumPy's int64 sum wraps too
    rows = np.array([[2 ** 31 - 1, 1], [3, 4]], np.int32)
    np.testing.assert_array_equal(np.asarray(ops.sum(rows, axis=1)), np.sum(rows, axis=1).astype(np.int32))


def test_abs_and_negative_of_int_min_wrap_like_numpy():
    x = np.array([-(2 ** 31), -3, 4], np.int32)
    np.testing.assert_array_equal(np.asarray(ops.abs(x)), np.abs(x))  # [-2**31, 3, 4]
    np.testing.assert_array_equal(np.asarray(ops.negative(x)), np.negative(x))
    x64 = np.array([-(2 ** 63), -1], np.int64)
    np.testing.assert_array_equal(np.asarray(ops.abs(x64)), np.abs(x64))
    # NumPy: abs(-0.0) is +0.0
    assert np.signbit(np.asarray(ops.abs(np.array([-0.0], np.float32))))[0] == np.False_


def test_int_add_subtract_multiply_wrap_like_numpy():
    a = np.array([2 ** 31 - 1, -(2 ** 31), 65536], np.int32)
    b = np.array([1, -1, 65536], np.int32)
    for op, ref in [(ops.add, np.add), (ops.subtract, np.subtract), (ops.multiply, np.multiply)]:
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(np.asarray(op(a, b)), ref(a, b))


# ---------------------------------------------------------------- wrong results (item 6)


def test_tape_uses_the_value_at_recording_time():
    # TensorFlow: the tape keeps the value a variable had when the op was recorded.
    w = keras.Variable(np.array([2.0, 3.0], np.float32))
    x = ops.convert_to_tensor(np.array([5.0, 7.0], np.float32))
    with keras.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = ops.sum(w * x)
    w.assign(np.array([10.0, 20.0], np.float32))
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, x)), [2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, w)), [5.0, 7.0])
    np.testing.assert_array_equal(np.asarray(w), [10.0, 20.0])


def test_tape_keeps_the_recorded_value_of_a_layer_weight_and_of_a_non_trainable_variable():
    layer = layers.Dense(1, use_bias=False, kernel_initializer="ones")
    c = keras.Variable(np.float32(3.0), trainable=False)
    x = ops.convert_to_tensor(np.array([[1.0, 2.0]], np.float32))
    with keras.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(layer(x) * c)
    layer.kernel.assign(np.full((2, 1), 5.0, np.float32))
    c.assign(100.0)
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, x)), [[3.0, 3.0]])


def _storage_address(variable):
    return variable._lamina_tensor._numpy_view().__array_interface__["data"][0]


def test_optimizer_updates_in_place_after_a_used_tape():
    # The usual custom loop keeps `loss` alive during the update: once the non-persistent tape has
    # given its gradients the graph is freed, so the weights are updated in place, not copied.
    w = keras.Variable(np.ones((4, 4), np.float32))
    opt = keras.optimizers.SGD(0.5)
    x = np.ones((2, 4), np.float32)
    with keras.GradientTape() as tape:
        loss = ops.sum(ops.matmul(x, w))
    before = _storage_address(w)
    grads = tape.gradient(loss, [w])
    opt.apply_gradients(zip(grads, [w]))
    assert _storage_address(w) == before
    np.testing.assert_allclose(np.asarray(w), 0.0)
    assert float(loss) == 32.0
    # a persistent tape can still differentiate: the update copies (copy-on-write) instead
    with keras.GradientTape(persistent=True) as tape:
        loss = ops.sum(ops.matmul(x, w * w))
    g1 = tape.gradient(loss, [w])
    before = _storage_address(w)
    w.assign(np.full((4, 4), 3.0, np.float32))
    assert _storage_address(w) != before
    np.testing.assert_array_equal(np.asarray(tape.gradient(loss, [w])[0]), np.asarray(g1[0]))


def test_nested_tapes_both_get_gradients():
    w = keras.Variable(np.float32(3.0))
    with keras.GradientTape() as outer:
        with keras.GradientTape() as inner:
            y = w * w
        assert float(inner.gradient(y, w)) == 6.0
    assert float(outer.gradient(y, w)) == 6.0


def test_arange_with_nan_or_inf_raises_like_numpy():
    with pytest.raises(ValueError, match="cannot compute length"):
        ops.arange(0, float("nan"))
    with pytest.raises(ValueError, match="cannot compute length"):
        ops.arange(0, 5, float("nan"))
    with pytest.raises(ValueError, match="maximum allowed size"):
        ops.arange(0, float("inf"))
    assert ops.arange(5, 0).shape == (0,)


def test_one_hot_with_negative_classes_raises():
    with pytest.raises(ValueError, match="num_classes.*-3"):
        ops.one_hot(np.array([0, 1]), -3)
    with pytest.raises(ValueError, match="axis 3"):
        ops.one_hot(np.array([0, 1]), 3, axis=3)
    assert ops.one_hot(np.array([0, 1]), 3, axis=-2).shape == (3, 2)


def test_bool_arithmetic_follows_keras():
    # keras.ops.add / multiply of two bools: bool (logical or / and; result_type(bool, bool) is
    # bool); subtract of two bools is an error in NumPy and torch, so in Keras too.
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    s = ops.add(a, b)
    assert s.dtype == "bool"
    np.testing.assert_array_equal(np.asarray(s), a | b)
    m = ops.multiply(a, b)
    assert m.dtype == "bool"
    np.testing.assert_array_equal(np.asarray(m), a & b)
    with pytest.raises(TypeError, match="subtract.*bool"):
        ops.subtract(a, b)
    assert ops.add(a, np.array([1, 2, 3, 4], np.int32)).dtype == "int32"
    sq = ops.square(a)  # Keras: square of bool is int32
    assert sq.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(sq), [1, 1, 0, 0])


def test_uint64_beyond_int64_raises_instead_of_wrapping():
    with pytest.raises(ValueError, match="9223372036854775808"):
        ops.convert_to_tensor(np.array([1, 2 ** 63], np.uint64))
    with pytest.raises(ValueError, match="9223372036854775808"):
        ops.convert_to_tensor([2 ** 63])
    with pytest.raises(ValueError, match="9223372036854775808"):
        ops.convert_to_tensor(np.uint64(2 ** 63))
    t = ops.convert_to_tensor(np.array([2 ** 63 - 1], np.uint64))
    assert t.dtype == "int64" and int(t[0]) == 2 ** 63 - 1
    # a float target needs no integer range
    assert float(ops.convert_to_tensor(np.array([2 ** 63], np.uint64), "float32")[0]) == 2.0 ** 63


def test_python_ints_convert_exactly_or_raise():
    assert ops.convert_to_tensor(7).dtype == "int32"
    big = ops.convert_to_tensor(2 ** 40 + 1)  # as a list of such ints: int64, exact
    assert big.dtype == "int64" and int(big) == 2 ** 40 + 1
    assert int(ops.convert_to_tensor(2 ** 62 + 1)) == 2 ** 62 + 1
    with pytest.raises(ValueError, match="int32"):
        ops.convert_to_tensor(2 ** 40, "int32")
    with pytest.raises(ValueError):
        ops.full((2,), float("nan"), "int32")


def test_object_arrays_raise_typeerror_saying_how_to_convert():
    with pytest.raises(TypeError, match=r"np\.asarray\(x, dtype='float32'\)"):
        ops.convert_to_tensor(np.array([1, "a"], dtype=object))
    with pytest.raises(TypeError, match="object"):
        ops.add(np.array([1.0, 2.0], dtype=object), 1.0)


def test_float_to_int_cast_of_unrepresentable_values_matches_numpy():
    # NumPy on x86-64: NaN, infinities and out-of-range values become the integer's minimum. The
    # conversion was undefined behaviour in C++ (caught by -fsanitize=float-cast-overflow, which
    # -fsanitize=undefined does not include); it is now defined and gives the same numbers.
    a = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.7, -2.7, 2147483520.0, -(2.0 ** 31)], np.float32)
    with np.errstate(invalid="ignore"):
        for dtype in ("int32", "int64"):
            np.testing.assert_array_equal(np.asarray(ops.cast(a, dtype)), a.astype(dtype))


def test_int_clip_with_bounds_beyond_the_integer_range():
    # Keras 3.15 (torch backend): float bounds on an int32 x give a float32 result, as
    # np.clip(x, -inf, 2) computed in float. The bounds were converted to the integer type directly
    # (undefined behaviour for +-inf or 1e30).
    x = np.array([-(2 ** 31), 2, 2 ** 31 - 1], np.int32)
    for lo, hi in [(-np.inf, 2), (0, np.inf), (-1e30, 1e30)]:
        got = ops.clip(x, lo, hi)
        assert got.dtype == "float32"
        np.testing.assert_array_equal(np.asarray(got), np.clip(x.astype(np.float64), lo, hi).astype(np.float32))
    # integer bounds keep the integer dtype (Keras: int32)
    got = ops.clip(x, 0, 2)
    assert got.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(got), [0, 2, 2])
