"""Keras 3's training callbacks: EarlyStopping, ReduceLROnPlateau, LearningRateScheduler,
CSVLogger, TerminateOnNaN and LambdaCallback, on tiny Dense models.

Epoch counts, learning rates, file contents, printed messages and warnings are the values
Keras 3.15.1 (torch backend) gives for the same runs. Most runs feed the monitored quantity from a
scripted sequence (the `Script` callback, placed first, writes it into the epoch logs) so that the
expected values do not depend on the training numerics."""
import inspect
import math
import os
import pathlib
import re
import warnings

import numpy as np
import pytest

import lamina as keras
from lamina import callbacks, layers

RNG = np.random.RandomState(0)
X = RNG.randn(16, 3).astype("float32")
Y = X.sum(1, keepdims=True)
Y_BIN = (Y > 0).astype("float32")

SEQ = [5, 4, 3, 3.5, 3.2, 3.1, 3.05, 2.0, 2.5, 2.6, 2.7, 2.8]      # a loss-like sequence
ACC = [0.5, 0.6, 0.7, 0.65, 0.7, 0.71, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]  # an accuracy-like sequence
LR = 0.009999999776482582  # float32(0.01), as `optimizer.learning_rate` reads it (Keras too)


def _model(lr=0.01, metrics=None, loss="mse", activation=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1, activation=activation)])
    model.compile(keras.optimizers.SGD(lr), loss, metrics=metrics)
    return model


class Script(callbacks.Callback):
    """Writes `seq[epoch]` into the epoch logs under `key`."""

    def __init__(self, key, seq):
        super().__init__()
        self.key, self.seq = key, seq

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.seq[epoch]


class WeightRecorder(callbacks.Callback):
    """The model's weights at the end of every epoch."""

    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _fit(cbs, epochs=10, x=X, y=Y, verbose=0, model=None, **fit_kwargs):
    model = model or _model()
    history = model.fit(x, y, epochs=epochs, batch_size=8, verbose=verbose, callbacks=cbs, **fit_kwargs)
    return model, history


def _same(ws1, ws2):
    return len(ws1) == len(ws2) and all(np.array_equal(a, b) for a, b in zip(ws1, ws2))


def test_exports_and_defaults():
    for name in ["Callback", "CallbackList", "History", "ProgbarLogger", "LambdaCallback", "EarlyStopping",
                 "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN"]:
        assert name in callbacks.__all__ and getattr(keras.callbacks, name) is getattr(callbacks, name)

    def defaults(cls):
        return {k: p.default for k, p in inspect.signature(cls).parameters.items()
                if p.kind is p.POSITIONAL_OR_KEYWORD}

    assert defaults(callbacks.EarlyStopping) == dict(
        monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
        restore_best_weights=False, start_from_epoch=0)
    assert defaults(callbacks.ReduceLROnPlateau) == dict(
        monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4, cooldown=0,
        min_lr=0.0)
    assert list(inspect.signature(callbacks.LearningRateScheduler).parameters) == ["schedule", "verbose"]
    assert defaults(callbacks.CSVLogger) == dict(filename=inspect.Parameter.empty, separator=",", append=False)
    assert defaults(callbacks.TerminateOnNaN) == dict(raise_error=False)
    assert list(inspect.signature(callbacks.LambdaCallback).parameters) == [
        "on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end", "on_train_batch_begin",
        "on_train_batch_end", "kwargs"]


# ---------------------------------------------------------------- EarlyStopping


# (name, sequence, kwargs, epochs run, stopped_epoch, best, wait, best_epoch): Keras 3.15's values.
ES_CASES = [
    ("patience0", SEQ, {}, 4, 3, 3, 1, 2),
    ("patience2", SEQ, dict(patience=2), 5, 4, 3, 2, 2),
    ("baseline_not_reached", SEQ, dict(patience=2, baseline=1.0), 4, 3, 3, 4, 2),
    ("baseline_reached", SEQ, dict(patience=2, baseline=4.5), 5, 4, 3, 2, 2),
    ("start_from_epoch", SEQ, dict(patience=1, start_from_epoch=4), 9, 8, 2.0, 1, 7),
    ("min_delta", SEQ, dict(patience=1, min_delta=0.5), 4, 3, 3, 1, 2),
    ("min_delta_small", SEQ, dict(patience=2, min_delta=0.15), 5, 4, 3, 2, 2),
    ("max", ACC, dict(monitor="val_accuracy", mode="max", patience=1), 4, 3, 0.7, 1, 2),
    ("min_on_accuracy", ACC, dict(monitor="val_accuracy", mode="min", patience=1), 2, 1, 0.5, 1, 0),
    ("max_min_delta", ACC, dict(monitor="val_accuracy", mode="max", patience=2, min_delta=0.05), 5, 4, 0.7, 2, 2),
]


@pytest.mark.parametrize("name,seq,kwargs,epochs_run,stopped,best,wait,best_epoch", ES_CASES,
                         ids=[c[0] for c in ES_CASES])
def test_early_stopping_stops_when_keras_does(capsys, name, seq, kwargs, epochs_run, stopped, best, wait,
                                              best_epoch):
    es = callbacks.EarlyStopping(verbose=1, **kwargs)
    model, history = _fit([Script(kwargs.get("monitor", "val_loss"), seq), es])
    assert len(history.history["loss"]) == epochs_run and history.epoch == list(range(epochs_run))
    assert (es.stopped_epoch, es.best, es.wait, es.best_epoch) == (stopped, best, wait, best_epoch)
    assert model.stop_training
    assert capsys.readouterr().out == f"Epoch {stopped + 1}: early stopping\n"


# (kwargs, epochs, epochs run, best epoch index, message): Keras 3.15's values.
RESTORE_CASES = [
    (dict(patience=2), 10, 5, 2, "Epoch 5: early stopping\nRestoring model weights from the end of the best epoch: 3.\n"),
    (dict(patience=3), 10, 6, 2, "Epoch 6: early stopping\nRestoring model weights from the end of the best epoch: 3.\n"),
    (dict(patience=30), 5, 5, 2, "Restoring model weights from the end of the best epoch: 3.\n"),
    (dict(patience=2, baseline=1.0), 10, 4, 2,
     "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 3.\n"),
    (dict(patience=1, start_from_epoch=4), 10, 9, 7,
     "Epoch 9: early stopping\nRestoring model weights from the end of the best epoch: 8.\n"),
]


@pytest.mark.parametrize("kwargs,epochs,epochs_run,best_epoch,message", RESTORE_CASES)
def test_restore_best_weights_restores_exactly_the_best_epoch(capsys, kwargs, epochs, epochs_run, best_epoch,
                                                              message):
    recorder = WeightRecorder()
    es = callbacks.EarlyStopping(verbose=1, restore_best_weights=True, **kwargs)
    model, history = _fit([Script("val_loss", SEQ), recorder, es], epochs=epochs)
    assert len(recorder.weights) == epochs_run and es.best_epoch == best_epoch
    assert _same(model.get_weights(), recorder.weights[best_epoch])
    assert not _same(model.get_weights(), recorder.weights[-1])
    assert capsys.readouterr().out == message


def test_without_restore_the_last_weights_stay():
    recorder = WeightRecorder()
    model, _ = _fit([Script("val_loss", SEQ), recorder, callbacks.EarlyStopping(patience=2)])
    assert _same(model.get_weights(), recorder.weights[-1])


def test_restore_best_weights_on_real_training():
    # Monitoring the real training loss with a learning rate large enough to diverge after a while.
    recorder = WeightRecorder()
    es = callbacks.EarlyStopping(monitor="loss", patience=100, restore_best_weights=True)
    model, history = _fit([recorder, es], epochs=6, model=_model(lr=0.65), shuffle=False)
    best = int(np.argmin(history.history["loss"]))
    assert 0 < best < 5, history.history["loss"]
    assert es.best_epoch == best and es.best == min(history.history["loss"])
    assert _same(model.get_weights(), recorder.weights[best])
    assert not _same(model.get_weights(), recorder.weights[-1])


def test_early_stopping_on_real_training():
    # A learning rate of 0: the loss never improves after the first epoch.
    # (No shuffling: another batch order can change the mean loss in its last bits.)
    _, history = _fit([callbacks.EarlyStopping(monitor="loss", patience=2)], model=_model(lr=0.0), shuffle=False)
    assert len(history.history["loss"]) == 3
    # Steadily decreasing loss: never stops, unless every change is below min_delta.
    _, history = _fit([callbacks.EarlyStopping(monitor="loss")], epochs=6)
    assert len(history.history["loss"]) == 6
    assert np.all(np.diff(history.history["loss"]) < 0)
    _, history = _fit([callbacks.EarlyStopping(monitor="loss", min_delta=100.0)], epochs=6)
    assert len(history.history["loss"]) == 2
    # On validation data, the default monitor.
    _, history = _fit([callbacks.EarlyStopping(patience=1)], epochs=6, validation_data=(X, Y), model=_model(lr=0.0),
                      shuffle=False)
    assert len(history.history["val_loss"]) == 2


def test_early_stopping_instances_are_reusable():
    es = callbacks.EarlyStopping(patience=2)
    model = _model()
    _, h1 = _fit([Script("val_loss", SEQ), es], model=model)
    _, h2 = _fit([Script("val_loss", SEQ), es], model=model)
    assert len(h1.history["loss"]) == len(h2.history["loss"]) == 5


def test_auto_mode_follows_the_metric():
    def op_for(monitor, metrics):
        es = callbacks.EarlyStopping(monitor=monitor)
        _fit([es], epochs=1, model=_model(metrics=metrics, loss="binary_crossentropy", activation="sigmoid"),
             y=Y_BIN, validation_data=(X, Y_BIN))
        return "max" if es.monitor_op(1.0, 0.0) else "min"

    assert op_for("val_loss", None) == "min"
    assert op_for("val_accuracy", ["accuracy"]) == "max"
    assert op_for("acc", ["acc"]) == "max"
    assert op_for("val_auc", ["auc"]) == "max"
    assert op_for("precision", [keras.metrics.Precision(name="precision")]) == "max"  # named: an automatic name depends on the metrics made before
    assert op_for("val_mae", ["mae"]) == "min"
    assert op_for("root_mean_squared_error", [keras.metrics.RootMeanSquaredError(name="root_mean_squared_error")]) == "min"
    assert op_for("binary_crossentropy", ["binary_crossentropy"]) == "min"
    # Keras cannot tell for these either.
    for monitor, metrics in [("val_accuracy", ["mae"]), ("foo", None),
                             ("true_positives", [keras.metrics.TruePositives(name="true_positives")])]:
        with pytest.raises(ValueError, match=re.escape(
                f"EarlyStopping callback received monitor={monitor}, but Keras isn't able to automatically "
                "determine whether that metric should be maximized or minimized. Pass `mode='max'` in order "
                "to monitor based on the highest metric value, or pass `mode='min'` in order to use the "
                "lowest value.")):
            op_for(monitor, metrics)


def test_auto_mode_on_accuracy_stops_when_it_stops_rising(capsys):
    es = callbacks.EarlyStopping(monitor="val_accuracy", patience=1, verbose=1)
    _, history = _fit([Script("val_accuracy", ACC), es], model=_model(metrics=["accuracy"], loss="binary_crossentropy",
                                                                      activation="sigmoid"), y=Y_BIN)
    assert len(history.history["loss"]) == 4 and es.best == 0.7
    assert capsys.readouterr().out == "Epoch 4: early stopping\n"


def test_early_stopping_warns_when_the_metric_is_missing(capsys):
    with pytest.warns(UserWarning) as record:
        _, history = _fit([callbacks.EarlyStopping(patience=2, verbose=1)], epochs=2)
    messages = [str(w.message) for w in record]
    assert messages == ["Early stopping conditioned on metric `val_loss` which is not available. "
                        "Available metrics are: loss"] * 2
    assert len(history.history["loss"]) == 2 and capsys.readouterr().out == ""


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="^EarlyStopping mode 'bogus' is unknown, fallback to auto mode.$"):
        assert callbacks.EarlyStopping(mode="bogus").mode == "auto"
    with pytest.warns(UserWarning, match="^ReduceLROnPlateau mode 'x' is unknown, fallback to auto mode.$"):
        assert callbacks.ReduceLROnPlateau(mode="x").mode == "auto"


# ---------------------------------------------------------------- ReduceLROnPlateau


def _lrs(*pairs):
    out = []
    for value, n in pairs:
        out += [value] * n
    return out


# Keras 3.15's learning rates per epoch (logged before that epoch's reduction) and messages.
RLR_CASES = [
    ("patience2", SEQ, dict(patience=2),
     _lrs((LR, 5), (0.0009999999310821295, 2), (9.99999901978299e-05, 3), (9.99999883788405e-06, 2)),
     [(5, "0.0009999999776482583"), (7, "9.999999310821295e-05"), (10, "9.999999019782991e-06"),
      (12, "9.99999883788405e-07")], 9.99999883788405e-07),
    ("cooldown", SEQ, dict(patience=1, cooldown=2),
     _lrs((LR, 4), (0.0009999999310821295, 2), (9.99999901978299e-05, 3), (9.99999883788405e-06, 2),
          (9.99999883788405e-07, 1)),
     [(4, "0.0009999999776482583"), (6, "9.999999310821295e-05"), (9, "9.999999019782991e-06"),
      (11, "9.99999883788405e-07")], 9.99999883788405e-07),
    ("min_lr", SEQ, dict(patience=1, min_lr=0.0005, factor=0.5),
     _lrs((LR, 4), (0.004999999888241291, 1), (0.0024999999441206455, 1), (0.0012499999720603228, 1),
          (0.0006249999860301614, 2), (0.0005000000237487257, 3)),
     [(4, "0.004999999888241291"), (5, "0.0024999999441206455"), (6, "0.0012499999720603228"),
      (7, "0.0006249999860301614"), (9, "0.0005")], 0.0005000000237487257),
    ("min_lr_reached", SEQ, dict(patience=1, min_lr=0.0001),
     _lrs((LR, 4), (0.0009999999310821295, 1), (9.999999747378752e-05, 7)),
     [(4, "0.0009999999776482583"), (5, "0.0001")], 9.999999747378752e-05),
    ("max", ACC, dict(monitor="val_accuracy", mode="max", patience=1, factor=0.5),
     _lrs((LR, 4), (0.004999999888241291, 1), (0.0024999999441206455, 3), (0.0012499999720603228, 1),
          (0.0006249999860301614, 1), (0.0003124999930150807, 1), (0.00015624999650754035, 1)),
     [(4, "0.004999999888241291"), (5, "0.0024999999441206455"), (8, "0.0012499999720603228"),
      (9, "0.0006249999860301614"), (10, "0.0003124999930150807"), (11, "0.00015624999650754035"),
      (12, "7.812499825377017e-05")], 7.812499825377017e-05),
    ("min_delta", SEQ, dict(patience=1, min_delta=0.5, factor=0.5),
     _lrs((LR, 4), (0.004999999888241291, 1), (0.0024999999441206455, 1), (0.0012499999720603228, 1),
          (0.0006249999860301614, 2), (0.0003124999930150807, 1), (0.00015624999650754035, 1),
          (7.812499825377017e-05, 1)),
     [(4, "0.004999999888241291"), (5, "0.0024999999441206455"), (6, "0.0012499999720603228"),
      (7, "0.0006249999860301614"), (9, "0.0003124999930150807"), (10, "0.00015624999650754035"),
      (11, "7.812499825377017e-05"), (12, "3.9062499126885086e-05")], 3.9062499126885086e-05),
    ("already_at_min_lr", SEQ, dict(patience=1, min_lr=0.01), _lrs((LR, 12)), [], LR),
]


@pytest.mark.parametrize("name,seq,kwargs,lrs,messages,final_lr", RLR_CASES, ids=[c[0] for c in RLR_CASES])
def test_reduce_lr_on_plateau_matches_keras(capsys, name, seq, kwargs, lrs, messages, final_lr):
    cb = callbacks.ReduceLROnPlateau(verbose=1, **kwargs)
    model, history = _fit([Script(kwargs.get("monitor", "val_loss"), seq), cb], epochs=12)
    assert history.history["learning_rate"] == lrs
    assert sorted(history.history) == sorted(["learning_rate", "loss", kwargs.get("monitor", "val_loss")])
    assert model.optimizer.learning_rate == final_lr
    assert capsys.readouterr().out == "".join(
        f"\nEpoch {e}: ReduceLROnPlateau reducing learning rate to {v}.\n" for e, v in messages)


def test_reduce_lr_on_plateau_on_real_training():
    # min_delta larger than any change: no epoch improves, so the rate drops after each `patience` epochs.
    lrs = []
    watch = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: lrs.append(model.optimizer.learning_rate))
    model = _model(lr=0.01)
    cb = callbacks.ReduceLROnPlateau(monitor="loss", patience=2, factor=0.5, min_delta=100.0)
    _, history = _fit([watch, cb], epochs=7, model=model)
    expected = [np.float32(0.01 * 0.5 ** k) for k in [0, 0, 0, 1, 1, 2, 2]]
    assert np.allclose(lrs, expected, rtol=1e-6)
    assert history.history["learning_rate"] == lrs  # logged before the epoch's own reduction
    assert model.optimizer.learning_rate == pytest.approx(0.01 * 0.5 ** 3, rel=1e-6)


def test_reduce_lr_on_plateau_learning_rate_reaches_the_progress_bar(capsys):
    cbs = [callbacks.EarlyStopping(monitor="loss", mode="min", verbose=1),
           callbacks.ReduceLROnPlateau(monitor="loss", patience=1, verbose=1)]
    _fit(cbs, epochs=3, verbose=2, model=_model(lr=0.0), shuffle=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/3" and lines[2] == "Epoch 2/3" and lines[4] == "Epoch 2: early stopping"
    for line in (lines[1], lines[3]):
        assert re.fullmatch(r"2/2 - \d+s - \d+(us|ms|s)/step - loss: \d+\.\d{4} - learning_rate: 0\.0000e\+00",
                            line), line
    assert len(lines) == 5


def test_reduce_lr_on_plateau_checks_and_warnings():
    with pytest.raises(ValueError, match=re.escape(
            "ReduceLROnPlateau does not support a factor >= 1.0. Received factor=1.0")):
        callbacks.ReduceLROnPlateau(factor=1.0)
    callbacks.ReduceLROnPlateau(epsilon=1e-3)  # unknown keywords are ignored, as in Keras 3
    with pytest.warns(UserWarning) as record:
        _, history = _fit([callbacks.ReduceLROnPlateau(patience=1, verbose=1)], epochs=2)
    assert [str(w.message) for w in record] == [
        "Learning rate reduction is conditioned on metric `val_loss` which is not available. "
        "Available metrics are: loss,learning_rate."] * 2
    assert history.history["learning_rate"] == [LR, LR]


def test_reduce_lr_on_plateau_instances_are_reusable():
    cb = callbacks.ReduceLROnPlateau(patience=2)
    _, h1 = _fit([Script("val_loss", SEQ), cb], epochs=6)
    _, h2 = _fit([Script("val_loss", SEQ), cb], epochs=6)
    assert h1.history["learning_rate"] == h2.history["learning_rate"] == _lrs((LR, 5), (0.0009999999310821295, 1))


# ---------------------------------------------------------------- LearningRateScheduler


@pytest.mark.parametrize("schedule,lrs,printed", [
    (lambda epoch, lr: lr * 0.5, [0.004999999888241291, 0.0024999999441206455, 0.0012499999720603228],
     ["0.004999999888241291", "0.0024999999441206455", "0.0012499999720603228"]),
    (lambda epoch: 0.1 / (epoch + 1), [0.10000000149011612, 0.05000000074505806, 0.03333333507180214],
     ["0.1", "0.05", "0.03333333333333333"]),
    (lambda epoch: np.float32(0.1) / (epoch + 1), [0.10000000149011612, 0.05000000074505806, 0.03333333507180214],
     ["0.10000000149011612", "0.05000000074505806", "0.03333333507180214"]),
    (lambda epoch, lr: np.float64(0.3), [0.30000001192092896] * 3, ["0.3"] * 3),
], ids=["epoch_lr", "epoch", "float32", "float64"])
def test_learning_rate_scheduler_matches_keras(capsys, schedule, lrs, printed):
    seen = []
    watch = callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(model.optimizer.learning_rate))
    model = _model()
    _, history = _fit([callbacks.LearningRateScheduler(schedule, verbose=1), watch], epochs=3, model=model)
    assert history.history["learning_rate"] == lrs
    assert seen == [lr for lr in lrs for _ in range(2)]  # the rate is in place for every batch of the epoch
    assert model.optimizer.learning_rate == lrs[-1]
    assert capsys.readouterr().out == "".join(
        f"\nEpoch {i + 1}: LearningRateScheduler setting learning rate to {p}.\n" for i, p in enumerate(printed))


def test_learning_rate_scheduler_drives_training():
    model = _model()
    before = model.get_weights()
    _fit([callbacks.LearningRateScheduler(lambda epoch: 0.0)], epochs=2, model=model)
    assert _same(model.get_weights(), before)
    _fit([callbacks.LearningRateScheduler(lambda epoch: 0.0 if epoch < 2 else 0.05)], epochs=3, model=model)
    assert not _same(model.get_weights(), before)


def test_learning_rate_scheduler_wants_a_float():
    with pytest.raises(ValueError, match=re.escape("The output of the `schedule` function should be a float. Got: 1")):
        _fit([callbacks.LearningRateScheduler(lambda epoch: 1)], epochs=1)


# ---------------------------------------------------------------- CSVLogger


def _csv_rows(history, keys, sep=","):
    rows = []
    for epoch in range(len(history.history["loss"])):
        rows.append(sep.join([str(epoch)] + [repr(history.history[k][epoch]) if k in history.history else "NA"
                                             for k in keys]))
    return rows


def test_csv_logger_writes_keras_format(tmp_path):
    path = tmp_path / "log.csv"
    cb = callbacks.CSVLogger(str(path))
    _, history = _fit([cb], epochs=3)
    data = path.read_bytes().decode()
    # No "val_" key: Keras adds the val_ columns anyway, left "NA".
    assert data == "\r\n".join(["epoch,loss,val_loss"] + _csv_rows(history, ["loss", "val_loss"])) + "\r\n"
    assert cb.csv_file.closed


def test_csv_logger_with_validation_and_metrics(tmp_path):
    path = tmp_path / "log.csv"
    _, history = _fit([callbacks.CSVLogger(path)], epochs=2, validation_data=(X, Y),
                      model=_model(metrics=["mae"]))  # a pathlib.Path works too
    keys = ["loss", "mae", "val_loss", "val_mae"]
    assert path.read_text().splitlines() == ["epoch," + ",".join(keys)] + _csv_rows(history, keys)


def test_csv_logger_sees_entries_added_by_earlier_callbacks(tmp_path):
    path = tmp_path / "log.csv"
    _, history = _fit([callbacks.ReduceLROnPlateau(monitor="loss"), callbacks.CSVLogger(str(path))], epochs=2)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,learning_rate,loss,val_learning_rate,val_loss"
    assert lines[1:] == _csv_rows(history, ["learning_rate", "loss", "val_learning_rate", "val_loss"])


def test_csv_logger_append_and_overwrite(tmp_path):
    path = str(tmp_path / "log.csv")
    _, h1 = _fit([callbacks.CSVLogger(path)], epochs=2)
    _, h2 = _fit([callbacks.CSVLogger(path, separator=";", append=True)], epochs=2)
    assert open(path).read().splitlines() == (["epoch,loss,val_loss"] + _csv_rows(h1, ["loss", "val_loss"])
                                              + _csv_rows(h2, ["loss", "val_loss"], sep=";"))
    _, h3 = _fit([callbacks.CSVLogger(path)], epochs=1)
    assert open(path).read().splitlines() == ["epoch,loss,val_loss"] + _csv_rows(h3, ["loss", "val_loss"])
    # Append mode on a new file: one header, even over several `fit` calls.
    new = str(tmp_path / "new.csv")
    cb = callbacks.CSVLogger(new, append=True)
    _, h4 = _fit([cb], epochs=1)
    _, h5 = _fit([cb], epochs=2)
    assert open(new).read().splitlines() == (["epoch,loss,val_loss"] + _csv_rows(h4, ["loss", "val_loss"])
                                             + _csv_rows(h5, ["loss", "val_loss"]))


def test_csv_logger_flushes_every_epoch(tmp_path):
    path = tmp_path / "log.csv"
    seen = []
    reader = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(len(path.read_text().splitlines())))
    _fit([callbacks.CSVLogger(str(path)), reader], epochs=3)
    assert seen == [2, 3, 4]


def test_csv_logger_array_values_and_missing_directory(tmp_path):
    path = tmp_path / "log.csv"
    cb = callbacks.CSVLogger(str(path))
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 1.5, "val_vec": np.array([1, 2]), "val_name": "a"})
    cb.on_epoch_end(1, {"loss": 0.5})
    cb.on_train_end()
    assert path.read_text().splitlines() == ['epoch,loss,val_name,val_vec', '0,1.5,a,"""[1, 2]"""', "1,0.5,NA,NA"]
    with pytest.raises(FileNotFoundError):
        _fit([callbacks.CSVLogger(str(tmp_path / "no" / "such" / "dir.csv"))], epochs=1)


# ---------------------------------------------------------------- TerminateOnNaN


@pytest.mark.parametrize("row,batch", [(0, 0), (12, 1)])
def test_terminate_on_nan_with_nan_data(capsys, row, batch):
    x = X.copy()
    x[row, 0] = np.nan
    ended = []
    end = callbacks.LambdaCallback(on_train_end=lambda logs: ended.append(True))
    seen = []
    batches = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    model, history = _fit([callbacks.TerminateOnNaN(), batches, end], epochs=5, x=x, shuffle=False)
    assert capsys.readouterr().out == f"Batch {batch}: Invalid loss, terminating training\n"
    assert seen == list(range(batch + 1)) and ended == [True] and model.stop_training
    assert len(history.history["loss"]) == 1 and math.isnan(history.history["loss"][0])


def test_terminate_on_nan_with_a_diverging_learning_rate(capsys):
    model, history = _fit([callbacks.TerminateOnNaN()], epochs=20, model=_model(lr=1e12))
    out = capsys.readouterr().out
    assert re.fullmatch(r"Batch [01]: Invalid loss, terminating training\n", out), out
    assert len(history.history["loss"]) < 20 and not np.isfinite(history.history["loss"][-1])
    assert all(np.isfinite(history.history["loss"][:-1]))


def test_terminate_on_nan_can_raise():
    x = X.copy()
    x[0, 0] = np.nan
    ended = []
    end = callbacks.LambdaCallback(on_train_end=lambda logs: ended.append(True))
    with pytest.raises(RuntimeError, match=r"^NaN or Inf loss encountered at batch 0\. Loss value: nan\. "
                                           r"Terminating training immediately\.$"):
        _fit([callbacks.TerminateOnNaN(raise_error=True), end], epochs=2, x=x, shuffle=False)
    assert ended == []


def test_terminate_on_nan_leaves_finite_training_alone(capsys):
    _, history = _fit([callbacks.TerminateOnNaN()], epochs=3)
    assert len(history.history["loss"]) == 3 and capsys.readouterr().out == ""


# ---------------------------------------------------------------- LambdaCallback and the logs


def test_lambda_callback_hooks():
    events = []
    cb = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch, logs)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, sorted(logs))),
        on_train_begin=lambda logs: events.append(("train_begin", logs)),
        on_train_end=lambda logs: events.append(("train_end",)),
        on_train_batch_begin=lambda batch, logs: events.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: events.append(("batch_end", batch, sorted(logs))),
        on_test_end=lambda logs: events.append(("test_end", sorted(logs))),
        on_predict_begin=None,  # None: not installed
        note="kept",            # not a hook: an attribute, as in Keras
    )
    assert cb.note == "kept" and cb.on_predict_begin.__func__ is callbacks.Callback.on_predict_begin
    model = _model()
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    assert events == [("train_begin", {}), ("epoch_begin", 0, {}), ("batch_begin", 0), ("batch_end", 0, ["loss"]),
                      ("batch_begin", 1), ("batch_end", 1, ["loss"]), ("epoch_end", 0, ["loss"]), ("train_end",)]
    events.clear()
    model.evaluate(X, Y, verbose=0, callbacks=[cb])
    assert events == [("test_end", ["loss"])]
    with pytest.raises(ValueError, match="Unknown callback hook: on_epoch_ends"):
        callbacks.LambdaCallback(on_epoch_ends=lambda epoch, logs: None)


def test_callbacks_get_python_floats_and_batch_logs_by_keyword():
    got = {}

    class Probe(callbacks.Callback):
        def on_train_batch_end(self, batch, **kwargs):  # Keras passes batch logs as `logs=`
            got["batch"] = kwargs["logs"]

        def on_epoch_end(self, epoch, logs=None):
            got["epoch"] = logs

    _fit([Probe()], epochs=1, model=_model(metrics=["mae"]), validation_data=(X, Y))
    assert list(got["batch"]) == ["loss", "mae"]
    assert list(got["epoch"]) == ["loss", "mae", "val_loss", "val_mae"]
    assert all(type(v) is float for v in list(got["batch"].values()) + list(got["epoch"].values()))


def test_fit_validation_calls_the_test_hooks_as_keras(capsys):
    # Keras 3.15 (torch backend) prints, for this callback and fit(..., validation_data=...) with 2
    # validation batches and 2 epochs: test_begin, test_batch_end 0, test_batch_end 1, test_end,
    # once per epoch, each after that epoch's train batches; the progress bar prints no test lines.
    seen = []

    class Recorder(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(f"train_batch_end {batch}")

        def on_test_begin(self, logs=None):
            seen.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            seen.append(f"test_batch_end {batch}")

        def on_test_end(self, logs=None):
            seen.append(f"test_end {sorted(logs)}")

    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y), validation_batch_size=2,
              callbacks=[Recorder()], verbose=1)
    epoch = ["train_batch_end 0", "test_begin", "test_batch_end 0", "test_batch_end 1",
             "test_end ['loss', 'mae']"]
    assert seen == epoch * 2
    out = capsys.readouterr().out
    assert out.count("Epoch ") == 2 and "val_loss" in out
    assert not re.search(r"^\s*[12]/2 ", out, re.M)  # no bar of the 2 validation batches inside fit
