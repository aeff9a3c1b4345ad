"""Saving walks the model through each object's own hooks, as Keras 3 does: `save_own_variables(store)`
and `load_own_variables(store)` on layers, models and optimizers (a user's override is what the
file holds), the attributes skipped are those of the base classes' plain instances, and lamina's
classes reach the serialization table by registering themselves (`keras_export`)."""
import inspect
import io
import os
import zipfile

import h5py
import numpy as np
import pytest

import lamina as keras
from lamina import layers
from lamina.saving import saving_lib
from lamina.saving.object_registration import BUILTIN_CLASSES, BUILTIN_NAMES, keras_export
from lamina.utils import naming

RNG = np.random.default_rng(11)


def _data(*shape):
    return RNG.random(shape).astype("float32")


def _datasets(source):
    """{dataset path: array} of a weights file (a path, or the bytes of one)."""
    out = {}
    with h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r") as f:
        f.visititems(lambda path, obj: out.__setitem__(path, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def packed_dense_class(api):
    """A dense layer, written with `api` (lamina or Keras 3), that stores its kernel and bias as one
    array, `packed` (the bias as the last row), and a Python attribute `note` beside it: nothing of
    the default layout."""

    @api.saving.register_keras_serializable(package="own_variables_test")
    class PackedDense(api.layers.Layer):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.note = 0

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer="random_normal", name="bias")

        def call(self, x):
            return api.ops.matmul(x, self.kernel) + self.bias

        def get_config(self):
            return {**super().get_config(), "units": self.units}

        def save_own_variables(self, store):
            store["packed"] = np.concatenate([np.asarray(self.kernel), np.asarray(self.bias)[None]])
            store["note"] = np.array(self.note)

        def load_own_variables(self, store):
            packed = np.asarray(store["packed"])
            self.kernel.assign(packed[:-1])
            self.bias.assign(packed[-1])
            self.note = int(np.asarray(store["note"]))

    return PackedDense


PackedDense = packed_dense_class(keras)


def _packed_model():
    model = keras.Sequential([keras.Input((4,)), PackedDense(3), layers.Dense(2)])
    model.layers[0].note = 7
    return model


@pytest.mark.parametrize("kind", ["keras", "weights"])
def test_a_layers_own_save_and_load_are_what_the_file_holds(tmp_path, kind):
    model = _packed_model()
    x = _data(5, 4)
    want = model.predict(x, verbose=0)
    path = tmp_path / ("m.keras" if kind == "keras" else "m.weights.h5")
    model.save(path) if kind == "keras" else model.save_weights(path)
    if kind == "keras":
        with zipfile.ZipFile(path) as z:
            stored = _datasets(z.read("model.weights.h5"))
    else:
        stored = _datasets(str(path))
    layer = model.layers[0]
    packed = stored["layers/packed_dense/vars/packed"]
    np.testing.assert_array_equal(packed[:-1], layer.kernel.numpy())
    np.testing.assert_array_equal(packed[-1], layer.bias.numpy())
    assert stored["layers/packed_dense/vars/note"] == 7
    assert "layers/packed_dense/vars/0" not in stored  # the default layout is not written beside it

    if kind == "keras":
        loaded = keras.saving.load_model(path)
    else:
        loaded = _packed_model()
        loaded.layers[0].note = 0
        loaded.load_weights(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), want)
    assert loaded.layers[0].note == 7


@keras.saving.register_keras_serializable(package="own_variables_test")
class ReversedSGD(keras.optimizers.SGD):
    """Writes its variables last first under the keys "v0", "v1", ..."""

    def save_own_variables(self, store):
        for i, v in enumerate(reversed(self.variables)):
            store[f"v{i}"] = v.numpy()

    def load_own_variables(self, store):
        for i, v in enumerate(reversed(self.variables)):
            v.assign(store[f"v{i}"])


def test_an_optimizers_own_save_and_load_are_honoured(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile(ReversedSGD(0.1, momentum=0.9), "mse")
    model.fit(_data(8, 3), _data(8, 2), batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        stored = _datasets(z.read("model.weights.h5"))
    variables = model.optimizer.variables
    assert sorted(k for k in stored if k.startswith("optimizer/")) == \
        sorted(f"optimizer/vars/v{i}" for i in range(len(variables)))
    np.testing.assert_array_equal(stored["optimizer/vars/v0"], variables[-1].numpy())
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is ReversedSGD and int(loaded.optimizer.iterations) == 2
    for a, b in zip(loaded.optimizer.variables, variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


class HalfLoaded(layers.Dense):
    """Assigns its kernel, then fails: the load must give the kernel its value back."""

    def load_own_variables(self, store):
        self.kernel.assign(np.full(self.kernel.shape, 5.0, "float32"))
        raise ValueError("this layer refuses the file")


def _three(middle):
    return keras.Sequential([keras.Input((3,)), layers.Dense(4), middle, layers.Dense(2)])


def test_a_failing_own_load_leaves_the_whole_model_unchanged(tmp_path):
    _three(HalfLoaded(4)).save_weights(tmp_path / "w.weights.h5")  # saved by the default hook
    target = _three(HalfLoaded(4))
    before = target.get_weights()
    with pytest.raises(ValueError, match="this layer refuses the file") as info:
        target.load_weights(tmp_path / "w.weights.h5")
    assert "HalfLoaded" in str(info.value) and "model is unchanged" in str(info.value)
    for a, b in zip(target.get_weights(), before):
        np.testing.assert_array_equal(a, b)

    with pytest.warns(UserWarning, match="could not be loaded"):
        target.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    source = _datasets(str(tmp_path / "w.weights.h5"))
    np.testing.assert_array_equal(target.layers[0].kernel.numpy(), source["layers/dense/vars/0"])
    np.testing.assert_array_equal(target.layers[2].kernel.numpy(), source["layers/dense_1/vars/0"])
    np.testing.assert_array_equal(target.layers[1].kernel.numpy(), before[2])  # given back its own value


def test_an_integer_variable_refuses_non_integer_values(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(_data(4, 3), _data(4, 2), batch_size=4, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r+") as f:
        del f["optimizer/vars/0"]
        f["optimizer/vars/0"] = np.float64(1.5)  # `iteration` is int64
    before = [v.numpy() for v in model.weights + model.optimizer.variables]
    with pytest.raises(ValueError, match="non-integer values"):
        model.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip([v.numpy() for v in model.weights + model.optimizer.variables], before):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- the walk's skip set

def test_the_skip_set_is_what_a_plain_base_instance_has():
    dense = layers.Dense(2)
    assert saving_lib._attribute_skipset(dense) == frozenset(vars(layers.Layer(name="plain")))
    model = keras.Sequential([layers.Dense(2)])
    skip = saving_lib._attribute_skipset(model)
    assert {"_layers", "_tracked_layers", "_inbound_nodes"} <= skip
    assert skip == frozenset(vars(keras.Sequential(name="plain")))
    x = keras.Input((2,))
    functional = saving_lib._attribute_skipset(keras.Model(x, layers.Dense(1)(x)))
    assert {"_operations", "_nodes", "_flat_inputs"} <= functional
    optimizer = saving_lib._attribute_skipset(keras.optimizers.Adam())
    assert {"_variables", "_slots", "_iterations"} <= optimizer


def test_building_the_references_takes_no_automatic_name():
    # The automatic names handed out after the skip sets are built are the ones that come next
    # without building them (the counters live in C++: compared through what they hand out).
    prefixes = ["dense", "sequential", "functional", "model", "sub", "sgd", "variable", "layer"]

    def names_after(build_skipsets):
        keras.utils.clear_session()
        saving_lib._skipsets.clear()
        x = keras.Input((2,))
        objects = [layers.Dense(2), keras.Sequential(), keras.Model(x, layers.Dense(1)(x)),
                   type("Sub", (keras.Model,), {"call": lambda self, t: t})(), keras.optimizers.SGD()]
        if build_skipsets:
            for obj in objects:
                saving_lib._attribute_skipset(obj)
        return [naming.auto_name(p) for p in prefixes]

    assert names_after(True) == names_after(False)
    names_after(True)
    assert set(saving_lib._skipsets) == {"Layer", "Sequential", "Functional", "Model", "Optimizer"}


def test_a_user_attribute_holding_layers_is_walked_and_base_internals_are_not(tmp_path):
    class Holder(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.stack = {"a": [layers.Dense(2)], "b": layers.Dense(3)}

        def call(self, x):
            return self.stack["b"](self.stack["a"][0](x))

    model = Holder()
    model(_data(1, 4))
    model.save_weights(tmp_path / "w.weights.h5")
    stored = _datasets(str(tmp_path / "w.weights.h5"))
    assert "stack/container/dense/vars/0" in stored and "stack/dense/vars/0" in stored
    assert not any(k.startswith(("_tracked_layers", "_inbound_nodes", "~")) for k in stored)


# ---------------------------------------------------------------- registration

def _public_classes():
    out = []
    for module, base in [(keras.layers, keras.layers.Layer), (keras.initializers, keras.initializers.Initializer),
                         (keras.optimizers.schedules, keras.optimizers.schedules.LearningRateSchedule)]:
        out += [getattr(module, n) for n in module.__all__
                if inspect.isclass(getattr(module, n)) and issubclass(getattr(module, n), base)]
    out += list(keras.optimizers.ALL_OBJECTS) + list(keras.losses._CLASSES) + list(keras.metrics._CLASSES)
    return out + [keras.Sequential, keras.Model, keras.models.Functional]


def test_every_public_class_registered_itself():
    missing = [cls.__qualname__ for cls in _public_classes() if cls not in BUILTIN_NAMES]
    assert missing == []
    assert BUILTIN_NAMES[layers.Dense] == ("keras.layers", "Dense", None)
    assert BUILTIN_NAMES[keras.models.Functional] == ("keras.src.models.functional", "Functional", "Functional")
    assert BUILTIN_CLASSES["schedules"]["ExponentialDecay"] is keras.optimizers.schedules.ExponentialDecay
    assert BUILTIN_CLASSES["metrics"]["MeanSquaredError"] is keras.metrics.MeanSquaredError
    assert BUILTIN_CLASSES["losses"]["MeanSquaredError"] is keras.losses.MeanSquaredError
    assert "Lambda" in {name for _, name, _ in BUILTIN_NAMES.values()}
    assert "Lambda" not in BUILTIN_CLASSES["layers"]  # written as Keras writes it, never built from a file


def test_keras_export_checks_the_name_it_is_given():
    with pytest.raises(ValueError, match="names 'Dense', but decorates Other"):
        keras_export("keras.layers.Dense")(type("Other", (layers.Layer,), {}))
    with pytest.raises(ValueError, match="already exported"):
        keras_export("keras.layers.Dense")(type("Dense", (layers.Layer,), {}))


# ---------------------------------------------------------------- Keras reads and writes the same

def test_keras_reads_and_writes_a_layers_own_layout(tmp_path):
    """Runs only where `keras` (3.x) is importable in the test interpreter."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    real_keras = pytest.importorskip("keras")

    packed_dense_class(real_keras)  # registers the Keras twin under the same name

    x = _data(5, 4)
    ours = _packed_model()
    ours.save(tmp_path / "ours.keras")
    theirs = real_keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), ours.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert theirs.layers[0].note == 7

    theirs.layers[0].note = 3
    theirs.save(tmp_path / "theirs.keras")
    back = keras.saving.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    assert back.layers[0].note == 3
