"""`Sequential` as a Keras user sees it: building from a list or with add(), Input, pop, build and
summary, calling on data, nesting and freezing. Every expectation here was checked against real
Keras 3.15.1 (torch backend, COLUMNS=80 for the tables); the one deliberate difference (weights and
summary of an unbuilt model raise, as the guide says) is marked.
"""
import re

import numpy as np
import pytest

import lamina as keras
from lamina import layers, ops


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _summary(model, **kwargs):
    out = []
    model.summary(print_fn=lambda text, line_break=None: out.append(text), **kwargs)
    return "".join(out)


@pytest.fixture
def columns80(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


# ====================================================================== building the stack

def test_from_a_list_or_with_add_gives_the_same_stack():
    a = keras.Sequential([layers.Dense(2, activation="relu", name="l_a"), layers.Dense(3, name="l_b")],
                         name="from_list")
    b = keras.Sequential(name="with_add")
    b.add(layers.Dense(2, activation="relu", name="a_a"))
    b.add(layers.Dense(3, name="a_b"))
    for model in (a, b):
        assert not model.built
        assert len(model.layers) == 2 and all(not l.built for l in model.layers)
        y = model(np.ones((1, 4), "float32"))
        assert tuple(y.shape) == (1, 3)
        assert model.built and all(l.built for l in model.layers)
        assert len(model.weights) == 4 and model.count_params() == 10 + 9
    assert [l.name for l in a.layers] == ["l_a", "l_b"]
    assert repr(a) == "<Sequential name=from_list, built=True>"
    assert repr(keras.Sequential(name="empty_r")) == "<Sequential name=empty_r, built=False>"


def test_input_first_is_not_listed_and_shapes_are_known_at_each_add():
    model = keras.Sequential(name="grow_shapes")
    model.add(keras.Input(shape=(250, 250, 3)))
    assert model.layers == [] and not model.built
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    assert model.built and len(model.layers) == 1
    assert tuple(model.layers[-1].output.shape) == (None, 123, 123, 32)
    assert tuple(model.output_shape) == (None, 123, 123, 32)
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    assert [tuple(l.output.shape) for l in model.layers] == [(None, 123, 123, 32), (None, 121, 121, 32),
                                                              (None, 40, 40, 32)]
    assert tuple(model.input_shape) == (None, 250, 250, 3)
    assert tuple(model.output_shape) == (None, 40, 40, 32)
    assert [tuple(t.shape) for t in model.inputs] == [(None, 250, 250, 3)]
    assert [tuple(t.shape) for t in model.outputs] == [(None, 40, 40, 32)]
    assert len(model.weights) == 4  # built as the layers were added: no data needed


def test_shapes_are_undefined_before_the_model_is_built():
    model = keras.Sequential([layers.Dense(2)], name="no_shape_yet")
    # (Keras's torch backend shows this as "'Sequential' object has no attribute ...".)
    with pytest.raises(AttributeError, match="Sequential model 'no_shape_yet' has no defined input shape yet."):
        model.input_shape
    with pytest.raises(AttributeError, match="has no defined output shape yet"):
        model.output_shape
    with pytest.raises(AttributeError, match="has no defined inputs yet"):
        model.inputs
    with pytest.raises(AttributeError, match="has no defined outputs yet"):
        model.outputs
    model(np.ones((3, 4), "float32"))
    assert tuple(model.input_shape) == (3, 4) and tuple(model.output_shape) == (3, 2)  # the data's batch size


def test_add_of_a_non_layer_raises_keras_message():
    model = keras.Sequential()
    with pytest.raises(ValueError) as e:
        model.add(3)
    assert str(e.value) == ("Only instances of `keras.Layer` can be added to a Sequential model. "
                            "Received: 3 (of type <class 'int'>)")
    with pytest.raises(ValueError, match=re.escape("Received: dense (of type <class 'str'>)")):
        model.add("dense")
    with pytest.raises(ValueError, match=re.escape("Received: 5 (of type <class 'int'>)")):
        keras.Sequential([layers.Dense(2), 5])
    assert model.layers == []


def test_duplicate_names_raise_keras_message():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(5, name="d5")])
    with pytest.raises(ValueError) as e:
        model.add(layers.Dense(2, name="d5"))
    assert str(e.value) == ("All layers added to a Sequential model should have unique names. Name 'd5' is "
                            "already the name of a layer in this model. Update the `name` argument to pass a "
                            "unique name.")
    assert [l.name for l in model.layers] == ["d5"]
    with pytest.raises(ValueError, match="should have unique names. Name 'a' is already"):
        keras.Sequential([layers.Dense(2, name="a"), layers.Dense(2, name="a")])


def test_a_second_input_raises_keras_message():
    model = keras.Sequential(name="two_inputs")
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(5))
    with pytest.raises(ValueError) as e:
        model.add(keras.Input(shape=(3,)))
    assert str(e.value) == ("Sequential model 'two_inputs' has already been configured to use input shape "
                            "(None, 4). You cannot add a different Input layer to it.")
    with pytest.raises(ValueError, match="already been configured to use input shape"):
        model.add(layers.InputLayer(shape=(3,)))


def test_layers_attribute_is_read_only():
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(AttributeError) as e:
        model.layers = []
    assert str(e.value) == ("`Sequential.layers` attribute is reserved and should not be used. "
                            "Use `add()` and `pop()` to change the layers in this model.")


# ====================================================================== pop

def test_pop_returns_the_layer_and_rebuilds(columns80):
    model = keras.Sequential(name="grow")
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu", name="g_c1"))
    model.add(layers.Conv2D(32, 3, activation="relu", name="g_c2"))
    model.add(layers.MaxPooling2D(3, name="g_p"))
    assert _summary(model) == GROW_SUMMARY
    top = model.pop()
    assert top.name == "g_p" and isinstance(top, layers.MaxPooling2D)
    assert [l.name for l in model.layers] == ["g_c1", "g_c2"]
    assert model.built and tuple(model.output_shape) == (None, 121, 121, 32)
    assert _summary(model) == GROW_POPPED_SUMMARY
    y = model(np.ones((1, 250, 250, 3), "float32"))
    assert tuple(y.shape) == (1, 121, 121, 32)


def test_pop_down_to_nothing_then_index_error():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3), layers.Dense(2)])
    model.pop()
    assert model.built and tuple(model.output_shape) == (None, 3)
    model.pop()
    assert model.layers == [] and not model.built
    with pytest.raises(IndexError):
        model.pop()
    with pytest.raises(IndexError):
        keras.Sequential().pop()


# ====================================================================== build and summary

BUILT_SUMMARY = """\
Model: "built_model"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ s_a (Dense)                     │ (None, 2)              │            10 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ s_b (Dense)                     │ (None, 3)              │             9 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 19 (76.00 B)
 Trainable params: 19 (76.00 B)
 Non-trainable params: 0 (0.00 B)
"""

GROW_SUMMARY = """\
Model: "grow"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ g_c1 (Conv2D)                   │ (None, 123, 123, 32)   │         2,432 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ g_c2 (Conv2D)                   │ (None, 121, 121, 32)   │         9,248 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ g_p (MaxPooling2D)              │ (None, 40, 40, 32)     │             0 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 11,680 (45.62 KB)
 Trainable params: 11,680 (45.62 KB)
 Non-trainable params: 0 (0.00 B)
"""

GROW_POPPED_SUMMARY = """\
Model: "grow"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ g_c1 (Conv2D)                   │ (None, 123, 123, 32)   │         2,432 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ g_c2 (Conv2D)                   │ (None, 121, 121, 32)   │         9,248 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 11,680 (45.62 KB)
 Trainable params: 11,680 (45.62 KB)
 Non-trainable params: 0 (0.00 B)
"""


def test_build_then_summary(columns80):
    model = keras.Sequential([layers.Dense(2, activation="relu", name="s_a"), layers.Dense(3, name="s_b")],
                             name="built_model")
    model.build((None, 4))
    assert model.built and all(l.built for l in model.layers)
    assert len(model.layers) == 2  # the input layer build() made is not listed
    # Weights made while the model builds its layers carry the model's name in their paths.
    assert [w.path for w in model.weights] == ["built_model/s_a/kernel", "built_model/s_a/bias",
                                               "built_model/s_b/kernel", "built_model/s_b/bias"]
    assert model.count_params() == 19
    assert _summary(model) == BUILT_SUMMARY


def test_summary_prints_with_print_fn_once_and_to_stdout(capsys, columns80):
    model = keras.Sequential([layers.Dense(2, activation="relu", name="s_a"), layers.Dense(3, name="s_b")],
                             name="built_model")
    model.build((None, 4))
    model.summary()
    assert capsys.readouterr().out == BUILT_SUMMARY


def test_a_layer_built_before_it_was_added_keeps_its_paths():
    pre = layers.Dense(3, name="pre")
    pre.build((None, 2))
    model = keras.Sequential([pre], name="prebuilt")
    model.build((None, 2))
    assert [w.path for w in model.weights] == ["pre/kernel", "pre/bias"]


def test_build_without_layers_or_shape():
    empty = keras.Sequential(name="nothing")
    with pytest.raises(ValueError) as e:
        empty.build((None, 3))
    assert str(e.value) == ("Sequential model nothing cannot be built because it has no layers. "
                            "Call `model.add(layer)`.")
    with pytest.raises(ValueError, match="cannot be built because it has no layers"):
        empty(np.ones((1, 3), "float32"))
    # With an Input, build() needs no shape.
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
    model.build()
    assert model.built


def test_unbuilt_model_weights_summary_and_count_params_raise():
    model = keras.Sequential([layers.Dense(2)], name="unbuilt")
    # Deliberate, as the guide says (Keras 3.15 returns [] and prints "?" rows).
    with pytest.raises(ValueError, match="not yet been created"):
        model.weights
    with pytest.raises(ValueError, match="not yet been built"):
        model.summary()
    # As in Keras:
    with pytest.raises(ValueError, match=re.escape("You tried to call `count_params` on layer 'unbuilt'")):
        model.count_params()
    assert model.trainable_weights == [] and model.non_trainable_weights == []


# ====================================================================== calling

def test_calling_on_numpy_or_a_tensor_equals_chaining_the_layers():
    model = keras.Sequential([layers.Dense(5, activation="relu"), layers.Dense(3, activation="tanh"),
                              layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    y = model(x)
    assert isinstance(y, keras.Tensor) and tuple(y.shape) == (6, 2)
    by_hand = x
    for layer in model.layers:
        by_hand = layer(by_hand)
    np.testing.assert_array_equal(_np(y), _np(by_hand))
    y2 = model(ops.convert_to_tensor(x))
    assert isinstance(y2, keras.Tensor)
    np.testing.assert_array_equal(_np(y2), _np(y))
    # and against NumPy
    (k1, b1), (k2, b2), (k3, b3) = [l.get_weights() for l in model.layers]
    want = np.tanh(np.maximum(x @ k1 + b1, 0) @ k2 + b2) @ k3 + b3
    np.testing.assert_allclose(_np(y), want, rtol=1e-5, atol=1e-5)


def test_calling_with_the_wrong_shape_raises():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2, name="call_dense")])
    with pytest.raises(ValueError) as e:
        model(np.ones((2, 5), "float32"))
    assert ('Input 0 of layer "call_dense" is incompatible with the layer: expected axis -1 '
            "of input shape to have value 4, but received input with shape (2, 5)") in str(e.value)
    with pytest.raises(ValueError, match="expected min_ndim=2, found ndim=1"):
        keras.Sequential([layers.Dense(2)])(np.ones(4, "float32"))


def test_training_flag_reaches_dropout():
    model = keras.Sequential([keras.Input(shape=(1000,)), layers.Dropout(0.5)])
    x = np.ones((4, 1000), "float32")
    np.testing.assert_array_equal(_np(model(x)), x)
    np.testing.assert_array_equal(_np(model(x, training=False)), x)
    y = _np(model(x, training=True))
    assert 0.4 < (y == 0).mean() < 0.6
    np.testing.assert_allclose(np.unique(y[y != 0]), [2.0])


def test_input_shape_on_the_first_layer_builds_the_model_at_once():
    with pytest.warns(UserWarning, match="Do not pass an `input_shape`"):
        model = keras.Sequential([layers.Dense(2, input_shape=(4,)), layers.Dense(3)])
    assert model.built and all(l.built for l in model.layers)
    assert len(model.layers) == 2
    assert tuple(model.input_shape) == (None, 4) and tuple(model.output_shape) == (None, 3)
    assert len(model.weights) == 4
    with pytest.warns(UserWarning):
        model = keras.Sequential()
        model.add(layers.Dense(2, input_shape=(4,)))
    assert model.built
    model.add(layers.Dense(7))
    assert model.built and tuple(model.output_shape) == (None, 7)


# ====================================================================== nesting and freezing

NESTED_SUMMARY = """\
Model: "outer"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ first (Dense)                   │ (None, 4)              │            24 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ inner (Sequential)              │ (None, 2)              │            23 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ last (Dense)                    │ (None, 1)              │             3 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 50 (200.00 B)
 Trainable params: 50 (200.00 B)
 Non-trainable params: 0 (0.00 B)
"""

NESTED_FROZEN_INNER_SUMMARY = """\
Model: "outer"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━┓
┃ Layer (type)                ┃ Output Shape          ┃    Param # ┃ Trai… ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━┩
│ first (Dense)               │ (None, 4)             │         24 │   Y   │
├─────────────────────────────┼───────────────────────┼────────────┼───────┤
│ inner (Sequential)          │ (None, 2)             │         23 │   N   │
├─────────────────────────────┼───────────────────────┼────────────┼───────┤
│    └ in_a (Dense)           │ (None, 3)             │         15 │   N   │
├─────────────────────────────┼───────────────────────┼────────────┼───────┤
│    └ in_b (Dense)           │ (None, 2)             │          8 │   N   │
├─────────────────────────────┼───────────────────────┼────────────┼───────┤
│ last (Dense)                │ (None, 1)             │          3 │   Y   │
└─────────────────────────────┴───────────────────────┴────────────┴───────┘
 Total params: 50 (200.00 B)
 Trainable params: 27 (108.00 B)
 Non-trainable params: 23 (92.00 B)
"""


def _nested():
    inner = keras.Sequential([layers.Dense(3, name="in_a"), layers.Dense(2, name="in_b")], name="inner")
    outer = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(4, name="first"), inner,
                              layers.Dense(1, name="last")], name="outer")
    return inner, outer


def test_nested_sequential_weights_and_counts_add_up(columns80):
    inner, outer = _nested()
    assert outer.built and inner.built
    assert len(outer.layers) == 3 and outer.layers[1] is inner
    assert outer.count_params() == 24 + inner.count_params() + 3 == 50
    assert inner.count_params() == 15 + 8
    assert [w.path for w in outer.weights] == [
        "outer/first/kernel", "outer/first/bias", "outer/inner/in_a/kernel", "outer/inner/in_a/bias",
        "outer/inner/in_b/kernel", "outer/inner/in_b/bias", "outer/last/kernel", "outer/last/bias"]
    assert tuple(inner.output_shape) == (None, 2)
    assert _summary(outer) == NESTED_SUMMARY
    x = np.random.default_rng(1).normal(size=(3, 5)).astype("float32")
    by_hand = outer.layers[2](inner.layers[1](inner.layers[0](outer.layers[0](x))))
    np.testing.assert_array_equal(_np(outer(x)), _np(by_hand))


def test_freezing_a_nested_model_keeps_weights_in_layer_order(columns80):
    inner, outer = _nested()
    order = [w.path for w in outer.weights]
    inner.trainable = False
    assert [w.path for w in outer.weights] == order  # layer order, not trainable-first
    assert [w.path for w in outer.trainable_weights] == [p for p in order if "/inner/" not in p]
    assert [w.path for w in outer.non_trainable_weights] == [p for p in order if "/inner/" in p]
    assert not inner.layers[0].trainable and not inner.layers[0].kernel.trainable
    assert _summary(outer, show_trainable=True, expand_nested=True) == NESTED_FROZEN_INNER_SUMMARY


def test_model_trainable_false_freezes_every_weight():
    inner, outer = _nested()
    outer.trainable = False
    assert outer.trainable_weights == []
    assert len(outer.non_trainable_weights) == 8 == len(outer.weights)
    assert not inner.trainable and not inner.layers[0].trainable
    assert all(not w.trainable for w in outer.weights)
    assert "Trainable params: 0 (0.00 B)" in _summary(outer)
    outer.trainable = True  # unfreezing the model unfreezes every layer in it
    assert len(outer.trainable_weights) == 8 and outer.non_trainable_weights == []
    assert all(w.trainable for w in outer.weights)


FROZEN_SUMMARY = """\
Model: "frozen"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ fz_a (Dense)                    │ (None, 2)              │            10 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ fz_d (Dropout)                  │ (None, 2)              │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ fz_b (Dense)                    │ (None, 1)              │             3 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 13 (52.00 B)
 Trainable params: 0 (0.00 B)
 Non-trainable params: 13 (52.00 B)
"""

FIRST_FROZEN_SUMMARY = """\
Model: "frozen"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━┓
┃ Layer (type)                ┃ Output Shape          ┃    Param # ┃ Trai… ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━┩
│ fz_a (Dense)                │ (None, 2)             │         10 │   N   │
├─────────────────────────────┼───────────────────────┼────────────┼───────┤
│ fz_d (Dropout)              │ (None, 2)             │          0 │   -   │
├─────────────────────────────┼───────────────────────┼────────────┼───────┤
│ fz_b (Dense)                │ (None, 1)             │          3 │   Y   │
└─────────────────────────────┴───────────────────────┴────────────┴───────┘
 Total params: 13 (52.00 B)
 Trainable params: 3 (12.00 B)
 Non-trainable params: 10 (40.00 B)
"""


def test_frozen_model_and_frozen_layer_summaries(columns80):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2, name="fz_a"),
                              layers.Dropout(0.5, name="fz_d"), layers.Dense(1, name="fz_b")], name="frozen")
    model.trainable = False
    assert _summary(model) == FROZEN_SUMMARY
    model.trainable = True
    model.layers[0].trainable = False
    assert _summary(model, show_trainable=True) == FIRST_FROZEN_SUMMARY
    assert [w.path for w in model.trainable_weights] == ["frozen/fz_b/kernel", "frozen/fz_b/bias"]
    assert [w.path for w in model.non_trainable_weights] == ["frozen/fz_a/kernel", "frozen/fz_a/bias"]


# ====================================================================== config

def test_get_config_from_config_round_trip():
    model = keras.Sequential([keras.Input(shape=(6, 6, 2)), layers.Conv2D(3, 3, activation="relu", name="rt_c"),
                              layers.Flatten(name="rt_f"), layers.Dense(2, name="rt_d")], name="round_trip")
    config = model.get_config()
    assert set(config) == {"name", "trainable", "dtype", "layers", "build_input_shape"}
    assert config["build_input_shape"] == (None, 6, 6, 2)
    assert [item["class_name"] for item in config["layers"]] == ["InputLayer", "Conv2D", "Flatten", "Dense"]
    clone = keras.Sequential.from_config(config)
    assert clone.name == "round_trip" and clone.built
    assert [l.name for l in clone.layers] == ["rt_c", "rt_f", "rt_d"]
    assert tuple(clone.output_shape) == (None, 2) and clone.count_params() == model.count_params()
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(_np(clone(x)), _np(model(x)), rtol=1e-6, atol=1e-6)
    assert "build_input_shape" not in keras.Sequential([layers.Dense(2)]).get_config()
