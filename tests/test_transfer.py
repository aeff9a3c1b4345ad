"""The guide's transfer-learning blueprints: freezing that always means what it says."""
import warnings

import numpy as np
import pytest

import lamina as keras
from lamina import layers


def _snapshot(layer):
    return [w.numpy().copy() for w in layer.weights]


def _data(n=64, features=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = rng.normal(size=(n, 32)).astype("float32")
    return x, y


def test_freeze_all_layers_except_the_last_one():
    # The guide's first blueprint, placeholders filled in.
    model = keras.Sequential([
        keras.Input(shape=(16,)),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(10),
    ])
    # Presumably you would want to first load pre-trained weights.
    # Freeze all layers except the last one.
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6
    lines = []
    model.summary(print_fn=lines.append, show_trainable=True)
    assert "Trainable params: 330 (1.29 KB)" in lines[0]
    assert "Non-trainable params: 2,656 (10.38 KB)" in lines[0]
    before = [_snapshot(l) for l in model.layers]
    # Recompile and train (this will only update the weights of the last layer).
    model.compile(optimizer="adam", loss="mse")
    x, _ = _data()
    model.fit(x, np.random.default_rng(1).normal(size=(64, 10)).astype("float32"), epochs=3, verbose=0)
    for layer, old in zip(model.layers[:-1], before[:-1]):
        for a, b in zip(old, _snapshot(layer)):
            np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(before[-1], _snapshot(model.layers[-1])))


def test_frozen_base_model_under_a_new_head_then_fine_tuning():
    keras.utils.set_random_seed(0)
    base_model = keras.Sequential([keras.Input(shape=(8, 8, 3)), layers.Conv2D(4, 3, activation="relu"),
                                   layers.Conv2D(4, 3, activation="relu"), layers.GlobalAveragePooling2D()],
                                  name="base")
    base_model.trainable = False
    model = keras.Sequential([base_model, layers.Dense(2)])
    assert model.count_params() == base_model.count_params() + 10
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 4
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 8, 8, 3), dtype=np.float32), rng.random((32, 2), dtype=np.float32)
    base_before = _snapshot(base_model)
    head_before = _snapshot(model.layers[-1])
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(base_before, _snapshot(base_model)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(head_before, _snapshot(model.layers[-1])))
    # Unfreeze and fine-tune with a low learning rate: the base now moves too.
    base_model.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
    assert len(model.trainable_weights) == 6
    model.fit(x, y, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(base_before, _snapshot(base_model)))


def test_freezing_between_two_fits_without_recompiling():
    model = keras.Sequential([keras.Input(shape=(16,)), layers.Dense(32, activation="relu"), layers.Dense(32)])
    model.compile(optimizer="adam", loss="mse")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    first = model.layers[0]
    first.trainable = False
    frozen = _snapshot(first)
    with pytest.warns(UserWarning, match=r"trainable weights .* changed .*\(4 -> 2"):
        model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, _snapshot(first)):
        np.testing.assert_array_equal(a, b)
    first.trainable = True
    with pytest.warns(UserWarning, match="2 -> 4"):
        model.fit(x, y, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(frozen, _snapshot(first)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no change, no warning
        model.fit(x, y, epochs=1, verbose=0)


def test_the_guide_blueprint_as_written_before_the_model_is_built():
    # Exactly the guide's code: no input shape, layers frozen before their weights exist.
    model = keras.Sequential([
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(10),
    ])

    # Presumably you would want to first load pre-trained weights.
    # (lamina's load_weights comes with saving; building the model stands in for it here.)
    model.build((None, 16))
    trained = [_snapshot(l) for l in model.layers]

    # Freeze all layers except the last one.
    for layer in model.layers[:-1]:
        layer.trainable = False

    # Recompile and train (this will only update the weights of the last layer).
    model.compile(optimizer="rmsprop", loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 16)).astype("float32")
    model.fit(x, np.zeros((32, 10), "float32"), epochs=2, verbose=0)
    for layer, old in zip(model.layers[:-1], trained[:-1]):
        for a, b in zip(old, _snapshot(layer)):
            np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(trained[-1], _snapshot(model.layers[-1])))


def test_layers_frozen_before_they_are_built_create_frozen_weights():
    model = keras.Sequential([layers.Dense(4), layers.Dense(2)])
    model.layers[0].trainable = False
    model(np.ones((1, 3), "float32"))
    assert [w.path.split("/")[-2:] for w in model.trainable_weights] == [[model.layers[1].name, "kernel"],
                                                                      [model.layers[1].name, "bias"]]
    assert len(model.non_trainable_weights) == 2
