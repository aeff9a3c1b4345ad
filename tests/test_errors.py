"""Bad input raises ValueError / TypeError / IndexError (never a crash), and the message names the op
and the shapes involved."""
import numpy as np
import pytest

import lamina
from lamina import ops

X23 = np.arange(6, dtype=np.float32).reshape(2, 3)


def _raises(exc, fn, *needles):
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    return msg


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "power", "maximum",
                                "minimum", "equal", "less", "greater_equal", "logical_and"])
def test_broadcast_mismatch(op):
    fn = getattr(ops, op)
    _raises(ValueError, lambda: fn(X23, np.ones(4, np.float32)), f"[{op}]", "(2, 3)", "(4,)")
    _raises(ValueError, lambda: fn(np.ones((2, 1, 3)), np.ones((4, 2))), f"[{op}]", "(2, 1, 3)", "(4, 2)")


def test_broadcast_mismatch_operators():
    t = ops.convert_to_tensor(X23)
    _raises(ValueError, lambda: t + np.ones(2), "[add]", "(2, 3)", "(2,)")
    _raises(ValueError, lambda: t * ops.ones((3, 2)), "[multiply]", "(2, 3)", "(3, 2)")


def test_where_broadcast_mismatch():
    _raises(ValueError, lambda: ops.where(np.array([True, False]), X23, 0.0), "[where]", "(2,)", "(2, 3)")


def test_matmul_inner_dim_mismatch():
    _raises(ValueError, lambda: ops.matmul(X23, np.ones((4, 5))), "[matmul]", "(2, 3)", "(4, 5)")
    _raises(ValueError, lambda: ops.matmul(np.ones(4), np.ones(3)), "[matmul]", "(4,)", "(3,)")
    _raises(ValueError, lambda: ops.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4))), "[matmul]",
            "(2, 2, 3)", "(3, 3, 4)")
    t = ops.convert_to_tensor(X23)
    _raises(ValueError, lambda: t @ t, "[matmul]", "(2, 3)")


def test_matmul_zero_d_operand():
    _raises(ValueError, lambda: ops.matmul(X23, 2.0), "[matmul]", "(2, 3)", "()")
    _raises(ValueError, lambda: ops.matmul(ops.convert_to_tensor(2.0), X23), "[matmul]", "()")


def test_reshape_wrong_size():
    _raises(ValueError, lambda: ops.reshape(X23, (4, 2)), "[reshape]", "(2, 3)", "(4, 2)")
    _raises(ValueError, lambda: ops.reshape(X23, (4, -1)), "[reshape]", "(2, 3)", "(4, -1)")
    _raises(ValueError, lambda: ops.reshape(X23, (-1, -1)), "[reshape]")
    _raises(ValueError, lambda: ops.reshape(X23, (3, -2)), "[reshape]")


@pytest.mark.parametrize("fn,name", [
    (lambda: ops.sum(X23, axis=2), "sum"),
    (lambda: ops.sum(X23, axis=(0, -3)), "sum"),
    (lambda: ops.mean(X23, axis=5), "mean"),
    (lambda: ops.max(X23, axis=-3), "max"),
    (lambda: ops.min(X23, axis=2), "min"),
    (lambda: ops.softmax(X23, axis=2), "softmax"),
    (lambda: ops.log_softmax(X23, axis=-3), "log_softmax"),
    (lambda: ops.concatenate([X23, X23], axis=2), "concatenate"),
    (lambda: ops.argmax(X23, axis=2), "argmax"),
    (lambda: ops.argmin(X23, axis=-3), "argmin"),
    (lambda: ops.take(X23, np.array([0]), axis=2), "take"),
    (lambda: ops.expand_dims(X23, 3), "expand_dims"),
    (lambda: ops.squeeze(np.ones((1, 3)), axis=2), "squeeze"),
    (lambda: ops.stack([X23, X23], axis=3), "stack"),
    (lambda: ops.stack([X23, X23], axis=-4), "stack"),
])
def test_axis_out_of_range(fn, name):
    _raises(IndexError, fn, f"[{name}]", "(2, 3)" if name not in ("squeeze",) else "(1, 3)")


def test_repeated_reduction_axis():
    _raises(ValueError, lambda: ops.sum(X23, axis=(1, -1)), "[sum]")


def test_transpose_bad_perm():
    _raises(ValueError, lambda: ops.transpose(X23, (0, 0)), "[transpose]")
    _raises(ValueError, lambda: ops.transpose(X23, (1, 0, 2)), "[transpose]", "(2, 3)")
    _raises(ValueError, lambda: ops.transpose(X23, (0,)), "[transpose]", "(2, 3)")
    _raises(IndexError, lambda: ops.transpose(X23, (0, 2)), "[transpose]", "(2, 3)")


def test_concatenate_mismatched_shapes():
    _raises(ValueError, lambda: ops.concatenate([X23, np.ones((3, 3))], axis=1), "[concatenate]",
            "(2, 3)", "(3, 3)")
    _raises(ValueError, lambda: ops.concatenate([X23, np.ones(3)]), "[concatenate]", "(2, 3)", "(3,)")
    _raises(ValueError, lambda: ops.concatenate([]), "[concatenate]")
    _raises(ValueError, lambda: ops.concatenate([np.float32(1.0), np.float32(2.0)]), "[concatenate]")
    _raises(ValueError, lambda: ops.stack([X23, np.ones((3, 2))]), "[stack]", "(2, 3)", "(3, 2)")
    _raises(ValueError, lambda: ops.stack([]), "[stack]")


def test_broadcast_to_bad_shape():
    _raises(ValueError, lambda: ops.broadcast_to(X23, (3, 3)), "[broadcast_to]", "(2, 3)", "(3, 3)")
    _raises(ValueError, lambda: ops.broadcast_to(X23, (3,)), "[broadcast_to]", "(2, 3)", "(3,)")


def test_squeeze_non_unit_axis():
    _raises(ValueError, lambda: ops.squeeze(X23, axis=0), "[squeeze]", "(2, 3)")


def test_take_out_of_range():
    _raises(IndexError, lambda: ops.take(X23, np.array([0, 3]), axis=1), "[take]", "3")
    _raises(IndexError, lambda: ops.take(X23, np.array([-4]), axis=1), "[take]", "-4")
    _raises(IndexError, lambda: ops.take(X23, np.array([6])), "[take]")
    _raises(TypeError, lambda: ops.take(X23, np.array([0.0, 1.0])), "[take]", "float32")


def test_indexing_errors():
    t = ops.convert_to_tensor(X23)
    _raises(IndexError, lambda: t[2], "2", "axis 0", "size 2", "(2, 3)")
    _raises(IndexError, lambda: t[-3], "-3")
    _raises(IndexError, lambda: t[0, 3], "axis 1", "size 3")
    _raises(IndexError, lambda: t[[0, 2]], "2")
    _raises(IndexError, lambda: t[:, [5]], "5")
    _raises(IndexError, lambda: t[0, 1, 2], "too many indices", "2-dimensional", "(2, 3)")
    _raises(IndexError, lambda: t[[0.5, 1.0]], "integer")
    _raises(IndexError, lambda: t[np.array([True, False])], "boolean")
    _raises(IndexError, lambda: t[[0], [1]], "one integer-array")
    _raises(IndexError, lambda: t[..., 0, ...], "ellipsis")
    _raises(IndexError, lambda: t["a"])
    _raises(IndexError, lambda: t[1.5])
    _raises(IndexError, lambda: ops.convert_to_tensor(3.0)[0], "too many indices")
    with pytest.raises(ValueError):
        t[::0]


def test_unsupported_dtypes():
    for bad in (np.array([1 + 2j]), np.array(["a"]), np.array([object()], dtype=object), "text", 1j):
        with pytest.raises(TypeError):
            ops.add(bad, 1.0)
    with pytest.raises(TypeError):
        ops.cast(X23, "complex64")
    with pytest.raises(TypeError):
        ops.ones((2,), dtype="str")
    with pytest.raises(TypeError):
        lamina.Variable(np.array([1 + 1j]))


def test_int_inputs_to_float_only_ops():
    i = np.array([1, 2], np.int32)
    # activations promote ints to float32, as Keras does; relu keeps ints as Keras 3 does
    # (keras.ops.relu of int32 is int32 with the torch, TensorFlow and JAX backends)
    assert ops.relu(i).dtype == "int32"
    assert ops.softmax(i).dtype == "float32"
    with pytest.raises(TypeError):
        ops.negative(np.array([True]))


def test_sparse_xent_label_out_of_range():
    logits = np.zeros((2, 3), np.float32)
    for from_logits in (True, False):
        probs = logits if from_logits else np.full((2, 3), 1 / 3, np.float32)
        _raises(IndexError, lambda: ops.sparse_categorical_crossentropy(np.array([0, 3]), probs, from_logits=from_logits),
                "3", "[0, 3)")
        _raises(IndexError, lambda: ops.sparse_categorical_crossentropy(np.array([-1, 0]), probs, from_logits=from_logits),
                "-1")


def test_sparse_xent_label_shape_mismatch():
    _raises(ValueError, lambda: ops.sparse_categorical_crossentropy(np.array([0, 1, 2]), X23, from_logits=True),
            "(3,)", "(2, 3)")


def test_sparse_xent_float_labels():
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]], np.float32)
    ref = np.asarray(ops.sparse_categorical_crossentropy(np.array([1, 2]), logits, from_logits=True))
    # whole-number float labels are class indices (Keras casts them)
    got = ops.sparse_categorical_crossentropy(np.array([1.0, 2.0], np.float32), logits, from_logits=True)
    np.testing.assert_allclose(np.asarray(got), ref)
    # fractional labels are a mistake, not something to truncate silently
    for from_logits in (True, False):
        _raises(ValueError, lambda: ops.sparse_categorical_crossentropy(
            np.array([0.5, 1.0], np.float32), np.abs(logits), from_logits=from_logits), "0.5")
        _raises(ValueError, lambda: ops.sparse_categorical_crossentropy(
            np.array([np.nan, 1.0], np.float32), np.abs(logits), from_logits=from_logits), "nan")


def test_clip_min_greater_than_max():
    _raises(ValueError, lambda: ops.clip(X23, 2.0, 1.0), "[clip]")
    _raises(ValueError, lambda: ops.clip(np.array([1, 2], np.int32), 3, 1), "[clip]")


def test_watch_int_tensor():
    with lamina.GradientTape() as tape:
        with pytest.raises(TypeError, match="float32"):
            tape.watch(ops.convert_to_tensor(np.array([1, 2], np.int32)))
        with pytest.raises(TypeError):
            tape.watch(ops.convert_to_tensor(np.array([True])))
        with pytest.raises(TypeError):
            tape.watch(np.ones(3))  # a NumPy array is not a tensor


def test_gradient_output_gradients_shape_mismatch():
    x = ops.convert_to_tensor([1.0, 2.0])
    with lamina.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    _raises(ValueError, lambda: tape.gradient(y, x, output_gradients=np.ones(3)), "(3,)", "(2,)")


def test_creation_errors():
    _raises(ValueError, lambda: ops.zeros((2, -3)), "(2, -3)")
    _raises(ValueError, lambda: ops.arange(0, 3, 0), "[arange]")
    _raises(ValueError, lambda: lamina.random.uniform((2,), minval=1.0, maxval=0.0), "maxval")
    _raises(ValueError, lambda: lamina.random.normal((2,), stddev=-1.0), "stddev")
    _raises(ValueError, lambda: lamina.random.normal((2,), seed=-5), "seed")
    with pytest.raises(TypeError):
        ops.zeros("abc")
    with pytest.raises(TypeError):
        ops.zeros((2.5, 2))
    with pytest.raises(TypeError):
        ops.sum(X23, axis=0.5)
    _raises(ValueError, lambda: ops.expand_dims(X23, (1, 1)), "[expand_dims]", "(2, 3)")


def test_huge_shapes_raise_instead_of_overflowing():
    # 2**33 * 2**31 wraps to 0 in int64: without a check, a huge shape would view an empty buffer.
    _raises(ValueError, lambda: ops.zeros((2 ** 33, 2 ** 31)), "(8589934592, 2147483648)")
    _raises(ValueError, lambda: ops.reshape(ops.zeros((0,)), (2 ** 33, 2 ** 31)), "(8589934592, 2147483648)")
    _raises(ValueError, lambda: ops.broadcast_to(1.0, (2 ** 40, 2 ** 40)), "(1099511627776, 1099511627776)")
    _raises(ValueError, lambda: ops.ones((2 ** 61,)), "too many elements")
    assert ops.zeros((2 ** 20, 2 ** 20, 0)).shape == (2 ** 20, 2 ** 20, 0)
    # As NumPy, the non-zero dimensions of an empty shape must still have a representable product
    # (kernels multiply subsets of them: outer / inner sizes).
    _raises(ValueError, lambda: ops.zeros((2 ** 40, 2 ** 40, 0)), "(1099511627776, 1099511627776, 0)")


def test_empty_reductions():
    empty = np.zeros((0, 3), np.float32)
    assert float(ops.sum(empty)) == 0.0
    assert ops.sum(empty, axis=0).shape == (3,)
    _raises(ValueError, lambda: ops.max(empty, axis=0), "[max]", "(0, 3)")
    _raises(ValueError, lambda: ops.min(empty), "[min]", "(0, 3)")
    _raises(ValueError, lambda: ops.argmax(empty, axis=0), "[argmax]", "(0, 3)")
    assert ops.max(empty, axis=1).shape == (0,)


def test_slice_errors():
    _raises(ValueError, lambda: ops.slice(X23, (0,), (1,)), "slice", "(2, 3)")
    _raises(ValueError, lambda: ops.slice(X23, (1, 0), (2, 3)), "slice", "(2, 3)")
    _raises(ValueError, lambda: ops.slice(X23, (-1, 0), (1, 3)), "slice")


def test_errors_inside_tape_leave_it_usable():
    x = ops.convert_to_tensor([1.0, 2.0])
    with lamina.GradientTape() as tape:
        tape.watch(x)
        with pytest.raises(ValueError):
            ops.add(x, np.ones(3))
        y = ops.sum(x * x)
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x)), [2.0, 4.0])
    # an exception escaping the tape's block ends recording
    with pytest.raises(ValueError):
        with lamina.GradientTape():
            ops.add(x, np.ones(3))
    assert not lamina._core.is_recording()


def test_conv_with_a_dilated_window_past_int64_is_a_value_error():
    # (kh - 1) * dilation overflowed: "valid" reported a negative dimension, "same" returned a shape
    x = np.ones((1, 5, 5, 2), np.float32)
    k = np.ones((3, 3, 2, 4), np.float32)
    for padding in ("valid", "same"):
        _raises(ValueError, lambda: ops.conv(x, k, dilation_rate=2**62, padding=padding), "[conv]",
                "dilation 4611686018427387904", "(1, 5, 5, 2)")
    # a large dilation that fits still works: "same" keeps the shape, only the centre tap is inside
    y = ops.conv(x, k, dilation_rate=2**40, padding="same")
    np.testing.assert_array_equal(np.asarray(y), np.full((1, 5, 5, 4), 2.0, np.float32))


def test_max_pool_gradient_on_an_image_past_int32_positions_is_a_value_error():
    # the backward's argmax keeps positions as int32: an image of more than 2**31 - 1 positions would
    # wrap them. A 0-channel image has the geometry without the memory.
    x = ops.convert_to_tensor(np.zeros((1, 2 ** 16, 2 ** 16, 0), np.float32))
    assert ops.max_pool(x, 2).shape == (1, 2 ** 15, 2 ** 15, 0)  # inference keeps no argmax
    with lamina.GradientTape() as tape:
        tape.watch(x)
        _raises(ValueError, lambda: ops.max_pool(x, 2), "[max_pool]", "2**31 - 1", "(1, 65536, 65536, 0)")
