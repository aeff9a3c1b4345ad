"""Layers as a Keras user sees them: names, lazy building, weights, configs, shapes, values and
error messages. Every expectation here was checked against real Keras 3.15.1 (torch backend);
where lamina deliberately differs (channels_last only, Conv2D groups=1, Variable repr without the
value) the test says so.
"""
import math
import re
from math import erf

import numpy as np
import pytest

import lamina as keras
from lamina import initializers, layers, ops


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture
def fresh_names():
    keras.utils.clear_session()
    yield
    keras.utils.clear_session()


# ====================================================================== NumPy references

def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


_erf = np.vectorize(erf)

# keras.activations.* by name, as Keras 3.15 defines them (gelu exact, leaky_relu slope 0.2).
ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "linear": lambda z: z,
    None: lambda z: z,
    "gelu": lambda z: 0.5 * z * (1.0 + _erf(z / np.sqrt(2.0))),
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
    "selu": lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z)),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "silu": lambda z: z * _sigmoid(z),
    "swish": lambda z: z * _sigmoid(z),
}


def _same_or_valid(n, k, s, d, padding):
    """(output size, padding before) along one axis, as Keras/TensorFlow compute them."""
    eff = (k - 1) * d + 1
    if padding == "valid":
        return (n - eff) // s + 1, 0
    out = -(-n // s)
    return out, max((out - 1) * s + eff - n, 0) // 2


def conv2d_ref(x, w, b=None, strides=(1, 1), padding="valid", dilation=(1, 1)):
    n, h, wd, _ = x.shape
    kh, kw, _, f = w.shape
    oh, ph = _same_or_valid(h, kh, strides[0], dilation[0], padding)
    ow, pw = _same_or_valid(wd, kw, strides[1], dilation[1], padding)
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for c in range(kw):
                    r = i * strides[0] + a * dilation[0] - ph
                    q = j * strides[1] + c * dilation[1] - pw
                    if 0 <= r < h and 0 <= q < wd:
                        out[:, i, j, :] += x[:, r, q, :] @ w[a, c]
    return out if b is None else out + b


def pool2d_ref(x, pool, strides, padding, mode):
    """Max or average over each window; padded positions are not part of any window."""
    n, h, w, c = x.shape
    oh, ph = _same_or_valid(h, pool[0], strides[0], 1, padding)
    ow, pw = _same_or_valid(w, pool[1], strides[1], 1, padding)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, q0 = i * strides[0] - ph, j * strides[1] - pw
            win = x[:, max(r0, 0):min(r0 + pool[0], h), max(q0, 0):min(q0 + pool[1], w), :]
            out[:, i, j, :] = win.max(axis=(1, 2)) if mode == "max" else win.mean(axis=(1, 2))
    return out


# ====================================================================== names and repr

def test_automatic_names_are_snake_cased_and_numbered(fresh_names):
    assert layers.Dense(2).name == "dense"
    assert layers.Dense(2).name == "dense_1"
    assert layers.Dense(2).name == "dense_2"
    assert layers.MaxPooling2D().name == "max_pooling2d"
    assert layers.MaxPooling2D().name == "max_pooling2d_1"
    assert layers.GlobalMaxPooling2D().name == "global_max_pooling2d"
    assert layers.GlobalAveragePooling2D().name == "global_average_pooling2d"
    assert layers.AveragePooling2D(2).name == "average_pooling2d"
    assert layers.Conv2D(2, 3).name == "conv2d"
    assert layers.Flatten().name == "flatten"
    assert layers.Reshape((2,)).name == "reshape"
    assert layers.Dropout(0.5).name == "dropout"
    assert layers.Activation("relu").name == "activation"
    assert keras.Sequential().name == "sequential"

    class MyFancyLayer2D(layers.Layer):
        def call(self, x):
            return x

    class HTTPServerLayer(layers.Layer):
        def call(self, x):
            return x

    assert MyFancyLayer2D().name == "my_fancy_layer2d"
    assert MyFancyLayer2D().name == "my_fancy_layer2d_1"
    assert HTTPServerLayer().name == "http_server_layer"


def test_clear_session_restarts_the_numbering(fresh_names):
    layers.Dense(1)
    assert layers.Dense(1).name == "dense_1"
    keras.utils.clear_session()
    assert layers.Dense(1).name == "dense"


def test_a_failed_dense_construction_does_not_use_up_a_name(fresh_names):
    # Keras checks `units` before naming the layer.
    with pytest.raises(ValueError):
        layers.Dense(0)
    assert layers.Dense(1).name == "dense"


def test_name_argument_is_kept_and_does_not_advance_the_counter(fresh_names):
    assert layers.Dense(2, name="my_dense").name == "my_dense"
    assert layers.Dense(2).name == "dense"


@pytest.mark.parametrize("bad", [3, "a/b"])
def test_bad_names_raise_keras_message(bad):
    with pytest.raises(ValueError) as e:
        layers.Dense(2, name=bad)
    assert str(e.value) == ("Argument `name` must be a string and cannot contain character `/`. "
                            f"Received: name={bad} (of type {type(bad)})")


def test_unknown_keyword_argument_raises():
    with pytest.raises(ValueError, match=re.escape("Unrecognized keyword arguments passed to Dense: {'foo': 1}")):
        layers.Dense(2, foo=1)


def test_repr_shows_name_and_built_state():
    d = layers.Dense(3, name="rep")
    assert repr(d) == "<Dense name=rep, built=False>"
    d(np.ones((1, 2), "float32"))
    assert repr(d) == "<Dense name=rep, built=True>"
    assert repr(layers.MaxPooling2D(name="mp")) == "<MaxPooling2D name=mp, built=True>"


def test_layers_without_weights_are_built_at_construction_as_in_keras():
    for layer in [layers.Dropout(0.2), layers.MaxPooling2D(), layers.AveragePooling2D(2),
                  layers.GlobalMaxPooling2D(), layers.GlobalAveragePooling2D(), layers.Activation("relu"),
                  layers.Reshape((2,))]:
        assert layer.built, layer
        assert layer.weights == []
        assert layer.count_params() == 0
    # Flatten, Dense and Conv2D wait for their first call.
    for layer in [layers.Flatten(), layers.Dense(2), layers.Conv2D(2, 3)]:
        assert not layer.built, layer


# ====================================================================== lazy building and weights

def test_dense_builds_on_first_call_with_keras_paths_and_shapes():
    d = layers.Dense(3, name="lazy")
    assert not d.built
    assert d.weights == [] and d.trainable_weights == [] and d.non_trainable_weights == []
    y = d(np.ones((2, 4), "float32"))
    assert isinstance(y, keras.Tensor)
    assert tuple(y.shape) == (2, 3)
    assert d.built
    assert [w.path for w in d.weights] == ["lazy/kernel", "lazy/bias"]
    assert [w.name for w in d.weights] == ["kernel", "bias"]
    assert [tuple(w.shape) for w in d.weights] == [(4, 3), (3,)]
    assert d.kernel is d.weights[0] and d.bias is d.weights[1]
    np.testing.assert_array_equal(_np(d.bias), np.zeros(3))  # bias_initializer="zeros"
    # Variable repr (lamina shows no value; Keras 3.15 appends the value).
    assert repr(d.kernel) == "<Variable shape=(4, 3), dtype=float32, path=lazy/kernel>"


def test_explicit_build_creates_weights_once():
    d = layers.Dense(5, use_bias=False, name="explicit")
    d.build((None, 7))
    assert d.built
    assert [w.path for w in d.weights] == ["explicit/kernel"]
    kernel = d.kernel
    d(np.ones((3, 7), "float32"))
    assert d.kernel is kernel and len(d.weights) == 1


def test_conv2d_weights_have_keras_shapes():
    c = layers.Conv2D(8, (3, 2), name="cv")
    c(np.ones((1, 6, 6, 5), "float32"))
    assert [(w.path, tuple(w.shape)) for w in c.weights] == [("cv/kernel", (3, 2, 5, 8)), ("cv/bias", (8,))]
    assert c.count_params() == 3 * 2 * 5 * 8 + 8


class _Custom(layers.Layer):
    """A user layer: weights made with add_weight in build()."""

    def build(self, input_shape):
        self.a = self.add_weight(shape=(input_shape[-1], 3), initializer="ones", name="a")
        self.s = self.add_weight(shape=(3,), initializer="zeros", trainable=False, name="s")
        self.b = self.add_weight(shape=(3,), initializer=initializers.Constant(2.0), name="b")
        self.c = self.add_weight(shape=(1,))

    def call(self, x):
        return ops.add(ops.matmul(x, self.a), self.b)


def test_add_weight_in_a_subclass():
    layer = _Custom(name="custom")
    y = layer(np.ones((1, 2), "float32"))
    np.testing.assert_allclose(_np(y), [[4.0, 4.0, 4.0]])
    # Trainable weights first (in creation order), then the non-trainable ones.
    assert [w.path for w in layer.weights] == ["custom/a", "custom/b", f"custom/{layer.c.name}", "custom/s"]
    assert layer.c.name.startswith("variable")  # default name
    assert [w.path for w in layer.trainable_weights] == ["custom/a", "custom/b", f"custom/{layer.c.name}"]
    assert [w.path for w in layer.non_trainable_weights] == ["custom/s"]
    assert layer.s.trainable is False and layer.a.trainable is True
    assert [tuple(w.shape) for w in layer.weights] == [(2, 3), (3,), (1,), (3,)]
    np.testing.assert_array_equal(_np(layer.a), np.ones((2, 3)))
    np.testing.assert_array_equal(_np(layer.s), np.zeros(3))
    np.testing.assert_array_equal(_np(layer.b), np.full(3, 2.0))
    assert layer.count_params() == 6 + 3 + 3 + 1
    assert [v.dtype for v in layer.weights] == ["float32"] * 4


def test_add_weight_defaults_shape_and_glorot_uniform():
    layer = _Custom(name="defaults")
    scalar = layer.add_weight()
    assert tuple(scalar.shape) == ()
    w = layer.add_weight(shape=(300, 200))
    limit = math.sqrt(6.0 / 500)
    values = _np(w)
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.95 * limit


class _Block(layers.Layer):
    """A user layer made of layers, built lazily when first called."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = layers.Dense(3, name="blk_d1")
        self.d2 = layers.Dense(2, name="blk_d2")

    def call(self, x):
        return self.d2(self.d1(x))


def test_a_layer_made_of_layers_tracks_their_weights():
    block = _Block(name="block")
    block(np.ones((1, 4), "float32"))
    assert block.built
    assert [w.path for w in block.weights] == ["block/blk_d1/kernel", "block/blk_d1/bias",
                                               "block/blk_d2/kernel", "block/blk_d2/bias"]
    assert block.count_params() == 15 + 8
    block.trainable = False
    assert block.trainable_weights == [] and not block.d1.trainable and not block.d1.kernel.trainable


def test_freezing_moves_weights_to_non_trainable_and_back():
    layer = _Custom(name="freeze")
    layer(np.ones((1, 2), "float32"))
    order = [w.path for w in layer.weights]
    layer.trainable = False
    assert layer.trainable_weights == []
    assert [w.path for w in layer.non_trainable_weights] == order  # same order, all of them
    assert [w.path for w in layer.weights] == order
    assert not layer.a.trainable
    layer.trainable = True
    assert [w.path for w in layer.trainable_weights] == order[:3]
    assert [w.path for w in layer.non_trainable_weights] == order[3:]
    assert layer.a.trainable and not layer.s.trainable  # created non-trainable: stays so


def test_frozen_before_build_creates_frozen_weights():
    d = layers.Dense(3, trainable=False)
    d.build((None, 2))
    assert d.trainable_weights == [] and len(d.non_trainable_weights) == 2
    assert not d.kernel.trainable
    d2 = layers.Dense(3)
    d2.trainable = False
    d2.build((None, 2))
    assert d2.trainable_weights == [] and not d2.kernel.trainable


def test_count_params_before_build_raises_keras_message():
    d = layers.Dense(3, name="not_yet")
    with pytest.raises(ValueError) as e:
        d.count_params()
    assert str(e.value) == ("You tried to call `count_params` on layer 'not_yet', but the layer isn't built. "
                            "You can build it manually via: `layer.build(input_shape)`.")
    with pytest.raises(ValueError, match="isn't built"):
        layers.Flatten().count_params()
    d.build((None, 4))
    assert d.count_params() == 15


def test_get_weights_and_set_weights():
    d = layers.Dense(3, name="gw")
    d.build((None, 4))
    ws = d.get_weights()
    assert [type(w) for w in ws] == [np.ndarray, np.ndarray]
    assert [w.dtype for w in ws] == [np.float32, np.float32]
    new = [np.arange(12, dtype="float32").reshape(4, 3), np.array([1, 2, 3], "float32")]
    d.set_weights(new)
    for got, want in zip(d.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(_np(d(np.ones((1, 4), "float32"))), [[19.0, 24.0, 29.0]])


def test_set_weights_wrong_count_or_shape_raises_keras_message():
    d = layers.Dense(3, name="sw")
    d.build((None, 4))
    before = d.get_weights()
    with pytest.raises(ValueError) as e:
        d.set_weights([np.ones((4, 3))])
    assert str(e.value) == ("You called `set_weights(weights)` on layer 'sw' with a weight list of length 1, "
                            "but the layer was expecting 2 weights.")
    with pytest.raises(ValueError) as e:
        d.set_weights([np.ones((4, 2)), np.ones(3)])
    assert str(e.value) == "Layer sw weight shape (4, 3) is not compatible with provided weight shape (4, 2)."
    with pytest.raises(ValueError) as e:
        d.set_weights([np.ones((4, 3)), np.ones(2)])
    assert str(e.value) == "Layer sw weight shape (3,) is not compatible with provided weight shape (2,)."
    # lamina checks every shape before assigning anything (Keras 3.15 has already assigned the
    # kernel when it rejects the bias).
    for got, want in zip(d.get_weights(), before):
        np.testing.assert_array_equal(got, want)


# ====================================================================== shapes

SHAPE_CASES = [
    (lambda: layers.Dense(3), (None, 4), (None, 3)),
    (lambda: layers.Dense(3), (None, 5, 4), (None, 5, 3)),
    (lambda: layers.Conv2D(4, 3), (None, 9, 10, 3), (None, 7, 8, 4)),
    (lambda: layers.Conv2D(4, (3, 2), strides=2, padding="same"), (None, 9, 10, 3), (None, 5, 5, 4)),
    (lambda: layers.Conv2D(4, 3, dilation_rate=2), (None, 9, 10, 3), (None, 5, 6, 4)),
    (lambda: layers.Conv2D(4, 3), (None, None, None, 3), (None, None, None, 4)),
    (lambda: layers.MaxPooling2D(), (None, 9, 10, 3), (None, 4, 5, 3)),
    (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (None, 9, 10, 3), (None, 5, 5, 3)),
    (lambda: layers.AveragePooling2D(2), (None, 9, 10, 3), (None, 4, 5, 3)),
    (lambda: layers.AveragePooling2D(3, padding="same"), (None, 9, 10, 3), (None, 3, 4, 3)),
    (lambda: layers.GlobalMaxPooling2D(), (None, 9, 10, 3), (None, 3)),
    (lambda: layers.GlobalAveragePooling2D(keepdims=True), (None, 9, 10, 3), (None, 1, 1, 3)),
    (lambda: layers.Flatten(), (None, 9, 10, 3), (None, 270)),
    (lambda: layers.Flatten(), (None, None, 3), (None, None)),
    (lambda: layers.Flatten(), (None,), (None, 1)),
    (lambda: layers.Reshape((-1, 2)), (None, 4, 3), (None, 6, 2)),
    (lambda: layers.Reshape((2, -1)), (None, None, 3), (None, 2, None)),
    (lambda: layers.Reshape((12,)), (None, 4, 3), (None, 12)),
    (lambda: layers.Activation("tanh"), (None, 9, 10, 3), (None, 9, 10, 3)),
    (lambda: layers.Dropout(0.5), (None, 9, 10, 3), (None, 9, 10, 3)),
]


@pytest.mark.parametrize("make, input_shape, expected", SHAPE_CASES)
def test_compute_output_shape_matches_keras(make, input_shape, expected):
    assert tuple(make().compute_output_shape(input_shape)) == expected


@pytest.mark.parametrize("make, input_shape, expected", [c for c in SHAPE_CASES if None not in c[1][1:]])
def test_called_output_shape_matches_compute_output_shape(make, input_shape, expected):
    y = make()(np.ones((2,) + tuple(input_shape[1:]), "float32"))
    assert tuple(y.shape) == (2,) + tuple(expected[1:])


def test_symbolic_call_infers_shapes():
    x = keras.Input(shape=(9, 10, 3))
    assert tuple(x.shape) == (None, 9, 10, 3)
    y = layers.Conv2D(4, 3, padding="same")(x)
    assert tuple(y.shape) == (None, 9, 10, 4)
    y = layers.MaxPooling2D(3)(y)
    assert tuple(y.shape) == (None, 3, 3, 4)
    y = layers.Flatten()(y)
    assert tuple(y.shape) == (None, 36)
    y = layers.Dense(5)(y)
    assert tuple(y.shape) == (None, 5)


# ====================================================================== configs

KERAS_CONFIG_KEYS = {
    "Dense": {"name", "trainable", "dtype", "units", "activation", "use_bias", "kernel_initializer",
              "bias_initializer", "kernel_regularizer", "bias_regularizer", "kernel_constraint",
              "bias_constraint", "quantization_config"},
    "Conv2D": {"name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding", "data_format",
               "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer", "bias_initializer",
               "kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
               "bias_constraint"},
    "MaxPooling2D": {"name", "trainable", "dtype", "pool_size", "padding", "strides", "data_format"},
    "AveragePooling2D": {"name", "trainable", "dtype", "pool_size", "padding", "strides", "data_format"},
    "GlobalMaxPooling2D": {"name", "trainable", "dtype", "data_format", "keepdims"},
    "GlobalAveragePooling2D": {"name", "trainable", "dtype", "data_format", "keepdims"},
    "Flatten": {"name", "trainable", "dtype", "data_format"},
    "Reshape": {"name", "trainable", "dtype", "target_shape"},
    "Activation": {"name", "trainable", "dtype", "activation"},
    "Dropout": {"name", "trainable", "dtype", "rate", "seed", "noise_shape"},
    "InputLayer": {"batch_shape", "dtype", "sparse", "ragged", "name", "optional"},
}

CONFIG_CASES = [
    (lambda: layers.Dense(3, activation="relu", use_bias=False, kernel_initializer="he_normal",
                          bias_initializer=initializers.Constant(0.5), name="cfg_dense"), (2, 4)),
    (lambda: layers.Dense(3, activation="swish", trainable=False), (2, 5, 4)),
    (lambda: layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="tanh",
                           kernel_initializer=initializers.RandomNormal(stddev=0.3, seed=2)), (2, 7, 6, 3)),
    (lambda: layers.Conv2D(2, 3, dilation_rate=2, use_bias=False), (1, 8, 8, 2)),
    (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (2, 7, 6, 3)),
    (lambda: layers.AveragePooling2D((2, 3)), (2, 7, 6, 3)),
    (lambda: layers.GlobalMaxPooling2D(keepdims=True), (2, 7, 6, 3)),
    (lambda: layers.GlobalAveragePooling2D(), (2, 7, 6, 3)),
    (lambda: layers.Flatten(), (2, 7, 6, 3)),
    (lambda: layers.Reshape((-1, 3)), (2, 7, 6, 3)),
    (lambda: layers.Activation("gelu"), (2, 5)),
    (lambda: layers.Dropout(0.25, noise_shape=(None, 1), seed=3), (2, 5)),
]


@pytest.mark.parametrize("make, input_shape", CONFIG_CASES)
def test_get_config_from_config_round_trip(make, input_shape):
    layer = make()
    config = layer.get_config()
    assert set(config) == KERAS_CONFIG_KEYS[type(layer).__name__]
    assert config["name"] == layer.name
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config
    assert clone.name == layer.name and clone.trainable == layer.trainable
    x = _rng(1).normal(size=input_shape).astype("float32")
    y = layer(x)
    y2 = clone(x)
    assert tuple(y2.shape) == tuple(y.shape)
    assert tuple(clone.compute_output_shape((None,) + input_shape[1:])) == tuple(
        layer.compute_output_shape((None,) + input_shape[1:]))
    if layer.weights:
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(_np(clone(x)), _np(layer(x)), rtol=1e-6, atol=1e-6)
    elif not isinstance(layer, layers.Dropout):
        np.testing.assert_allclose(_np(y2), _np(y), rtol=1e-6)


def test_input_layer_config_round_trip():
    layer = layers.InputLayer(shape=(3, 2), name="il_rt")
    clone = layers.InputLayer.from_config(layer.get_config())
    assert clone.batch_shape == (None, 3, 2) and clone.name == "il_rt"
    assert clone.get_config() == layer.get_config()
    assert tuple(clone.output.shape) == (None, 3, 2)


def test_config_values_match_keras():
    config = layers.Dense(3, name="cv_dense").get_config()
    assert config["activation"] == "linear" and config["use_bias"] is True and config["units"] == 3
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert config["kernel_initializer"]["config"]["seed"] is None
    assert config["bias_initializer"]["class_name"] == "Zeros"
    assert config["kernel_regularizer"] is None and config["quantization_config"] is None
    config = layers.Conv2D(4, 3).get_config()
    assert (config["kernel_size"], config["strides"], config["dilation_rate"]) == ((3, 3), (1, 1), (1, 1))
    assert (config["padding"], config["data_format"], config["groups"]) == ("valid", "channels_last", 1)
    config = layers.MaxPooling2D().get_config()
    assert (config["pool_size"], config["strides"], config["padding"]) == ((2, 2), (2, 2), "valid")
    assert layers.MaxPooling2D(3).get_config()["strides"] == (3, 3)
    assert layers.Dropout(0.5).get_config()["seed"] is None
    assert layers.Activation(None).get_config()["activation"] == "linear"
    assert layers.Activation("swish").get_config()["activation"] == "silu"
    assert layers.Dense(2, activation=keras.activations.relu).get_config()["activation"] == "relu"
    assert layers.InputLayer(shape=(4,), name="in_cfg").get_config() == {
        "batch_shape": (None, 4), "dtype": "float32", "sparse": False, "ragged": False, "name": "in_cfg",
        "optional": False}


def test_input_shape_argument_warns_as_keras_does():
    with pytest.warns(UserWarning, match="Do not pass an `input_shape`/`input_dim` argument to a layer"):
        layers.Dense(2, input_shape=(4,))
    with pytest.warns(UserWarning, match="input_dim"):
        layers.Dense(2, input_dim=4)


# ====================================================================== numerics

@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_dense_matches_numpy(activation, shape):
    rng = _rng(2)
    x = rng.normal(size=shape).astype("float32")
    d = layers.Dense(3, activation=activation)
    d.build((None, 4))
    kernel = rng.normal(size=(4, 3)).astype("float32")
    bias = rng.normal(size=3).astype("float32")
    d.set_weights([kernel, bias])
    y = d(x)
    assert isinstance(y, keras.Tensor) and tuple(y.shape) == shape[:-1] + (3,)
    want = ACTIVATIONS[activation](x.astype(np.float64) @ kernel + bias)
    np.testing.assert_allclose(_np(y), want, rtol=1e-5, atol=1e-5)


def test_gelu_by_name_is_the_exact_form():
    # keras.activations.gelu defaults to approximate=False; the tanh form differs by ~1e-3 at x=-1.5.
    x = np.array([[-3.0, -1.5, -0.5, 0.0, 0.5, 1.5, 3.0]], "float32")
    exact = ACTIVATIONS["gelu"](x.astype(np.float64))
    np.testing.assert_allclose(_np(layers.Activation("gelu")(x)), exact, atol=1e-6)
    np.testing.assert_allclose(_np(keras.activations.gelu(x)), exact, atol=1e-6)
    tanh_form = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    assert np.abs(tanh_form - exact).max() > 1e-4


def test_dense_with_initializers_by_name_and_object():
    d = layers.Dense(3, kernel_initializer="ones", bias_initializer=initializers.Constant(0.5))
    np.testing.assert_allclose(_np(d(np.ones((1, 4), "float32"))), [[4.5, 4.5, 4.5]])


CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=(3, 2), strides=2),
    dict(kernel_size=3, strides=(2, 3), padding="same"),
    dict(kernel_size=4, padding="same"),
    dict(kernel_size=3, dilation_rate=2),
    dict(kernel_size=3, dilation_rate=(2, 1), padding="same"),
    dict(kernel_size=2, use_bias=False, activation="relu"),
    dict(kernel_size=5, strides=2, padding="same", activation="tanh"),
]


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_conv2d_matches_numpy(kwargs):
    rng = _rng(3)
    x = rng.normal(size=(2, 9, 8, 3)).astype("float32")
    conv = layers.Conv2D(4, **kwargs)
    conv.build((None, 9, 8, 3))
    weights = [rng.normal(size=w.shape).astype("float32") for w in conv.weights]
    conv.set_weights(weights)
    y = conv(x)
    want = conv2d_ref(x.astype(np.float64), weights[0], weights[1] if len(weights) > 1 else None,
                      strides=conv.strides, padding=conv.padding, dilation=conv.dilation_rate)
    want = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}.get(kwargs.get("activation"), lambda z: z)(want)
    assert tuple(y.shape) == want.shape
    np.testing.assert_allclose(_np(y), want, rtol=1e-4, atol=1e-4)


POOL_CASES = [
    dict(pool_size=2),
    dict(pool_size=3),
    dict(pool_size=(3, 2), strides=(1, 2)),
    dict(pool_size=2, padding="same"),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=(2, 3), padding="same"),
]


@pytest.mark.parametrize("kwargs", POOL_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
@pytest.mark.parametrize("cls, mode", [(layers.MaxPooling2D, "max"), (layers.AveragePooling2D, "avg")])
def test_pooling_matches_numpy(cls, mode, kwargs):
    x = _rng(4).normal(size=(2, 9, 8, 3)).astype("float32")
    pool = cls(**kwargs)
    y = pool(x)
    want = pool2d_ref(x.astype(np.float64), pool.pool_size, pool.strides, pool.padding, mode)
    assert tuple(y.shape) == want.shape
    np.testing.assert_allclose(_np(y), want, rtol=1e-5, atol=1e-6)


def test_pooling_strides_default_to_pool_size():
    assert layers.MaxPooling2D().pool_size == (2, 2) and layers.MaxPooling2D().strides == (2, 2)
    assert layers.MaxPooling2D(3).strides == (3, 3)
    assert layers.AveragePooling2D((2, 3)).strides == (2, 3)
    assert layers.MaxPooling2D(3, strides=1).strides == (1, 1)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_numpy(keepdims):
    x = _rng(5).normal(size=(2, 5, 4, 3)).astype("float32")
    shape = (2, 1, 1, 3) if keepdims else (2, 3)
    y = layers.GlobalMaxPooling2D(keepdims=keepdims)(x)
    assert tuple(y.shape) == shape
    np.testing.assert_allclose(_np(y).reshape(2, 3), x.max(axis=(1, 2)))
    y = layers.GlobalAveragePooling2D(keepdims=keepdims)(x)
    assert tuple(y.shape) == shape
    np.testing.assert_allclose(_np(y).reshape(2, 3), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_flatten_and_reshape_keep_row_major_order():
    x = _rng(6).normal(size=(2, 3, 4, 5)).astype("float32")
    np.testing.assert_array_equal(_np(layers.Flatten()(x)), x.reshape(2, -1))
    np.testing.assert_array_equal(_np(layers.Reshape((-1, 10))(x)), x.reshape(2, 6, 10))
    np.testing.assert_array_equal(_np(layers.Reshape((5, 12))(x)), x.reshape(2, 5, 12))
    np.testing.assert_array_equal(_np(layers.Reshape((60, -1))(x)), x.reshape(2, 60, 1))
    assert tuple(layers.Flatten()(np.ones(4, "float32")).shape) == (4, 1)


def test_activation_layer():
    x = _rng(7).normal(size=(3, 4)).astype("float32")
    np.testing.assert_array_equal(_np(layers.Activation("relu")(x)), np.maximum(x, 0))
    np.testing.assert_array_equal(_np(layers.Activation(None)(x)), x)
    np.testing.assert_allclose(_np(layers.Activation("softmax")(x)), _softmax(x.astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(_np(layers.Activation(lambda t: ops.multiply(t, 2.0))(x)), 2 * x)


def test_dropout_is_identity_unless_training():
    x = _rng(8).normal(size=(20, 30)).astype("float32")
    d = layers.Dropout(0.5)
    np.testing.assert_array_equal(_np(d(x)), x)
    np.testing.assert_array_equal(_np(d(x, training=False)), x)
    np.testing.assert_array_equal(_np(layers.Dropout(0.0)(x, training=True)), x)


@pytest.mark.parametrize("rate", [0.3, 0.75])
def test_dropout_training_zeroes_a_rate_fraction_and_scales_survivors(rate):
    x = np.ones((200, 500), "float32")
    y = _np(layers.Dropout(rate)(x, training=True))
    assert abs((y == 0).mean() - rate) < 0.01
    np.testing.assert_allclose(np.unique(y[y != 0]), [1.0 / (1.0 - rate)], rtol=1e-6)
    assert np.all(_np(layers.Dropout(1.0)(x, training=True)) == 0)


def test_dropout_noise_shape_and_seed():
    x = np.ones((200, 50), "float32")
    for noise_shape in [(200, 1), (None, 1)]:
        y = _np(layers.Dropout(0.5, noise_shape=noise_shape)(x, training=True))
        assert all(len(np.unique(row)) == 1 for row in y)  # one decision per row
    # A seeded Dropout draws the same masks as another with the same seed; each call a new mask.
    a, b = layers.Dropout(0.5, seed=1), layers.Dropout(0.5, seed=1)
    first = _np(a(x, training=True))
    np.testing.assert_array_equal(first, _np(b(x, training=True)))
    assert not np.array_equal(first, _np(a(x, training=True)))


# ====================================================================== initializers

FAN_IN, FAN_OUT = 200, 300


def _draw(initializer, shape=(FAN_IN, FAN_OUT)):
    init = initializers.get(initializer) if isinstance(initializer, str) else initializer
    values = _np(init(shape, dtype="float32"))
    assert values.shape == shape and values.dtype == np.float32
    return values


@pytest.mark.parametrize("name, std, bound", [
    ("glorot_uniform", math.sqrt(2.0 / (FAN_IN + FAN_OUT)), math.sqrt(6.0 / (FAN_IN + FAN_OUT))),
    ("he_uniform", math.sqrt(2.0 / FAN_IN), math.sqrt(6.0 / FAN_IN)),
    ("lecun_uniform", math.sqrt(1.0 / FAN_IN), math.sqrt(3.0 / FAN_IN)),
    ("random_uniform", 0.1 / math.sqrt(12), 0.05),
])
def test_uniform_initializers_by_name(name, std, bound):
    values = _draw(name)
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound
    assert abs(values.std() - std) < 0.03 * std
    assert abs(values.mean()) < 0.03 * std


@pytest.mark.parametrize("name, std", [
    ("glorot_normal", math.sqrt(2.0 / (FAN_IN + FAN_OUT))),
    ("he_normal", math.sqrt(2.0 / FAN_IN)),
    ("lecun_normal", math.sqrt(1.0 / FAN_IN)),
])
def test_truncated_normal_initializers_by_name(name, std):
    values = _draw(name)
    assert abs(values.std() - std) < 0.03 * std  # the truncation is compensated, as in Keras
    assert abs(values.mean()) < 0.03 * std
    # truncated at two standard deviations of the underlying normal
    assert np.abs(values).max() <= 2 * std / 0.87962566103423978 * (1 + 1e-6)


def test_he_normal_uses_the_receptive_field_for_conv_kernels():
    values = _draw(initializers.HeNormal(seed=1), shape=(3, 3, 16, 32))
    want = math.sqrt(2.0 / (3 * 3 * 16))
    assert abs(values.std() - want) < 0.05 * want
    values = _draw(initializers.GlorotUniform(seed=1), shape=(3, 3, 16, 32))
    assert np.abs(values).max() <= math.sqrt(6.0 / (9 * 16 + 9 * 32)) * (1 + 1e-6)


def test_random_normal_and_constant_initializers():
    values = _draw("random_normal")
    assert abs(values.std() - 0.05) < 0.002 and abs(values.mean()) < 0.002
    values = _draw(initializers.RandomNormal(mean=1.0, stddev=2.0, seed=5))
    assert abs(values.mean() - 1.0) < 0.05 and abs(values.std() - 2.0) < 0.05
    values = _draw(initializers.RandomUniform(minval=2.0, maxval=3.0))
    assert values.min() >= 2.0 and values.max() <= 3.0
    np.testing.assert_array_equal(_draw("zeros"), 0.0)
    np.testing.assert_array_equal(_draw("ones"), 1.0)
    np.testing.assert_array_equal(_draw(initializers.Constant(3.0), shape=(2, 2)), np.full((2, 2), 3.0))


def test_constant_by_name_is_zero():
    # lamina: "constant" by name is Constant(0.0). (Keras 3.15 raises KeyError: 'value' here.)
    init = initializers.get("constant")
    assert type(init).__name__ == "Constant" and init.get_config() == {"value": 0.0}
    np.testing.assert_array_equal(_draw("constant", shape=(2, 3)), np.zeros((2, 3)))


def test_initializer_objects_and_lookups():
    assert type(initializers.get("glorot_uniform")).__name__ == "GlorotUniform"
    assert type(initializers.get("GlorotUniform")).__name__ == "GlorotUniform"
    assert type(initializers.get(initializers.Ones)).__name__ == "Ones"
    init = initializers.HeNormal(seed=3)
    assert initializers.get(init) is init
    assert initializers.get(None) is None
    assert type(initializers.get({"class_name": "Ones", "config": {}})).__name__ == "Ones"
    assert initializers.get({"class_name": "Constant", "config": {"value": 0.5}}).value == 0.5
    assert initializers.RandomNormal(mean=1.0, stddev=2.0, seed=5).get_config() == {
        "seed": 5, "mean": 1.0, "stddev": 2.0}
    assert initializers.Constant(3.0).get_config() == {"value": 3.0}
    assert initializers.GlorotUniform(seed=7).get_config()["seed"] == 7


def test_seeded_initializers_are_reproducible():
    a = _draw(initializers.GlorotUniform(seed=3), shape=(4, 5))
    np.testing.assert_array_equal(a, _draw(initializers.GlorotUniform(seed=3), shape=(4, 5)))
    init = initializers.GlorotUniform(seed=3)
    np.testing.assert_array_equal(_draw(init, shape=(4, 5)), _draw(init, shape=(4, 5)))
    assert not np.array_equal(a, _draw(initializers.GlorotUniform(seed=4), shape=(4, 5)))
    assert not np.array_equal(_draw("glorot_uniform", (4, 5)), _draw("glorot_uniform", (4, 5)))
    keras.utils.set_random_seed(11)
    d1 = layers.Dense(3)
    d1.build((None, 4))
    keras.utils.set_random_seed(11)
    d2 = layers.Dense(3)
    d2.build((None, 4))
    np.testing.assert_array_equal(d1.get_weights()[0], d2.get_weights()[0])


def test_unknown_initializer_and_activation_names_raise_keras_message():
    with pytest.raises(ValueError, match="^Could not interpret initializer identifier: nope$"):
        initializers.get("nope")
    with pytest.raises(ValueError, match="^Could not interpret initializer identifier: nope$"):
        layers.Dense(2, kernel_initializer="nope")
    with pytest.raises(ValueError, match="^Could not interpret initializer identifier: 3$"):
        initializers.get(3)
    with pytest.raises(ValueError, match="^Could not interpret activation function identifier: nope$"):
        keras.activations.get("nope")
    with pytest.raises(ValueError, match="^Could not interpret activation function identifier: nope$"):
        layers.Dense(2, activation="nope")
    with pytest.raises(ValueError, match="^Could not interpret activation function identifier: nope$"):
        layers.Activation("nope")


def test_variance_scaling_argument_errors():
    with pytest.raises(ValueError, match=re.escape("Argument `scale` must be positive float. Received: scale=0")):
        initializers.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match=re.escape("Invalid `mode` argument: x. Please use one of")):
        initializers.VarianceScaling(mode="x")
    with pytest.raises(ValueError, match=re.escape("Invalid `distribution` argument: x.")):
        initializers.VarianceScaling(distribution="x")


def test_activations_lookup():
    assert keras.activations.get(None) is keras.activations.linear
    assert keras.activations.get("swish") is keras.activations.get("silu")
    assert keras.activations.get(keras.activations.tanh) is keras.activations.tanh
    x = np.array([-2.0, 3.0], "float32")
    np.testing.assert_allclose(_np(keras.activations.leaky_relu(x)), [-0.4, 3.0], rtol=1e-6)


# ====================================================================== bad input

def test_wrong_last_dimension_for_a_built_dense():
    d = layers.Dense(2, name="dense_x")
    d(np.ones((1, 4), "float32"))
    with pytest.raises(ValueError) as e:
        d(np.ones((1, 5), "float32"))
    # Keras 3.15's wording (it names the input spec, which is None here).
    assert str(e.value) == ('Input 0 of layer "dense_x" is incompatible with the layer: '
                            "expected axis -1 of input shape to have value 4, but received input with shape (1, 5)")
    with pytest.raises(ValueError, match=re.escape("but received input with shape (None, 5)")):
        d(keras.Input(shape=(5,)))


def test_dense_on_a_vector_raises():
    with pytest.raises(ValueError) as e:
        layers.Dense(2, name="dense_v")(np.ones(4, "float32"))
    assert str(e.value) == ('Input 0 of layer "dense_v" is incompatible with the layer: '
                            "expected min_ndim=2, found ndim=1. Full shape received: (4,)")


def test_conv2d_and_pooling_on_a_3d_input():
    with pytest.raises(ValueError) as e:
        layers.Conv2D(2, 3, name="conv_3d")(np.ones((1, 5, 5), "float32"))
    assert str(e.value) == ('Input 0 of layer "conv_3d" is incompatible with the layer: '
                            "expected min_ndim=4, found ndim=3. Full shape received: (1, 5, 5)")
    for cls in [layers.MaxPooling2D, layers.GlobalMaxPooling2D, layers.GlobalAveragePooling2D]:
        with pytest.raises(ValueError) as e:
            cls(name="pool_3d")(np.ones((1, 5, 5), "float32"))
        assert str(e.value) == ('Input 0 of layer "pool_3d" is incompatible with the layer: '
                                "expected ndim=4, found ndim=3. Full shape received: (1, 5, 5)")


def test_conv2d_with_wrong_channel_count_after_build():
    c = layers.Conv2D(2, 3, name="conv_ch")
    c(np.ones((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=re.escape(
            'layer "conv_ch" is incompatible with the layer: expected axis -1 of input shape to have value 3, '
            'but received input with shape (1, 5, 5, 4)')):
        c(np.ones((1, 5, 5, 4), "float32"))


def test_kernel_larger_than_the_input():
    want = ("Computed output size would be zero or negative. Received `inputs shape=(1, 5, 5, 1)`, "
            "`kernel shape=(7, 7, 1, 2)`, `dilation_rate=[1 1]`, `strides=(1, 1)`, `padding=valid`.")
    with pytest.raises(ValueError) as e:
        layers.Conv2D(2, 7)(np.ones((1, 5, 5, 1), "float32"))
    assert str(e.value) == want
    with pytest.raises(ValueError, match=re.escape("`inputs shape=(None, 5, 5, 1)`")):
        layers.Conv2D(2, 7)(keras.Input(shape=(5, 5, 1)))
    # "same" padding never shrinks below one output.
    assert tuple(layers.Conv2D(2, 7, padding="same")(np.ones((1, 5, 5, 1), "float32")).shape) == (1, 5, 5, 2)


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
def test_pool_larger_than_the_input(cls):
    # Keras's symbolic message; its torch backend raises a RuntimeError on data, lamina the same ValueError.
    with pytest.raises(ValueError) as e:
        cls(7)(keras.Input(shape=(5, 5, 1)))
    # (Keras wraps errors raised inside call() in "Exception encountered when calling ...".)
    assert ("Computed output size would be zero or negative. Received: `inputs.shape=[None 5 5 1]`, "
            "`pool_size=[7 7]`, `strides=(7, 7)`, `padding=valid`.") in str(e.value)
    with pytest.raises(ValueError, match=re.escape("`inputs.shape=[1 5 5 1]`, `pool_size=[7 7]`")):
        cls(7)(np.ones((1, 5, 5, 1), "float32"))
    with pytest.raises(ValueError, match="zero or negative"):
        cls(7).compute_output_shape((None, 5, 5, 1))


@pytest.mark.parametrize("units", [0, -1, 1.5, 2.0, "3"])
def test_invalid_units(units):
    with pytest.raises(ValueError) as e:
        layers.Dense(units)
    assert str(e.value) == ("Received an invalid value for `units`, expected a positive integer. "
                            f"Received: units={units}")


@pytest.mark.parametrize("filters", [0, -1])
def test_invalid_filters(filters):
    with pytest.raises(ValueError) as e:
        layers.Conv2D(filters, 3)
    assert str(e.value) == ("Invalid value for argument `filters`. Expected a strictly positive value. "
                            f"Received filters={filters}.")


def test_conv2d_argument_errors():
    with pytest.raises(ValueError, match=re.escape(
            "The `padding` argument must be a list/tuple or one of {'valid', 'same'}. Received: full")):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match=re.escape(
            "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
            "Received: strides=(2, 2) and dilation_rate=(2, 2)")):
        layers.Conv2D(2, 3, strides=2, dilation_rate=2)


def test_lamina_only_supports_channels_last_and_one_group():
    # Deliberate: Keras accepts these; lamina has NHWC kernels and groups=1 only.
    with pytest.raises(ValueError, match="channels_last"):
        layers.Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="groups=1"):
        layers.Conv2D(4, 3, groups=2)
    for cls in [layers.MaxPooling2D, layers.GlobalAveragePooling2D, layers.Flatten]:
        with pytest.raises(ValueError, match="channels_last"):
            cls(data_format="channels_first")


@pytest.mark.parametrize("rate", [1.5, -0.1])
def test_dropout_rate_outside_0_1(rate):
    with pytest.raises(ValueError) as e:
        layers.Dropout(rate)
    assert str(e.value) == ("Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                            f"Received: rate={rate}")
    layers.Dropout(0.0)
    layers.Dropout(1.0)


def test_reshape_with_incompatible_size():
    unchanged = "The total size of the tensor must be unchanged. Received: input_shape=(4,), target_shape=(3,)"
    with pytest.raises(ValueError) as e:
        layers.Reshape((3,))(np.ones((2, 4), "float32"))
    assert unchanged in str(e.value)
    with pytest.raises(ValueError) as e:
        layers.Reshape((3, -1))(np.ones((2, 4), "float32"))
    assert ("The total size of the tensor must be unchanged, however, the input size cannot by "
            "divided by the specified dimensions in target_shape. Received: input_shape=(4,), "
            "target_shape=(3, -1)") in str(e.value)
    with pytest.raises(ValueError) as e:
        layers.Reshape((3,)).compute_output_shape((None, 4))
    assert str(e.value) == unchanged
    with pytest.raises(ValueError, match=re.escape("input_shape=(4, 3), target_shape=(5, -1)")):
        layers.Reshape((5, -1)).compute_output_shape((None, 4, 3))
    with pytest.raises(ValueError) as e:
        layers.Reshape((-1, -1))
    assert str(e.value) == ("There must be at most one unknown dimension (-1) in `target_shape`. "
                            "Received: target_shape=(-1, -1).")


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(2, kernel_regularizer="l2"),
    lambda: layers.Dense(2, bias_constraint="non_neg"),
    lambda: layers.Conv2D(2, 3, kernel_regularizer="l1"),
    lambda: layers.BatchNormalization(gamma_constraint="non_neg"),
    lambda: layers.Dense(2, activity_regularizer="l2"),
])
def test_regularizers_and_constraints_are_refused_not_ignored(make):
    with pytest.raises(NotImplementedError, match="not supported by lamina yet"):
        make()
