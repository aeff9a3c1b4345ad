"""Functional, nested and subclassed models: the guide's feature extraction, non-linear graphs,
shared layers, bad graphs, and user-written layers and models."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lamina as keras
from lamina import layers, ops

GUIDE = Path(__file__).parent / "guide"
RNG = np.random.default_rng(0)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_graph_snippets_match_keras():
    """Summaries and outputs (with the same weights) of the guide's extractors, a residual block,
    a two-input/two-output model, a shared layer, a nested and a subclassed model: as Keras 3.15."""
    env = dict(os.environ, COLUMNS="80")
    out = subprocess.run([sys.executable, str(GUIDE / "graph_snippets.py"), "lamina"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = out.stdout.split("\n<<<>>>\n")
    want = (GUIDE / "graph_keras_3_15.txt").read_text().split("\n<<<>>>\n")
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"segment {i} differs:\n--- lamina\n{g}\n--- keras 3.15\n{w}"


# ---------------------------------------------------------------- the guide's feature extractors


def _initial_model(name=None):
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(8, 5, strides=2, activation="relu"),
            layers.Conv2D(8, 3, activation="relu", name=name),
            layers.Conv2D(8, 3, activation="relu"),
        ]
    )


def test_feature_extractor_of_every_layer_equals_running_the_layers_one_by_one():
    initial_model = _initial_model()
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    x = RNG.random((2, 32, 32, 3), dtype=np.float32)
    features = feature_extractor(x)
    assert isinstance(features, list) and len(features) == 3
    h = ops.convert_to_tensor(x)
    for layer, feature in zip(initial_model.layers, features):
        h = layer(h)
        np.testing.assert_allclose(_np(feature), _np(h), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_np(features[-1]), _np(initial_model(x)), rtol=1e-6, atol=1e-6)
    # the extractor shares the model's layers, hence its weights
    assert feature_extractor.weights == initial_model.weights
    initial_model.layers[0].kernel.assign(np.zeros((5, 5, 3, 8), "float32"))
    np.testing.assert_allclose(_np(feature_extractor(x)[0]), np.maximum(_np(initial_model.layers[0].bias), 0)
                               * np.ones((2, 14, 14, 8)), atol=1e-7)


def test_feature_extractor_of_one_intermediate_layer():
    initial_model = _initial_model(name="my_intermediate_layer")
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    x = RNG.random((1, 32, 32, 3), dtype=np.float32)
    features = feature_extractor(x)
    assert features.shape == (1, 12, 12, 8)
    expected = initial_model.layers[1](initial_model.layers[0](x))
    np.testing.assert_allclose(_np(features), _np(expected), rtol=1e-6, atol=1e-6)
    assert [l.name for l in feature_extractor.layers][1:] == [initial_model.layers[0].name, "my_intermediate_layer"]


def test_extractor_rejects_images_of_the_wrong_size():
    initial_model = _initial_model()
    extractor = keras.Model(initial_model.inputs, initial_model.layers[-1].output, name="extractor")
    with pytest.raises(ValueError, match=r'Input 0 of layer "extractor" is incompatible with the layer: '
                                         r"expected shape=\(None, 32, 32, 3\), found shape=\(1, 30, 32, 3\)"):
        extractor(np.zeros((1, 30, 32, 3), "float32"))
    with pytest.raises(ValueError, match="expects 1 input"):
        extractor([np.zeros((1, 32, 32, 3), "float32")] * 2)


def test_sequential_inputs_outputs_and_layer_input_output():
    model = _initial_model()
    assert len(model.inputs) == 1 and model.inputs[0].shape == (None, 32, 32, 3)
    assert model.outputs[0].shape == (None, 10, 10, 8)
    first = model.layers[0]
    assert first.input is model.inputs[0]
    assert first.output.shape == (None, 14, 14, 8)
    with pytest.raises(AttributeError, match="has never been called"):
        layers.Dense(2).output


# ---------------------------------------------------------------- non-linear graphs


def test_residual_block_runs_and_its_gradients_reach_every_weight():
    inputs = keras.Input(shape=(6, 6, 4))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(4, 3, padding="same")(x)
    x = layers.add([x, inputs])
    outputs = layers.Dense(2)(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    data = RNG.normal(size=(3, 6, 6, 4)).astype(np.float32)
    c1, c2, _, gap, dense = model.layers[1:]
    manual = dense(gap(layers.Add()([c2(c1(data)), data])))
    np.testing.assert_allclose(_np(model(data)), _np(manual), rtol=1e-5, atol=1e-6)
    with keras.GradientTape() as tape:
        loss = ops.sum(ops.square(model(data)))
    grads = tape.gradient(loss, model.trainable_weights)
    assert len(grads) == 6 and all(g is not None and float(ops.sum(ops.abs(g))) > 0 for g in grads)


def test_multi_input_multi_output_with_dicts():
    a = keras.Input(shape=(3,), name="a")
    b = keras.Input(shape=(2,), name="b")
    h = layers.Concatenate()([a, b])
    model = keras.Model(inputs={"a": a, "b": b},
                        outputs={"sum": layers.Dense(1, name="s")(h), "feat": layers.Dense(4, name="f")(h)})
    xa, xb = np.ones((2, 3), "float32"), np.ones((2, 2), "float32")
    out = model({"a": xa, "b": xb})
    assert set(out) == {"sum", "feat"} and out["sum"].shape == (2, 1) and out["feat"].shape == (2, 4)
    assert model.compute_output_shape({"a": (None, 3), "b": (None, 2)}) == {"feat": (None, 4), "sum": (None, 1)}
    with pytest.raises(ValueError, match="missing inputs"):
        model({"a": xa})


def test_two_branch_model_with_list_inputs_and_outputs():
    a = keras.Input(shape=(4,))
    b = keras.Input(shape=(4,))
    concat = layers.concatenate([layers.Dense(3)(a), layers.Dense(3)(b)], axis=-1)
    out_1 = layers.Dense(1)(concat)
    out_2 = layers.Dense(2)(layers.subtract([a, b]))
    model = keras.Model([a, b], [out_1, out_2])
    y1, y2 = model([np.ones((5, 4), "float32"), np.zeros((5, 4), "float32")])
    assert y1.shape == (5, 1) and y2.shape == (5, 2)
    assert len(model.inputs) == 2 and len(model.outputs) == 2
    assert model.count_params() == 15 + 15 + 7 + 10


def test_merging_layers_compute_what_they_say():
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    y = RNG.normal(size=(2, 3)).astype(np.float32)
    z = RNG.normal(size=(2, 3)).astype(np.float32)
    checks = [(layers.Add(), x + y + z), (layers.Multiply(), x * y * z), (layers.Average(), (x + y + z) / 3),
              (layers.Maximum(), np.maximum(np.maximum(x, y), z)), (layers.Minimum(), np.minimum(np.minimum(x, y), z))]
    for layer, want in checks:
        np.testing.assert_allclose(_np(layer([x, y, z])), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_np(layers.Subtract()([x, y])), x - y, rtol=1e-6)
    np.testing.assert_allclose(_np(layers.Concatenate(axis=0)([x, y])), np.concatenate([x, y], 0))
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([x, y, z])
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Add()(x)
    with pytest.raises(ValueError, match="matching shapes except for the concatenation axis"):
        layers.Concatenate()([keras.Input(shape=(3, 2)), keras.Input(shape=(4, 2))])
    with pytest.raises(ValueError, match="incompatible shapes"):
        layers.Add()([keras.Input(shape=(3,)), keras.Input(shape=(4,))])


def test_shared_layer_has_one_set_of_weights_and_gets_both_gradients():
    left, right = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    shared = layers.Dense(3)
    model = keras.Model([left, right], layers.add([shared(left), shared(right)]))
    assert len(model.weights) == 2 and model.count_params() == 15
    xl, xr = RNG.normal(size=(2, 4)).astype(np.float32), RNG.normal(size=(2, 4)).astype(np.float32)
    with keras.GradientTape() as tape:
        loss = ops.sum(model([xl, xr]))
    dk, db = tape.gradient(loss, [shared.kernel, shared.bias])
    np.testing.assert_allclose(_np(dk), np.repeat((xl + xr).sum(0)[:, None], 3, axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(db), np.full(3, 4.0))


def test_model_nested_in_sequential_and_in_functional():
    base_in = keras.Input(shape=(8, 8, 2))
    base = keras.Model(base_in, layers.GlobalMaxPooling2D()(layers.Conv2D(3, 3)(base_in)), name="base")
    model = keras.Sequential([base, layers.Dense(5)])
    assert model.built and model.count_params() == base.count_params() + 20
    x = RNG.normal(size=(2, 8, 8, 2)).astype(np.float32)
    np.testing.assert_allclose(_np(model(x)), _np(model.layers[1](base(x))), rtol=1e-6)
    outer_in = keras.Input(shape=(8, 8, 2))
    outer = keras.Model(outer_in, layers.Dense(1)(base(outer_in)))
    assert outer(x).shape == (2, 1)
    assert len(outer.weights) == 4
    base.trainable = False
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 2


def test_get_layer_by_name_and_index_and_errors():
    model = _initial_model(name="mid")
    assert model.get_layer("mid") is model.layers[1]
    assert model.get_layer(index=0) is model.layers[0]
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="Was asked to retrieve layer at index 7"):
        model.get_layer(index=7)
    with pytest.raises(ValueError, match="Provide either a layer name or layer index"):
        model.get_layer()


# ---------------------------------------------------------------- bad graphs


def test_output_not_connected_to_the_inputs():
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    out = layers.Dense(2)(b)
    with pytest.raises(ValueError, match="Graph disconnected"):
        keras.Model(inputs=a, outputs=out)


def test_non_tensors_in_inputs_or_outputs():
    a = keras.Input(shape=(3,))
    with pytest.raises(ValueError, match="All `outputs` values must be KerasTensors"):
        keras.Model(inputs=a, outputs=[layers.Dense(2)(a), np.ones(3)])
    with pytest.raises(ValueError, match="All `inputs` values must be KerasTensors"):
        keras.Model(inputs=[a, "b"], outputs=layers.Dense(2)(a))
    with pytest.raises(ValueError, match="must come straight from `keras.Input"):
        h = layers.Dense(2)(a)
        keras.Model(inputs=h, outputs=layers.Dense(1)(h))


def test_symbolic_tensors_hold_no_data():
    a = keras.Input(shape=(3,), name="sym")
    assert a.shape == (None, 3) and a.dtype == "float32" and a.name == "sym"
    with pytest.raises(TypeError, match="holds no data"):
        np.asarray(a)


# ---------------------------------------------------------------- subclassing and Lambda


class Linear(keras.Layer):
    """The subclassing guide's layer: weights in build(), math in call() with lamina.ops."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")
        self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False, name="steps")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Block(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.linear = Linear(4)
        self.blocks = [layers.Dense(4, activation="relu"), layers.Dropout(0.5)]
        self.head = layers.Dense(1)

    def call(self, inputs, training=None):
        x = self.linear(inputs)
        for layer in self.blocks:
            x = layer(x, training=training)
        return self.head(x)


def test_subclassed_layer_builds_lazily_and_tracks_weights():
    layer = Linear(3)
    assert not layer.built and layer.weights == []
    y = layer(np.ones((2, 5), "float32"))
    assert y.shape == (2, 3) and layer.built
    assert [w.path for w in layer.weights] == [f"{layer.name}/w", f"{layer.name}/b", f"{layer.name}/steps"]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 1
    assert layer.count_params() == 19
    symbolic = layer(keras.Input(shape=(5,)))  # no compute_output_shape: inferred by a trial run
    assert symbolic.shape == (None, 3)
    assert Linear.from_config(layer.get_config()).units == 3


def test_subclassed_model_tracks_layers_trains_and_summarises():
    model = Block(name="block")
    x = RNG.normal(size=(8, 5)).astype(np.float32)
    y = model(x)
    assert y.shape == (8, 1)
    assert [l.__class__.__name__ for l in model.layers] == ["Linear", "Dense", "Dropout", "Dense"]
    assert len(model.trainable_weights) == 6 and len(model.non_trainable_weights) == 1
    # inference is deterministic (Dropout off); training=True drops units
    np.testing.assert_allclose(_np(model(x)), _np(model(x, training=False)))
    with keras.GradientTape() as tape:
        loss = ops.mean(ops.square(model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None for g in grads)
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert 'Model: "block"' in text and "(Linear)" in text and "(Dropout)" in text
    assert f"Total params: {model.count_params():,}" in text
    # used as a layer of a functional model
    inp = keras.Input(shape=(5,))
    outer = keras.Model(inp, model(inp))
    assert outer(x).shape == (8, 1) and len(outer.weights) == 7


def test_lambda_layer():
    double = layers.Lambda(lambda t: ops.multiply(t, 2.0))
    np.testing.assert_allclose(_np(double(np.ones((2, 3), "float32"))), 2 * np.ones((2, 3)))
    inp = keras.Input(shape=(4,))
    out = layers.Lambda(lambda t: ops.sum(t, axis=-1, keepdims=True))(inp)
    assert out.shape == (None, 1)
    shaped = layers.Lambda(lambda t, k: t[:, :k], output_shape=(2,), arguments={"k": 2})(inp)
    assert shaped.shape == (None, 2)
    model = keras.Model(inp, [out, shaped])
    a, b = model(np.arange(8, dtype="float32").reshape(2, 4))
    np.testing.assert_allclose(_np(a), [[6.0], [22.0]])
    np.testing.assert_allclose(_np(b), [[0, 1], [4, 5]])
    with pytest.raises(ValueError, match="callable"):
        layers.Lambda(3)
