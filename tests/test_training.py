"""compile / fit / evaluate / predict: learning on real data (scikit-learn's digits), History, the
progress bar, callbacks, reproducibility, and bad input that leaves the model untouched."""
import io
import re

import numpy as np
import pytest

import lamina as keras
from lamina import callbacks, layers, ops
from lamina.utils.progbar import Progbar

sklearn_datasets = pytest.importorskip("sklearn.datasets")
model_selection = pytest.importorskip("sklearn.model_selection")


@pytest.fixture(scope="module")
def digits():
    data = sklearn_datasets.load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]  # (1797, 8, 8, 1), NHWC
    y = data.target.astype("int64")
    x_train, x_test, y_train, y_test = model_selection.train_test_split(x, y, test_size=0.25, random_state=0)
    return x_train, x_test, y_train, y_test


def _cnn():
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
    ])


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


def test_small_cnn_learns_digits(digits):
    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(0)
    model = _cnn()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=15, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss"]
    assert len(history.history["loss"]) == 15 and history.epoch == list(range(15))
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc >= 0.97, acc
    logits = model.predict(x_test, verbose=0)
    assert isinstance(logits, np.ndarray) and logits.shape == (450, 10)
    assert np.mean(logits.argmax(-1) == y_test) == pytest.approx(acc)


def test_mlp_learns_digits_with_validation(digits):
    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Flatten(),
                              layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=30, validation_split=0.1, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["val_accuracy"][-1] > 0.9
    result = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert sorted(result) == ["accuracy", "loss"] and result["accuracy"] >= 0.96, result


def test_same_seed_same_weights_history_and_predictions(digits):
    x_train, _, y_train, _ = digits

    def run():
        keras.utils.set_random_seed(42)
        model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Flatten(), layers.Dense(16, activation="relu"),
                                  layers.Dropout(0.2), layers.Dense(10)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        h = model.fit(x_train[:256], y_train[:256], batch_size=32, epochs=2, verbose=0)
        return h.history, _weights(model), model.predict(x_train[:8], verbose=0)

    (h1, w1, p1), (h2, w2, p2) = run(), run()
    assert h1 == h2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(p1, p2)


def test_generator_of_batches_and_steps_per_epoch(digits):
    x_train, _, y_train, _ = digits

    def batches():
        while True:
            for i in range(0, 320, 32):
                yield x_train[i:i + 32], y_train[i:i + 32]

    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Flatten(), layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seen = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    history = model.fit(batches(), steps_per_epoch=5, epochs=3, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 3 and seen == [0, 1, 2, 3, 4] * 3


def test_train_test_predict_on_batch_and_sample_weights():
    keras.utils.set_random_seed(0)
    x = np.random.rand(16, 4).astype("float32")
    y = (x.sum(1, keepdims=True) > 2).astype("float32")
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy", metrics=["accuracy"])
    before = model.test_on_batch(x, y)
    for _ in range(50):
        logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"accuracy", "loss"}
    model.reset_metrics()
    after = model.test_on_batch(x, y)
    assert after[0] < before[0]
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x, verbose=0), rtol=1e-6)
    # a zero sample weight removes a sample from the loss
    w = np.ones(16, "float32")
    w[:8] = 0
    model.reset_metrics()
    weighted = model.evaluate(x, y, sample_weight=w, verbose=0)
    model.reset_metrics()
    half = model.evaluate(x[8:], y[8:], verbose=0)
    assert weighted[0] == pytest.approx(half[0] / 2, rel=1e-5)


def test_multi_output_functional_model_trains():
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(5,))
    h = layers.Dense(8, activation="relu")(inp)
    reg = layers.Dense(1, name="reg")(h)
    cls = layers.Dense(3, name="cls")(h)
    model = keras.Model(inp, [reg, cls])
    model.compile("adam", loss=["mse", keras.losses.SparseCategoricalCrossentropy(from_logits=True)],
                  loss_weights=[1.0, 0.5])
    x = np.random.rand(64, 5).astype("float32")
    y_reg, y_cls = x.sum(1, keepdims=True), (x[:, 0] * 3).astype("int64").clip(0, 2)
    history = model.fit(x, [y_reg, y_cls], epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    out_reg, out_cls = model.predict(x, verbose=0)
    assert out_reg.shape == (64, 1) and out_cls.shape == (64, 3)


# ---------------------------------------------------------------- the progress bar


def _strip_times(text):
    return re.sub(r"\d+(ms|us|s)/step", "T/step", re.sub(r" \d+s ", " Ts ", text))


def test_progress_bar_plain_lines_when_not_a_terminal(capsys, digits):
    x_train, _, y_train, _ = digits
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Flatten(), layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "\b" not in out and "\x1b" not in out
    lines = out.strip().split("\n")
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for line, epoch in ((lines[1], 0), (lines[3], 1)):
        acc, loss = history.history["accuracy"][epoch], history.history["loss"][epoch]
        assert re.fullmatch(r"43/43 ━{20} \d+s \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", line), line
        assert f"accuracy: {acc:.4f} - loss: {loss:.4f}" in line
    model.fit(x_train, y_train, epochs=1, verbose=2)
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"43/43 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", line), line
    model.fit(x_train, y_train, epochs=1, verbose=0)
    model.evaluate(x_train, y_train, verbose=0)
    model.predict(x_train, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_redraws_one_line_on_a_terminal():
    stream = io.StringIO()
    bar = Progbar(3, stream=stream, dynamic=True, interval=0)
    for i in range(1, 4):
        bar.update(i, [("loss", 1.0 / i)])
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "\x1b[1m3/3\x1b[0m" in text
    assert "\x1b[32m" + "━" * 20 in text
    last = text.split("\r")[-1]
    assert re.search(r"- loss: 0\.3333", last)


def test_progbar_values_and_formats():
    stream = io.StringIO()
    bar = Progbar(10, stream=stream, dynamic=False)
    bar.update(5, [("loss", 2.0)])
    bar.update(10, [("loss", 1e-5), ("acc", 0.5)])
    line = stream.getvalue().strip()
    assert re.fullmatch(r"10/10 ━{20} \d+s \d+(us|ms|s)/step - loss: 1\.0000e-05 - acc: 0\.5000", line), line


# ---------------------------------------------------------------- callbacks


def test_callbacks_see_every_hook_and_can_stop_training():
    events = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            events.append("train_end")

    x, y = np.random.rand(20, 3).astype("float32"), np.random.rand(20, 1).astype("float32")
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    history = model.fit(x, y, epochs=10, batch_size=10, verbose=0, callbacks=[Recorder()],
                        validation_data=(x, y))
    assert events == ["train_begin", "epoch_begin 0", "epoch_end 0 ['loss', 'mae', 'val_loss', 'val_mae']",
                      "epoch_begin 1", "epoch_end 1 ['loss', 'mae', 'val_loss', 'val_mae']", "train_end"]
    assert len(history.history["loss"]) == 2 and model.history is history


# ---------------------------------------------------------------- bad input


def test_bad_input_gives_clear_errors_and_leaves_weights_untouched(digits):
    x_train, _, y_train, _ = digits
    model = _cnn()
    with pytest.raises(ValueError, match=r"You must call `compile\(\)` before calling `fit\(\)`"):
        model.fit(x_train, y_train, verbose=0)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    before = _weights(model)
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        model.fit(x_train, y_train[:-1], verbose=0)
    bad = y_train.copy()
    bad[-1] = 10  # out of range for 10 classes, in the last batch
    with pytest.raises(ValueError, match=r"label value of 10 which is outside the valid range of \[0, 10\)"):
        model.fit(x_train, bad, verbose=0)
    with pytest.raises(ValueError, match="incompatible with the layer"):
        model.fit(np.zeros((8, 10, 10, 1), "float32"), y_train[:8], verbose=0)
    with pytest.raises(ValueError, match="incompatible with the layer"):
        model.predict(np.zeros((8, 8, 8, 3), "float32"), verbose=0)
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        model.compile(optimizer="no_such_optimizer", loss="mse")
    with pytest.raises(ValueError):
        model.compile(optimizer="adam", loss="no_such_loss")
    model.compile(optimizer="adam", loss="mse", metrics=["no_such_metric"])
    with pytest.raises(ValueError):
        model.fit(x_train[:4], np.zeros((4, 10), "float32"), verbose=0)


def test_the_first_batch_of_a_model_built_by_it_trains():
    """A Sequential without an Input is built by its first training batch; that batch updates the
    new weights (as Keras, which builds the model before the first step), and no warning says the
    trainable weights changed afterwards."""
    import warnings

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    model = keras.Sequential([keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    first_kernel = []
    original_build = keras.layers.Dense.build

    def build(self, input_shape):
        original_build(self, input_shape)
        first_kernel.append(self.kernel.numpy().copy())

    keras.layers.Dense.build = build
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.fit(x, y, batch_size=8, epochs=1, verbose=0)
            assert int(model.optimizer.iterations.numpy()) == 1
            assert not np.array_equal(first_kernel[0], model.layers[0].kernel.numpy())
            model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    finally:
        keras.layers.Dense.build = original_build
    assert int(model.optimizer.iterations.numpy()) == 2
