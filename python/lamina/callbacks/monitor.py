"""Callbacks that watch one logged quantity across epochs: `EarlyStopping` and
`ReduceLROnPlateau`, on Keras 3's `MonitorCallback` (same improvement rule, same inference of the
direction from the metric in "auto" mode, same messages and warnings)."""
import warnings

import numpy as np

from lamina import losses
from lamina.callbacks.base import Callback, print_msg

__all__ = ["MonitorCallback", "EarlyStopping", "ReduceLROnPlateau"]

# Keras 3 marks these metrics `_direction = "up"` / "down" (a subclass inherits its base's mark);
# lamina's metrics carry no such attribute, so the names of their classes (and bases) decide.
_UP = frozenset([
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "Precision", "Recall", "AUC",
    "SensitivitySpecificityBase", "PearsonCorrelation", "ConcordanceCorrelation", "FBetaScore",
    "F1Score", "IoU", "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU", "CosineSimilarity",
    "R2Score"])
_DOWN = frozenset([
    "Hinge", "SquaredHinge", "CategoricalHinge", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "MeanSquaredError", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "RootMeanSquaredError",
    "LogCoshError"])


def _is_loss(fn):
    known = list(losses.ALL_OBJECTS_DICT.values())
    return any(fn is obj for obj in known) or any(type(fn) is obj for obj in known)


def metric_direction(metric):
    """"up" (to maximize), "down" (to minimize) or None (unknown), as Keras 3 marks its metrics:
    accuracies, precision, recall, AUC, ... go up; errors and crossentropies go down; a
    `MeanMetricWrapper` of a loss function goes down; other metrics are unknown."""
    direction = getattr(metric, "_direction", None)
    if direction in ("up", "down"):
        return direction
    for cls in type(metric).__mro__:
        if not cls.__module__.startswith("lamina."):
            continue
        if cls.__name__ in _UP:
            return "up"
        if cls.__name__ in _DOWN:
            return "down"
        if cls.__name__ == "MeanMetricWrapper" and _is_loss(getattr(metric, "_fn", None)):
            return "down"
    return None


def _less(a, b):
    return bool(np.less(a, b))


def _greater(a, b):
    return bool(np.greater(a, b))


class MonitorCallback(Callback):
    """Base of the callbacks that monitor a quantity (`monitor`, a key of the epoch logs) and
    decide whether a new value improves on a reference: in "min" mode it must be lower by more
    than `min_delta`, in "max" mode higher by more than `min_delta`. "auto" infers the direction
    at the first epoch end: minimize "loss" / "val_loss", else follow the compiled metric of that
    name (accuracy up, mae down, ...); if it cannot tell, ValueError."""

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ["auto", "min", "max"]:
            warnings.warn(f"{self.__class__.__name__} mode '{mode}' is unknown, fallback to auto mode.",
                          stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = _less
        elif self.mode == "max":
            self.monitor_op = _greater
        else:
            metric_name = self.monitor.removeprefix("val_")
            if metric_name == "loss":
                self.monitor_op = _less
            try:
                metrics = list(getattr(self.model, "metrics", None) or [])
            except Exception:  # a model whose `metrics` cannot be listed yet
                metrics = []
            for m in metrics:
                if getattr(m, "name", None) == metric_name:
                    direction = metric_direction(m)
                    if direction == "up":
                        self.monitor_op = _greater
                    elif direction == "down":
                        self.monitor_op = _less
            if self.monitor_op is None:
                raise ValueError(
                    f"{self.__class__.__name__} callback received monitor={self.monitor}, but Keras isn't "
                    "able to automatically determine whether that metric should be maximized or "
                    "minimized. Pass `mode='max'` in order to monitor based on the highest metric "
                    "value, or pass `mode='min'` in order to use the lowest value.")
        if self.monitor_op is _less:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return self.monitor_op(monitor_value - self.min_delta, reference_value)


class EarlyStopping(MonitorCallback):
    """Stops training when the monitored quantity has stopped improving.

    At each epoch end the value of `monitor` is compared with the best so far; after `patience`
    epochs without an improvement (by more than `min_delta`), `model.stop_training` is set and
    `fit` ends after that epoch. With `baseline`, the wait is only reset by values that also beat
    the baseline. Epochs before `start_from_epoch` are not monitored. With
    `restore_best_weights=True` the model gets back, at the end of training, the weights it had at
    the end of the best epoch (whether or not training was stopped early). `verbose=1` prints
    "Epoch N: early stopping" and "Restoring model weights from the end of the best epoch: N.".

    Args:
        monitor: the logs key to watch ("val_loss", "loss", "val_accuracy", ...).
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 0 or 1.
        mode: "auto", "min" or "max".
        baseline: value the monitored quantity must beat.
        restore_best_weights: whether to restore the best epoch's weights at the end.
        start_from_epoch: epochs of warm-up during which nothing is monitored.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        # Instances may be reused across `fit` calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()  # delayed until the model's metrics are built
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Nothing recorded yet: the current weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Restart the wait only when beating both the baseline and the previous best.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        monitor_value = logs.get(self.monitor)
        if monitor_value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(list(logs.keys()))}", stacklevel=2)
        return monitor_value


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the optimizer's learning rate by `factor` when the monitored quantity has not
    improved for `patience` epochs (never below `min_lr`), then waits `cooldown` epochs before
    counting again. Adds the learning rate of each epoch (before any reduction) to the epoch logs
    as `learning_rate`, so `History` records it. `verbose=1` prints
    "Epoch N: ReduceLROnPlateau reducing learning rate to X.".

    Args:
        monitor: the logs key to watch.
        factor: `new_lr = lr * factor` (must be < 1).
        patience: epochs without improvement before a reduction.
        verbose: 0 or 1.
        mode: "auto", "min" or "max".
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs after a reduction during which no reduction happens.
        min_lr: lower bound of the learning rate.
        **kwargs: accepted and ignored, as Keras 3 does.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def _reduce_optimizer_lr(self, optimizer, epoch):
        old_lr = float(optimizer.learning_rate)
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            return True
        return False

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs or {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(list(logs.keys()))}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_optimizer_lr(self.model.optimizer, epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0
