"""The guide "The Sequential model", snippet by snippet: lamina prints what Keras 3.15 prints.

The reference output was made by real Keras 3.15.1 (see tests/guide/README.md). Where the guide
and Keras 3.15 differ, the guide wins: the tests below say where.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lamina as keras
from lamina import layers, ops

GUIDE = Path(__file__).parent / "guide"


def _segments(text):
    return text.split("\n<<<>>>\n")


@pytest.fixture(scope="module")
def lamina_segments():
    env = dict(os.environ, COLUMNS="80")
    out = subprocess.run([sys.executable, str(GUIDE / "guide_snippets.py"), "lamina"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return _segments(out.stdout)


def test_every_guide_segment_matches_keras(lamina_segments):
    expected = _segments((GUIDE / "guide_keras_3_15.txt").read_text())
    assert len(lamina_segments) == len(expected)
    for i, (got, want) in enumerate(zip(lamina_segments, expected)):
        assert got == want, f"segment {i} differs:\n--- lamina\n{got}\n--- keras 3.15\n{want}"


def test_guide_counts_and_shapes(lamina_segments):
    text = "\n".join(lamina_segments)
    assert "Number of weights after calling the model: 6" in text
    assert " Total params: 35 (140.00 B)" in text
    assert " Total params: 11,680 (45.62 KB)" in text
    assert " Total params: 48,672 (190.12 KB)" in text
    assert " Total params: 49,002 (191.41 KB)" in text
    assert "│ max_pooling2d (MaxPooling2D)    │ (None, 40, 40, 32)     │             0 │" in text
    assert "dense_6/kernel (4, 3) float32" in text


def test_variable_repr_follows_the_guide():
    layer = layers.Dense(3, name="guide_dense")
    layer(ops.ones((1, 4)))
    assert repr(layer.weights) == ("[<Variable shape=(4, 3), dtype=float32, path=guide_dense/kernel>, "
                                   "<Variable shape=(3,), dtype=float32, path=guide_dense/bias>]")
    assert np.asarray(layer.weights[0]).shape == (4, 3)


def test_unbuilt_sequential_weights_and_summary_raise_as_the_guide_says():
    # Keras 3.15 returns [] and prints "?" rows here; the guide (and lamina) raise ValueError.
    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"),
                              layers.Dense(4)])
    with pytest.raises(ValueError, match="not yet been created.*build"):
        model.weights
    with pytest.raises(ValueError, match="not yet been built.*build"):
        model.summary()
    model(ops.ones((1, 4)))
    assert len(model.weights) == 6


def test_summary_prints_to_stdout_without_print_fn(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2, name="only_dense")])
    model.summary()
    out = capsys.readouterr().out
    assert out.startswith(f'Model: "{model.name}"\n┏')
    assert "│ only_dense (Dense)              │ (None, 2)              │            10 │" in out
    assert out.rstrip().endswith("Non-trainable params: 0 (0.00 B)")


def test_summary_width_follows_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
    lines = []
    model.summary(print_fn=lines.append)
    assert max(len(l) for l in lines[0].splitlines()) == 88  # min(88, columns - 4)


def test_the_guide_cnn_runs_forward_with_the_guide_shapes():
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    x = np.random.default_rng(0).random((2, 250, 250, 3), dtype=np.float32)
    y = model(x)
    assert isinstance(y, keras.Tensor) and y.shape == (2, 10)
    assert model.count_params() == 49_002
    assert np.isfinite(np.asarray(y)).all()
