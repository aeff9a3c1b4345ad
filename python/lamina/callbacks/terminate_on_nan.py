"""`TerminateOnNaN`: stops training at the first batch whose loss is NaN or infinite."""
import numpy as np

from lamina.callbacks.base import Callback, print_msg

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stops training when a batch's logged loss (the epoch's running mean) is NaN or infinite:
    prints "Batch N: Invalid loss, terminating training" and sets `model.stop_training`, so `fit`
    ends after that batch (the epoch's end hooks still run). With `raise_error=True` it raises
    RuntimeError at once instead (no `on_train_end`).
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. "
                                   f"Loss value: {loss}. Terminating training immediately.")
            print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
