"""Saving and loading in Keras 3's files: `.keras` archives and `.weights.h5` files written and
read by lamina, files written by Keras 3.15 (tests/saving/fixtures, made by
tests/saving/make_keras_fixtures.py) read by lamina, lamina's files read by Keras (only where
`keras` is importable), refusals and errors, and ModelCheckpoint."""
import io
import json
import os
import sys
import zipfile

import h5py
import numpy as np
import pytest

import lamina as keras
from lamina import layers, ops
from lamina.saving import saving_lib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "saving"))
from fixture_classes import Scale, TinyBlock  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "saving", "fixtures")
RNG = np.random.default_rng(7)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _data(*shape):
    return RNG.random(shape).astype("float32")


def _as_list(p):
    return p if isinstance(p, list) else [p]


def _h5_layout(source):
    """{dataset path: shape} and {vars group: name attribute} of a weights file (path or bytes)."""
    datasets, names = {}, {}
    with h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r") as f:
        def visit(path, obj):
            if isinstance(obj, h5py.Dataset):
                datasets[path] = tuple(obj.shape)
            elif path.endswith("vars"):
                names[path] = obj.attrs.get("name")
        f.visititems(visit)
    return datasets, names


def _archive(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


# ---------------------------------------------------------------- registered classes
# The same classes as in tests/saving/make_keras_fixtures.py, written with lamina's API
# (tests/saving/fixture_classes.py, shared with the corpus worker).


@keras.saving.register_keras_serializable(package="lamina_tests")
class AutoConfigModel(keras.Model):
    """No get_config: Keras's auto-config captures the constructor's plain arguments."""

    def __init__(self, hidden=3, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.hidden_layer = layers.Dense(hidden, activation=activation)
        self.out = layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden_layer(x))


class Unregistered(layers.Layer):
    def call(self, x):
        return ops.multiply(x, 2.0)

    def compute_output_shape(self, input_shape):
        return input_shape


# ---------------------------------------------------------------- models

def _mlp(name=None, dropout=True):
    stack = [keras.Input((6,)), layers.Dense(8, activation="relu"), layers.BatchNormalization()]
    if dropout:
        stack.append(layers.Dropout(0.25))
    stack.append(layers.Dense(3, activation="softmax"))
    return keras.Sequential(stack, name=name)


def _multi_io():
    a = keras.Input((5,), name="vec")
    b = keras.Input((4, 4, 1), name="img")
    h = layers.Dense(6, activation="relu", name="h")(a)
    g = layers.Dense(6, name="g")(a)
    c = layers.Conv2D(3, 2, activation="relu", name="c")(b)
    pooled = layers.Dense(6, name="pool_proj")(layers.Concatenate()([layers.GlobalAveragePooling2D()(c),
                                                                      layers.GlobalMaxPooling2D()(c)]))
    merged = [layers.Add()([h, g]), layers.Subtract()([h, g]), layers.Multiply()([h, pooled]),
              layers.Average()([h, g, pooled]), layers.Maximum()([g, pooled]), layers.Minimum()([h, pooled])]
    out1 = layers.Dense(2, name="out1")(layers.Concatenate(axis=-1)(merged))
    out2 = layers.Dense(1, activation="sigmoid", name="out2")(layers.Add()([h, pooled]))
    return keras.Model([a, b], [out1, out2], name="multi_io")


def _nested():
    inner_seq = keras.Sequential([keras.Input((6,)), layers.Dense(6, activation="relu"), layers.BatchNormalization()],
                                 name="inner_seq")
    i = keras.Input((6,))
    inner_fn = keras.Model(i, layers.Add()([i, layers.Dense(6, activation="tanh")(i)]), name="inner_fn")
    x = keras.Input((6,), name="x")
    shared = layers.Dense(6, name="shared")
    h = shared(inner_fn(inner_seq(x)))
    h = shared(Scale(2.0, name="scale")(h))  # a layer called twice: node indices 0 and 1
    out = layers.Dense(1)(layers.Add()([h, x]))
    return keras.Model(x, out, name="nested")


def _cnn():
    return keras.Sequential([
        keras.Input((8, 8, 2)), layers.Conv2D(4, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(6, (3, 2), strides=(1, 2)), layers.AveragePooling2D(2, padding="same"), layers.Flatten(),
        layers.Dense(5), layers.Reshape((5, 1)), layers.Flatten(), layers.Activation("tanh")], name="cnn")


# ================================================================ lamina -> lamina

def test_sequential_round_trip_writes_keras_layout(tmp_path):
    model = _mlp(name="mlp")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(16, 6), RNG.integers(0, 3, 16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "mlp.keras"
    model.save(path)

    files = _archive(path)
    assert list(files) == ["metadata.json", "config.json", "model.weights.h5"]
    metadata = json.loads(files["metadata.json"])
    assert metadata["keras_version"] == "3.15.1" and "@" in metadata["date_saved"]
    config = json.loads(files["config.json"])
    assert set(config) == {"module", "class_name", "config", "registered_name", "build_config", "compile_config"}
    assert (config["module"], config["class_name"], config["registered_name"]) == ("keras", "Sequential", None)
    assert config["build_config"] == {"input_shape": [None, 6]}
    assert [l["class_name"] for l in config["config"]["layers"]] == [
        "InputLayer", "Dense", "BatchNormalization", "Dropout", "Dense"]
    dense = config["config"]["layers"][1]
    assert dense["module"] == "keras.layers" and dense["build_config"] == {"input_shape": [None, 6]}
    assert dense["config"]["dtype"]["class_name"] == "DTypePolicy"
    compile_config = config["compile_config"]
    assert compile_config["optimizer"]["class_name"] == "Adam" and compile_config["loss"] == "sparse_categorical_crossentropy"
    assert compile_config["metrics"] == ["accuracy"]
    datasets, names = _h5_layout(files["model.weights.h5"])
    assert datasets == {
        "layers/dense/vars/0": (6, 8), "layers/dense/vars/1": (8,),
        "layers/batch_normalization/vars/0": (8,), "layers/batch_normalization/vars/1": (8,),
        "layers/batch_normalization/vars/2": (8,), "layers/batch_normalization/vars/3": (8,),
        "layers/dense_1/vars/0": (8, 3), "layers/dense_1/vars/1": (3,),
        "optimizer/vars/0": (), "optimizer/vars/1": (),
        **{f"optimizer/vars/{i}": s for i, s in zip(range(2, 14), [(6, 8)] * 2 + [(8,)] * 6 + [(8, 3)] * 2 + [(3,)] * 2)}}
    assert names["vars"] == "mlp" and names["layers/dropout/vars"] == model.layers[2].name

    loaded = keras.saving.load_model(path)
    assert type(loaded) is keras.Sequential and loaded.name == "mlp"
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.compiled and isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert int(loaded.optimizer.iterations) == 2 and loaded.optimizer.learning_rate == pytest.approx(0.01)
    assert keras.models.load_model(path).name == "mlp"


def test_functional_multi_input_output_round_trip(tmp_path):
    model = _multi_io()
    xs = [_data(3, 5), _data(3, 4, 4, 1)]
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded).__name__ == "Functional" and loaded.name == "multi_io"
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    for a, b in zip(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_array_equal(a, b)
    config = model.get_config()
    assert config["input_layers"] == [["vec", 0, 0], ["img", 0, 0]]
    assert config["output_layers"] == [["out1", 0, 0], ["out2", 0, 0]]
    again = keras.Model.from_config(config)
    assert again.get_config() == config


def test_nested_residual_and_shared_layers_round_trip(tmp_path):
    model = _nested()
    x = _data(4, 6)
    config = model.get_config()
    shared = next(l for l in config["layers"] if l["name"] == "shared")
    histories = [n["args"][0]["config"]["keras_history"] for n in shared["inbound_nodes"]]
    assert histories == [["inner_fn", 0, 0], ["scale", 0, 0]]
    add = next(l for l in config["layers"] if l["class_name"] == "Add")
    assert add["inbound_nodes"][0]["args"][0][0]["config"]["keras_history"] == ["shared", 1, 0]
    model.save(tmp_path / "n.keras")
    datasets, _ = _h5_layout(_archive(tmp_path / "n.keras")["model.weights.h5"])
    assert "layers/sequential/layers/batch_normalization/vars/3" in datasets
    assert "layers/functional/layers/dense/vars/0" in datasets and "layers/scale/vars/0" in datasets
    loaded = keras.saving.load_model(tmp_path / "n.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == config


def test_dict_inputs_round_trip(tmp_path):
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    out = layers.Dense(2)(layers.Concatenate()([a, b]))
    model = keras.Model({"a": a, "b": b}, out)
    x = {"a": _data(2, 3), "b": _data(2, 2)}
    model.save(tmp_path / "d.keras")
    loaded = keras.saving.load_model(tmp_path / "d.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_subclassed_registered_model_round_trip(tmp_path):
    model = TinyBlock(3, name="tiny")
    x = _data(4, 3)
    model(x)
    model.save(tmp_path / "t.keras")
    config = json.loads(_archive(tmp_path / "t.keras")["config.json"])
    assert config["registered_name"] == "lamina_fixtures>TinyBlock" and config["config"]["units"] == 3
    datasets, _ = _h5_layout(_archive(tmp_path / "t.keras")["model.weights.h5"])
    # Keras's walk: attributes in name order, the `layers` property among them
    assert set(datasets) == {"blocks/dense/vars/0", "blocks/dense/vars/1", "blocks/dense_1/vars/0",
                             "blocks/dense_1/vars/1", "head/vars/0", "head/vars/1", "layers/scale/vars/0"}
    loaded = keras.saving.load_model(tmp_path / "t.keras")
    assert type(loaded) is TinyBlock and loaded.units == 3 and loaded.name == "tiny"
    np.testing.assert_array_equal(_np(loaded(x)), _np(model(x)))


def test_auto_config_and_custom_objects(tmp_path):
    model = AutoConfigModel(hidden=5, activation="relu", name="auto")
    x = _data(2, 4)
    model(x)
    assert model.get_config()["hidden"] == 5 and model.get_config()["activation"] == "relu"
    model.save(tmp_path / "a.keras")
    loaded = keras.saving.load_model(tmp_path / "a.keras")
    assert isinstance(loaded, AutoConfigModel) and loaded.hidden_layer.units == 5
    np.testing.assert_array_equal(_np(loaded(x)), _np(model(x)))

    inp = keras.Input((3,))
    plain = keras.Model(inp, layers.Dense(2)(Unregistered()(inp)))
    plain.save(tmp_path / "u.keras")
    with pytest.raises(ValueError, match="Could not locate class 'Unregistered'"):
        keras.saving.load_model(tmp_path / "u.keras")
    loaded = keras.saving.load_model(tmp_path / "u.keras", custom_objects={"Unregistered": Unregistered})
    x = _data(2, 3)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), plain.predict(x, verbose=0))
    with keras.saving.custom_object_scope({"Unregistered": Unregistered}):
        assert keras.saving.load_model(tmp_path / "u.keras").count_params() == plain.count_params()


def test_batchnorm_moving_statistics_round_trip(tmp_path):
    model = _mlp(dropout=False)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(_data(32, 6) * 3.0 + 1.0, RNG.integers(0, 3, 32), batch_size=8, epochs=2, verbose=0)
    bn = model.layers[1]
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)
    model.save_weights(tmp_path / "bn.weights.h5")
    fresh = _mlp(dropout=False)
    fresh.load_weights(tmp_path / "bn.weights.h5")
    np.testing.assert_array_equal(fresh.layers[1].moving_mean.numpy(), bn.moving_mean.numpy())
    np.testing.assert_array_equal(fresh.layers[1].moving_variance.numpy(), bn.moving_variance.numpy())
    x = _data(5, 6)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("optimizer", [lambda: keras.optimizers.Adam(0.01),
                                       lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                                       lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True)])
def test_compiled_model_continues_training_exactly(tmp_path, optimizer):
    model = _mlp(dropout=False)
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(24, 6), RNG.integers(0, 3, 24)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "c.keras")
    loaded = keras.saving.load_model(tmp_path / "c.keras")
    assert [v.shape for v in loaded.optimizer.variables] == [v.shape for v in model.optimizer.variables]
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    h1 = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h2 = loaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert h1.history == h2.history
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_model_without_compile_and_weights_files(tmp_path):
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.save(tmp_path / "m.keras")
    assert not keras.saving.load_model(tmp_path / "m.keras", compile=False).compiled

    model.save_weights(tmp_path / "m.weights.h5")
    other = _mlp()
    x = _data(3, 6)
    other.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    third = _mlp()
    third.load_weights(tmp_path / "m.keras")  # the weights inside a .keras archive
    np.testing.assert_array_equal(third.predict(x, verbose=0), model.predict(x, verbose=0))


def test_get_config_from_config_every_layer():
    cases = [layers.Dense(3, activation="relu"), layers.Conv2D(2, 3, strides=2, padding="same"),
             layers.MaxPooling2D(3), layers.AveragePooling2D((2, 1)), layers.GlobalMaxPooling2D(keepdims=True),
             layers.GlobalAveragePooling2D(), layers.Flatten(), layers.Reshape((2, -1)), layers.Dropout(0.3, seed=2),
             layers.Activation("sigmoid"), layers.BatchNormalization(momentum=0.9, epsilon=0.01),
             layers.Add(), layers.Subtract(), layers.Multiply(), layers.Average(), layers.Maximum(), layers.Minimum(),
             layers.Concatenate(axis=1), layers.InputLayer(shape=(3,)), Scale(3.0)]
    for layer in cases:
        config = keras.saving.serialize_keras_object(layer)
        assert config["module"] == ("keras.layers" if type(layer) is not Scale else Scale.__module__)
        clone = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
        assert type(clone) is type(layer)
        assert json.loads(json.dumps(clone.get_config())) == json.loads(json.dumps(layer.get_config()))
    seq = _mlp(name="cfg")
    assert keras.Sequential.from_config(seq.get_config()).get_config() == seq.get_config()
    assert keras.models.model_from_json(seq.to_json()).get_config() == seq.get_config()


def test_serialize_objects_in_keras_schema():
    adam = keras.saving.serialize_keras_object(keras.optimizers.Adam(0.01))
    assert (adam["module"], adam["class_name"], adam["registered_name"]) == ("keras.optimizers", "Adam", None)
    again = keras.saving.deserialize_keras_object(adam)
    assert isinstance(again, keras.optimizers.Adam) and again.learning_rate == pytest.approx(0.01)
    loss = keras.saving.serialize_keras_object(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert loss["module"] == "keras.losses"
    assert keras.saving.deserialize_keras_object(loss).get_config()["from_logits"] is True
    init = keras.saving.serialize_keras_object(keras.initializers.GlorotUniform(seed=3))
    assert init["config"] == {"seed": 3, "input_axes": None, "output_axes": None}
    assert keras.saving.get_registered_name(Scale) == "lamina_fixtures>Scale"
    assert keras.saving.get_registered_object("lamina_fixtures>Scale") is Scale
    fn = keras.saving.serialize_keras_object(keras.activations.relu)
    assert fn == {"module": "builtins", "class_name": "function", "config": "relu", "registered_name": "function"}
    assert keras.saving.deserialize_keras_object(fn) is keras.activations.relu


def test_registered_activation_function_round_trip(tmp_path):
    @keras.saving.register_keras_serializable(package="lamina_tests")
    def shifted_relu(x):
        return ops.relu(ops.subtract(x, 0.1))

    inp = keras.Input((3,))
    model = keras.Model(inp, layers.Dense(2, activation=shifted_relu)(inp))
    model.save(tmp_path / "f.keras")
    layer_config = json.loads(_archive(tmp_path / "f.keras")["config.json"])["config"]["layers"][1]["config"]
    assert layer_config["activation"]["config"] == "lamina_tests>shifted_relu"
    loaded = keras.saving.load_model(tmp_path / "f.keras")
    assert loaded.layers[1].activation is shifted_relu


# ================================================================ Keras 3.15 -> lamina

FIXTURE_NAMES = ["seq_mlp", "cnn", "functional_multi", "nested", "subclassed"]


def _fixture(name):
    data = np.load(os.path.join(FIXTURES, f"{name}.npz"))
    xs = [data[k] for k in sorted(data) if k.startswith("x")]
    ys = [data[k] for k in sorted(data) if k.startswith("y")]
    return data, (xs[0] if len(xs) == 1 else xs), ys


def test_fixtures_are_small():
    total = sum(os.path.getsize(os.path.join(FIXTURES, f)) for f in os.listdir(FIXTURES))
    assert total < 200 * 1024


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_keras_files_load_and_predict_the_same(name):
    model = keras.saving.load_model(os.path.join(FIXTURES, f"{name}.keras"))
    _, x, ys = _fixture(name)
    for got, want in zip(_as_list(model.predict(x, verbose=0)), ys):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_keras_compiled_file_restores_compile_and_optimizer_state():
    model = keras.saving.load_model(os.path.join(FIXTURES, "seq_mlp.keras"))
    assert model.compiled and isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.learning_rate == pytest.approx(0.01) and int(model.optimizer.iterations) == 8
    assert model.loss == "sparse_categorical_crossentropy"
    assert any(float(np.abs(v.numpy()).max()) > 0 for v in model.optimizer.variables[2:])
    model.evaluate(_data(4, 6), np.array([0, 1, 2, 0]), verbose=0)
    assert model.metrics_names == ["loss", "accuracy"]


def test_lamina_continues_keras_training_like_keras():
    """One more step from Keras's saved SGD-with-momentum state gives Keras's predictions."""
    model = keras.saving.load_model(os.path.join(FIXTURES, "nested.keras"))
    data, x, _ = _fixture("nested")
    model.train_on_batch(data["step_x0"], data["step_y0"])
    np.testing.assert_allclose(model.predict(x, verbose=0), data["after_y0"], rtol=1e-5, atol=1e-6)


def test_keras_weights_files_load_into_lamina_models():
    mlp = _mlp()
    mlp.load_weights(os.path.join(FIXTURES, "seq_mlp.weights.h5"))
    _, x, ys = _fixture("seq_mlp")
    np.testing.assert_allclose(mlp.predict(x, verbose=0), ys[0], rtol=1e-5, atol=1e-6)

    inner_seq = keras.Sequential([keras.Input((6,)), layers.Dense(6, activation="relu"), layers.BatchNormalization()])
    i = keras.Input((6,))
    inner_fn = keras.Model(i, layers.Add()([i, layers.Dense(6, activation="tanh")(i)]))
    x_in = keras.Input((6,))
    h = Scale(2.0)(inner_fn(inner_seq(x_in)))
    nested = keras.Model(x_in, layers.Dense(1)(layers.Add()([h, x_in])))
    nested.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    nested.load_weights(os.path.join(FIXTURES, "nested.weights.h5"))
    data, x, ys = _fixture("nested")
    np.testing.assert_allclose(nested.predict(x, verbose=0), ys[0], rtol=1e-5, atol=1e-6)
    assert int(nested.optimizer.iterations) == 8


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_lamina_writes_the_layout_keras_wrote(tmp_path, name):
    """Loading a Keras file and saving it again gives the same weight paths, shapes, group names
    and config structure as Keras's file."""
    model = keras.saving.load_model(os.path.join(FIXTURES, f"{name}.keras"))
    model.save(tmp_path / "again.keras")
    theirs, ours = _archive(os.path.join(FIXTURES, f"{name}.keras")), _archive(tmp_path / "again.keras")
    (our_paths, our_names), (their_paths, their_names) = (_h5_layout(ours["model.weights.h5"]),
                                                          _h5_layout(theirs["model.weights.h5"]))
    assert our_paths == their_paths
    if name == "subclassed":  # the sub-layers of a subclassed model are made again, with new names
        assert set(our_names) == set(their_names)
    else:
        assert our_names == their_names

    def skeleton(c):
        if isinstance(c, dict):
            registered = ">" in str(c.get("registered_name"))  # a user class: its module is where it was defined
            return {k: skeleton(v) for k, v in c.items()
                    if k not in ("shared_object_id", "date_saved") and not (registered and k == "module")}
        if isinstance(c, list):
            return [skeleton(v) for v in c]
        return c

    ours_config, theirs_config = json.loads(ours["config.json"]), json.loads(theirs["config.json"])
    if theirs_config.get("compile_config"):
        optimizer = theirs_config["compile_config"]["optimizer"]  # Keras writes its backend's class
        optimizer.update(module="keras.optimizers", registered_name=None)
    assert skeleton(ours_config) == skeleton(theirs_config)


# ================================================================ lamina -> Keras 3.15

def test_keras_loads_lamina_files(tmp_path):
    """Runs only where `keras` (3.x) is importable in the test interpreter."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    real_keras = pytest.importorskip("keras")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_keras_fixtures", os.path.join(os.path.dirname(FIXTURES), "make_keras_fixtures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # registers the Keras twins of Scale and TinyBlock

    mlp = _mlp()
    mlp.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    mlp.fit(_data(16, 6), RNG.integers(0, 3, 16), batch_size=8, epochs=1, verbose=0)
    tiny = TinyBlock(4)
    tiny(_data(1, 3))
    cases = [(mlp, _data(4, 6)), (_cnn(), _data(2, 8, 8, 2)), (_multi_io(), [_data(2, 5), _data(2, 4, 4, 1)]),
             (_nested(), _data(3, 6)), (tiny, _data(2, 3))]
    for i, (model, x) in enumerate(cases):
        want = _as_list(model.predict(x, verbose=0))
        model.save(tmp_path / f"m{i}.keras")
        model.save_weights(tmp_path / f"m{i}.weights.h5")
        theirs = real_keras.saving.load_model(tmp_path / f"m{i}.keras")
        for got, w in zip(_as_list(theirs.predict(x, verbose=0)), want):
            np.testing.assert_allclose(np.asarray(got), w, rtol=1e-5, atol=1e-6)
        theirs.load_weights(tmp_path / f"m{i}.weights.h5")
        for got, w in zip(_as_list(theirs.predict(x, verbose=0)), want):
            np.testing.assert_allclose(np.asarray(got), w, rtol=1e-5, atol=1e-6)
        if model is mlp:
            assert theirs.compiled and int(theirs.optimizer.iterations) == 2


# ================================================================ safety and errors

def _write_archive(path, config, weights=b"", members=None):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        if config is not None:
            z.writestr("config.json", config if isinstance(config, str) else json.dumps(config))
        z.writestr("model.weights.h5", weights)
        for name, data in (members or {}).items():
            z.writestr(name, data)


def test_lambda_layers_and_lambdas_are_refused(tmp_path):
    inp = keras.Input((3,))
    model = keras.Model(inp, layers.Lambda(lambda t: ops.multiply(t, 2.0))(inp))
    with pytest.warns(UserWarning, match="includes a `lambda`"):
        model.save(tmp_path / "lam.keras")
    for safe_mode in (True, False):
        with pytest.raises(ValueError, match="`Lambda` layer"):
            keras.saving.load_model(tmp_path / "lam.keras", safe_mode=safe_mode)
    lam = {"class_name": "__lambda__", "config": {"code": "AAAA", "defaults": None, "closure": None}}
    for safe_mode in (True, False):
        with pytest.raises(ValueError, match="never executes code"):
            keras.saving.deserialize_keras_object(lam, safe_mode=safe_mode)


def test_unknown_classes_and_functions_are_refused_without_importing(tmp_path):
    config = {"module": "lamina_never_imported_module", "class_name": "Evil", "config": {}, "registered_name": None}
    _write_archive(tmp_path / "evil.keras", config)
    with pytest.raises(ValueError, match="Could not locate class 'Evil'"):
        keras.saving.load_model(tmp_path / "evil.keras")
    assert "lamina_never_imported_module" not in sys.modules
    for module, name in (("os", "system"), ("builtins", "eval"), ("subprocess", "Popen")):
        with pytest.raises(ValueError, match="Could not locate"):
            keras.saving.deserialize_keras_object({"module": module, "class_name": name, "config": {},
                                                   "registered_name": None})
        with pytest.raises(ValueError, match="Could not locate function"):
            keras.saving.deserialize_keras_object({"module": module, "class_name": "function", "config": name,
                                                   "registered_name": "function"})
    dense = keras.saving.serialize_keras_object(layers.Dense(2))
    dense["config"]["activation"] = {"module": "builtins", "class_name": "function", "config": "exec",
                                     "registered_name": "function"}
    with pytest.raises(ValueError, match="exec"):
        keras.saving.deserialize_keras_object(dense)


@pytest.mark.parametrize("case", ["missing", "not_zip", "truncated", "no_config", "bad_json", "no_weights",
                                  "bad_weights", "not_a_model"])
def test_damaged_or_foreign_keras_files_raise_value_error(tmp_path, case):
    good = tmp_path / "good.keras"
    _mlp().save(good)
    path = tmp_path / "bad.keras"
    if case == "not_zip":
        path.write_bytes(b"this is not a zip archive" * 10)
    elif case == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif case == "no_config":
        _write_archive(path, None)
    elif case == "bad_json":
        _write_archive(path, "{not json")
    elif case == "no_weights":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", _archive(good)["config.json"])
    elif case == "bad_weights":
        _write_archive(path, _archive(good)["config.json"].decode(), weights=b"\x89HDF garbage" * 50)
    elif case == "not_a_model":
        _write_archive(path, keras.saving.serialize_keras_object(keras.optimizers.SGD()))
    with pytest.raises(ValueError):
        keras.saving.load_model(path)


def test_corrupted_bytes_raise_value_error_or_load(tmp_path):
    """Random truncations and byte flips of real files: loading either works or raises ValueError
    (never another exception from zipfile, zlib or h5py)."""
    rng = np.random.default_rng(11)
    model = keras.saving.load_model(os.path.join(FIXTURES, "nested.keras"))
    for i in range(30):
        for name in ("nested.keras", "seq_mlp.weights.h5"):
            data = bytearray(open(os.path.join(FIXTURES, name), "rb").read())
            if i % 2:
                data = data[: int(rng.integers(0, len(data)))]
            else:
                for _ in range(int(rng.integers(1, 20))):
                    data[int(rng.integers(len(data)))] = int(rng.integers(256))
            path = tmp_path / f"c{i}_{name}"
            path.write_bytes(bytes(data))
            try:
                if name.endswith(".keras"):
                    keras.saving.load_model(path)
                else:
                    _mlp().load_weights(path)
            except ValueError:
                pass
    assert model.count_params() > 0


def test_wrong_extensions_raise_keras_errors(tmp_path):
    model = _mlp()
    with pytest.raises(ValueError, match="Invalid filepath extension for saving"):
        model.save(tmp_path / "m.txt")
    with pytest.raises(ValueError, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"The filename must end in `\.weights\.h5`"):
        model.save_weights(tmp_path / "m.h5")
    with pytest.raises(ValueError, match="File format not supported"):
        keras.saving.load_model(tmp_path / "m.txt")
    with pytest.raises(ValueError, match="File format not supported"):
        model.load_weights(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="File not found"):
        keras.saving.load_model(tmp_path / "absent.keras")
    with pytest.raises(ValueError, match="File not found"):
        model.load_weights(tmp_path / "absent.weights.h5")
    (tmp_path / "junk.weights.h5").write_bytes(b"junk" * 100)
    with pytest.raises(ValueError, match="not a valid HDF5 file"):
        model.load_weights(tmp_path / "junk.weights.h5")
    assert not os.path.exists(tmp_path / "m.txt") and not os.path.exists(tmp_path / "m.h5")
    unbuilt = keras.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="has not yet been built"):
        unbuilt.save_weights(tmp_path / "u.weights.h5")
    with pytest.raises(ValueError, match="has not yet been built"):
        unbuilt.load_weights(tmp_path / "u.weights.h5")


def test_weights_that_do_not_fit_leave_the_model_unchanged(tmp_path):
    source = keras.Sequential([keras.Input((4,)), layers.Dense(5), layers.Dense(3)])
    source.save_weights(tmp_path / "s.weights.h5")
    target = keras.Sequential([keras.Input((4,)), layers.Dense(5), layers.Dense(2)])  # first layer fits
    before = target_before = target.get_weights()
    with pytest.raises(ValueError, match=r"shape \(5, 2\).*\(5, 3\)") as info:
        target.load_weights(tmp_path / "s.weights.h5")
    assert "model is unchanged" in str(info.value)
    for a, b in zip(target.get_weights(), before):
        np.testing.assert_array_equal(a, b)

    deeper = keras.Sequential([keras.Input((4,)), layers.Dense(5), layers.Dense(3), layers.Dense(1)])
    before = deeper.get_weights()
    with pytest.raises(ValueError, match="expected 2 variables, but received 0"):
        deeper.load_weights(tmp_path / "s.weights.h5")
    for a, b in zip(deeper.get_weights(), before):
        np.testing.assert_array_equal(a, b)

    with pytest.warns(UserWarning, match="could not be loaded"):
        target.load_weights(tmp_path / "s.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(target.layers[0].kernel.numpy(), source.layers[0].kernel.numpy())
    np.testing.assert_array_equal(target.layers[1].kernel.numpy(), target_before[2])  # kept its own


def test_bad_datasets_and_links_are_refused(tmp_path):
    model = keras.Sequential([keras.Input((2,)), layers.Dense(2)])
    path = tmp_path / "w.weights.h5"
    for make in ("text", "softlink", "group"):
        with h5py.File(path, "w") as f:
            group = f.create_group("layers/dense/vars")
            f.create_group("vars")
            group["0"] = np.ones((2, 2), "float32")
            if make == "text":
                group["1"] = np.array([b"ab", b"cd"])
            elif make == "softlink":
                f["elsewhere"] = np.ones((2,), "float32")
                group["1"] = h5py.SoftLink("/elsewhere")
            else:
                group.create_group("1")
        before = model.get_weights()
        with pytest.raises(ValueError):
            model.load_weights(path)
        for a, b in zip(model.get_weights(), before):
            np.testing.assert_array_equal(a, b)


def test_interrupted_save_never_leaves_a_broken_file(tmp_path, monkeypatch):
    model = _mlp()
    path = tmp_path / "m.keras"
    model.save(path)
    original = path.read_bytes()
    model.save_weights(tmp_path / "m.weights.h5")
    original_weights = (tmp_path / "m.weights.h5").read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("interrupted while writing")

    monkeypatch.setattr(saving_lib, "write_weights", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    with pytest.raises(KeyboardInterrupt):
        model.save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(KeyboardInterrupt):
        model.save(tmp_path / "new.keras")
    assert path.read_bytes() == original and (tmp_path / "m.weights.h5").read_bytes() == original_weights
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "m.weights.h5"]  # no temporary file left
    monkeypatch.undo()
    assert keras.saving.load_model(path).count_params() == model.count_params()


# ================================================================ ModelCheckpoint

def _fit_data():
    return _data(16, 6), RNG.integers(0, 3, 16)


def test_model_checkpoint_writes_a_file_per_epoch(tmp_path):
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = _fit_data()
    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / "ckpt" / "model_{epoch:02d}.keras"), monitor="loss")
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["model_01.keras", "model_02.keras", "model_03.keras"]
    last = keras.saving.load_model(tmp_path / "ckpt" / "model_03.keras")
    np.testing.assert_array_equal(last.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(last.optimizer.iterations) == 6


def test_model_checkpoint_weights_only_with_val_loss_in_the_name(tmp_path):
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = _fit_data()
    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / "w_{epoch:02d}_{val_loss:.2f}.weights.h5"),
                                         save_weights_only=True)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25, callbacks=[cb])
    names = sorted(os.listdir(tmp_path))
    assert names == [f"w_{i + 1:02d}_{v:.2f}.weights.h5" for i, v in enumerate(history.history["val_loss"])]
    fresh = _mlp()
    fresh.load_weights(tmp_path / names[-1])
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_model_checkpoint_save_best_only(tmp_path, capsys):
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / "best_{epoch}.keras"), save_best_only=True, verbose=1)
    cb.set_model(model)
    for epoch, val_loss in enumerate([1.0, 2.0, 0.5, 0.7]):
        cb.on_epoch_end(epoch, {"loss": 1.0, "val_loss": val_loss})
    assert sorted(os.listdir(tmp_path)) == ["best_1.keras", "best_3.keras"]
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from None to 1.00000, saving model to" in out
    assert "Epoch 2: val_loss did not improve from 1.00000" in out
    assert "Epoch 3: val_loss improved from 1.00000 to 0.50000" in out

    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / "acc.weights.h5"), monitor="val_accuracy", mode="max",
                                         save_best_only=True, save_weights_only=True, initial_value_threshold=0.8)
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_accuracy": 0.7})
    assert not os.path.exists(tmp_path / "acc.weights.h5")
    cb.on_epoch_end(1, {"val_accuracy": 0.9})
    assert os.path.exists(tmp_path / "acc.weights.h5")
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        keras.callbacks.ModelCheckpoint(str(tmp_path / "x.keras"), save_best_only=True, mode="min")._should_save_model(
            0, None, {}, "x")


def test_model_checkpoint_save_freq_and_errors(tmp_path):
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = _fit_data()
    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}_b{batch}.keras"), save_freq=3)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[cb])  # 4 batches an epoch: saves at 3, 6
    assert sorted(os.listdir(tmp_path)) == ["e1_b3.keras", "e2_b2.keras"]
    with pytest.raises(ValueError, match="must end in `.keras`"):
        keras.callbacks.ModelCheckpoint("model.weights.h5")
    with pytest.raises(ValueError, match="must end in `.weights.h5`"):
        keras.callbacks.ModelCheckpoint("model.keras", save_weights_only=True)
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        keras.callbacks.ModelCheckpoint("model.keras", save_freq="batch")
    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / "{missing}.keras"))
    cb.set_model(model)
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        cb.on_epoch_end(0, {"loss": 1.0})
