"""Training state stays in lamina (issue 13, point 5): metrics update their state variables with
lamina ops (no tensor -> NumPy / Python conversion per batch), the loss tracker is a `Mean`, and the
logs are converted to Python floats only when a callback or the progress bar reads them."""
import copy
import json
import os
import pickle
import sys

import numpy as np
import pytest

import lamina as keras
from lamina import callbacks, metrics
from lamina.backend import Tensor
from lamina.callbacks.base import Logs

rng = np.random.default_rng(0)
X = rng.normal(size=(64, 6)).astype("float32")
Y = (X[:, :1] + 0.3 * X[:, 1:2] > 0).astype("float32")  # (64, 1)


_OPTIMIZERS = os.path.join("lamina", "optimizers", "")


def _from_optimizer():
    frame = sys._getframe(2)
    while frame is not None:
        if _OPTIMIZERS in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


class Conversions:
    """Counts the tensor -> NumPy / Python scalar conversions (every one goes through
    `Tensor._numpy_view` or `Tensor._item`) made outside the optimizer (whose step counter and
    learning rate are read as Python numbers each step: not the state this file is about)."""

    def __init__(self, monkeypatch):
        self.count = 0
        for name in ("_numpy_view", "_item"):
            original = getattr(Tensor, name)

            def counted(t, *args, _original=original, **kwargs):
                if not _from_optimizer():
                    self.count += 1
                return _original(t, *args, **kwargs)

            monkeypatch.setattr(Tensor, name, counted)


def _model(metrics_list):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=metrics_list)
    return model


def _all_metrics():
    # named: the auto names ("precision", "auc") stay for the other test files
    return ["accuracy", "mae", metrics.AUC(name="m_auc"), metrics.AUC(curve="PR", num_thresholds=7, name="m_pr"),
            metrics.Precision(thresholds=0.3, name="m_p"), metrics.Recall(top_k=1, name="m_r"),
            metrics.TruePositives(name="m_tp"), metrics.RootMeanSquaredError(name="m_rmse"),
            metrics.BinaryCrossentropy(name="m_bce")]


class BatchCounter(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1  # gets the logs, reads none of them


def _conversions_of_fit(monkeypatch, batch_size, verbose=0):
    model = _model(_all_metrics())
    model.fit(X[:8], Y[:8], batch_size=8, epochs=1, verbose=0)  # builds the model and the metrics
    conversions = Conversions(monkeypatch)
    counter = BatchCounter()
    history = model.fit(X, Y, batch_size=batch_size, epochs=2, verbose=verbose, callbacks=[counter])
    monkeypatch.undo()
    return conversions.count, counter.batches, history


def test_fit_converts_no_tensor_per_batch(monkeypatch):
    few, few_batches, _ = _conversions_of_fit(monkeypatch, batch_size=32)
    many, many_batches, history = _conversions_of_fit(monkeypatch, batch_size=4)
    assert (few_batches, many_batches) == (4, 32)
    # 8x the batches, the same conversions: the logs of each epoch's end and of the train end
    assert many == few
    assert few <= 3 * len(history.history)
    for values in history.history.values():
        assert all(type(v) is float for v in values)


def test_progress_bar_converts_only_the_lines_it_draws(monkeypatch, capsys):
    # off a terminal the bar writes the final line of each epoch (and one every 10 s before it)
    few, _, _ = _conversions_of_fit(monkeypatch, batch_size=32, verbose=1)
    many, _, _ = _conversions_of_fit(monkeypatch, batch_size=4, verbose=1)
    assert many == few
    out = capsys.readouterr().out
    assert " - loss: " in out and " - accuracy: " in out


@pytest.mark.parametrize("metric", _all_metrics()[2:] + [
    metrics.Mean(name="m_mean"), metrics.Sum(name="m_sum"), metrics.SparseCategoricalAccuracy(name="m_sca"),
    metrics.Precision(thresholds=[0.3, 0.6], name="m_p2"),
    metrics.AUC(multi_label=True, num_labels=1, num_thresholds=5, name="m_auc_ml"),
    metrics.AUC(thresholds=[0.2, 0.7], name="m_auc_t")])
def test_update_state_stays_in_lamina(monkeypatch, metric):
    if isinstance(metric, metrics.SparseCategoricalAccuracy):
        y_true, y_pred = keras.ops.convert_to_tensor(np.array([0, 2, 1])), keras.ops.convert_to_tensor(
            np.eye(3, dtype="float32")[[0, 1, 1]])
        args = (y_true, y_pred)
    elif type(metric) in (metrics.Mean, metrics.Sum):
        args = (keras.ops.convert_to_tensor(X[:5, 0]),)
    else:
        args = (keras.ops.convert_to_tensor(Y[:5]), keras.ops.convert_to_tensor(np.abs(np.tanh(X[:5, :1]))))
    weight = keras.ops.convert_to_tensor(np.linspace(0.5, 1.5, args[0].shape[0]).astype("float32"))
    state_before = [v.value for v in metric.variables]
    conversions = Conversions(monkeypatch)
    metric.update_state(*args)
    metric.update_state(*args, sample_weight=weight)
    result = metric.result()
    count = conversions.count
    monkeypatch.undo()
    assert count == 0
    assert isinstance(result, Tensor) and result.dtype == "float32"
    # the state variables were updated in place (same storage objects, new values)
    state_after = [v.value for v in metric.variables]
    assert len(state_after) == len(state_before) and all(a is b for a, b in zip(state_after, state_before))


def test_the_loss_tracker_is_a_mean_weighted_by_batch_size():
    model = _model(None)
    model.fit(X[:40], Y[:40], batch_size=16, epochs=1, shuffle=False, verbose=0)  # batches 16, 16, 8
    assert isinstance(model._loss_tracker, metrics.Mean)
    assert model._loss_tracker.name == "loss"
    losses = [float(model.compute_loss(y=Y[i:i + n], y_pred=model(X[i:i + n])))
              for i, n in ((0, 16), (16, 16), (32, 8))]
    model.reset_metrics()
    total = 0.0
    for (i, n), loss in zip(((0, 16), (16, 16), (32, 8)), losses):
        model._loss_tracker.update_state(keras.ops.convert_to_tensor(np.float32(loss)), sample_weight=n)
        total += loss * n
    np.testing.assert_allclose(float(model._loss_tracker.result()), total / 40, rtol=1e-6)
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(
        float(np.mean([float(model.compute_loss(y=Y[i:i + 32], y_pred=model(X[i:i + 32]))) for i in (0, 32)])),
        rel=1e-5)


class KeepLogs(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.kept, self.read_at_once = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.kept.append(logs)
        if batch % 2:
            self.read_at_once.append((batch, logs["loss"], logs["accuracy"]))


def test_batch_logs_are_lazy_snapshots_read_as_floats():
    keep = KeepLogs()
    model = _model(["accuracy"])
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[keep])
    assert all(isinstance(logs, Logs) for logs in keep.kept)
    # the even batches' logs were never read: their values are still tensors, and read now they
    # are the values of their batch (not of the last one)
    unread = keep.kept[0]
    assert all(isinstance(v, Tensor) for _, v in unread.lazy_items())
    assert [k for k in unread] == ["accuracy", "loss"]
    for batch, loss, accuracy in keep.read_at_once:
        logs = keep.kept[batch]
        assert type(logs["loss"]) is float and logs["loss"] == loss and logs["accuracy"] == accuracy
    assert len({keep.kept[b]["loss"] for b in range(0, 8, 2)}) == 4
    # every way of reading gives Python floats
    logs = keep.kept[2]
    plain = dict(logs)
    assert all(type(v) is float for v in plain.values())
    assert {**keep.kept[4]} == keep.kept[4] == keep.kept[4].copy()
    assert json.loads(json.dumps(keep.kept[6])) == dict(keep.kept[6])
    assert pickle.loads(pickle.dumps(keep.kept[0])) == dict(keep.kept[0])
    assert copy.deepcopy(keep.kept[0]) == keep.kept[0]
    assert "loss" in repr(keep.kept[0]) and "tensor" not in repr(keep.kept[0])
    assert all(type(v) is float for _, v in keep.kept[0].items())
    assert keep.kept[0].get("missing", 3) == 3


def test_callbacks_that_read_logs_keep_working(tmp_path):
    model = _model(["accuracy"])
    csv_path = tmp_path / "log.csv"
    es = callbacks.EarlyStopping(monitor="accuracy", patience=0, mode="max")
    nan = callbacks.TerminateOnNaN()
    rlr = callbacks.ReduceLROnPlateau(monitor="loss", patience=0)
    history = model.fit(X, Y, batch_size=16, epochs=3, verbose=0, validation_data=(X, Y),
                        callbacks=[es, nan, rlr, callbacks.CSVLogger(str(csv_path))])
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert all(type(v) is float for values in history.history.values() for v in values)
    assert csv_path.read_text().startswith("epoch,accuracy,learning_rate,loss,val_accuracy,val_loss")
    results = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert all(type(v) is float for v in results.values())
    assert all(type(v) is float for v in model.train_on_batch(X, Y))
    # a metric with several thresholds logs an array, as in Keras (float() of it used to fail)
    model = _model([metrics.Precision(thresholds=[0.3, 0.6], name="p2")])
    history = model.fit(X, Y, epochs=1, verbose=0)
    assert isinstance(history.history["p2"][0], np.ndarray) and history.history["p2"][0].shape == (2,)


def test_no_batch_logs_are_computed_when_no_callback_reads_them(monkeypatch):
    model = _model(["accuracy"])
    batch_logs, results = [], []
    original_batch_logs = type(model)._batch_logs
    monkeypatch.setattr(type(model), "_batch_logs", lambda self: batch_logs.append(1) or original_batch_logs(self))
    original_result = metrics.Mean.result
    monkeypatch.setattr(metrics.Mean, "result", lambda self: results.append(self.name) or original_result(self))
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[callbacks.EarlyStopping(monitor="loss")])
    assert len(batch_logs) == 0  # no callback has a batch-end hook
    assert results.count("loss") == 2  # the epoch ends' logs
    del batch_logs[:], results[:]
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[BatchCounter()])
    assert len(batch_logs) == 8  # handed to the hook ...
    assert results.count("loss") == 1  # ... but no batch's result computed: none was read
    del batch_logs[:], results[:]
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0,
              callbacks=[callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: logs["loss"])])
    assert len(batch_logs) == 8 and results.count("loss") == 8 + 1
    assert results.count("accuracy") == 1  # never read in a batch
