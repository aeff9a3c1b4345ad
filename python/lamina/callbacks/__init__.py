"""Callbacks (`keras.callbacks`): hooks that `fit`, `evaluate` and `predict` call at the start and
end of training, epochs and batches, with Keras 3's classes, arguments, defaults and messages.

`History` and the progress bar (`ProgbarLogger`) are added by `fit` itself; `model.stop_training =
True` from a callback ends `fit` after the current batch and epoch.

- `EarlyStopping`: stop when a monitored quantity stops improving (optionally restoring the best
  epoch's weights);
- `ReduceLROnPlateau`: lower the learning rate when it stops improving;
- `LearningRateScheduler`: set the learning rate each epoch from a function;
- `CSVLogger`: write the epoch logs to a CSV file;
- `TerminateOnNaN`: stop at the first NaN / infinite loss;
- `ModelCheckpoint`: save the model or its weights every epoch (or only the best ones);
- `LambdaCallback`: a callback from plain functions.
"""
from lamina.callbacks.base import Callback, CallbackList, History, LambdaCallback, ProgbarLogger
from lamina.callbacks.csv_logger import CSVLogger
from lamina.callbacks.learning_rate_scheduler import LearningRateScheduler
from lamina.callbacks.model_checkpoint import ModelCheckpoint
from lamina.callbacks.monitor import EarlyStopping, MonitorCallback, ReduceLROnPlateau
from lamina.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = ["Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback", "ProgbarLogger", "ReduceLROnPlateau",
           "TerminateOnNaN"]
