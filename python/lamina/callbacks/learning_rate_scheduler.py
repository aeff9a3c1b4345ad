"""`LearningRateScheduler`: sets the optimizer's learning rate at the start of every epoch."""
import numpy as np

from lamina.callbacks.base import Callback, print_msg

__all__ = ["LearningRateScheduler"]


class LearningRateScheduler(Callback):
    """At the start of each epoch, sets the optimizer's learning rate to `schedule(epoch, lr)`
    (`epoch` counts from 0, `lr` is the current learning rate as a float), or `schedule(epoch)`
    for a function that takes one argument (tried when calling with two raises TypeError, as in
    Keras). The result must be a float (Python, `np.float32` or `np.float64`). Adds the learning
    rate to the epoch logs as `learning_rate`. `verbose=1` prints
    "Epoch N: LearningRateScheduler setting learning rate to X.".

        def scheduler(epoch, lr):
            return lr if epoch < 10 else lr * 0.9
        model.fit(x, y, callbacks=[keras.callbacks.LearningRateScheduler(scheduler)])
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _update_optimizer_lr(self, optimizer, epoch):
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:  # schedule(epoch, lr)
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        learning_rate = self._update_optimizer_lr(self.model.optimizer, epoch)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
