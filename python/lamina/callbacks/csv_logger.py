"""`CSVLogger`: writes each epoch's logs as a row of a CSV file."""
import collections.abc
import csv
import os

import numpy as np

from lamina.callbacks.base import Callback

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Streams the epoch logs to a CSV file, in Keras's format: a header `epoch,<keys>` with the
    keys of the first epoch's logs sorted (when none starts with "val_", "val_<key>" columns are
    added too, and stay "NA" as missing values do), then one row per epoch; rows end with "\\r\\n"
    (the `csv` module's excel dialect). The file is flushed after every row and closed at the end
    of training. 1-D values (arrays, lists) are written as `"[a, b, ...]"`.

    Args:
        filename: path of the file (str or path-like).
        separator: the field separator.
        append: True to add rows to an existing file (no second header when it is not empty);
            False to overwrite it.

        model.fit(x, y, epochs=10, callbacks=[keras.callbacks.CSVLogger("training.log")])
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename) if isinstance(filename, os.PathLike) else filename
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", encoding="utf-8", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        self._close()  # a file left open by an interrupted `fit`
        # newline="": the csv module writes the line endings itself.
        self.csv_file = open(self.filename, mode, encoding="utf-8", newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            is_zero_dim_ndarray = isinstance(k, np.ndarray) and k.ndim == 0
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and not is_zero_dim_ndarray:
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
            if not any(key.startswith("val_") for key in self.keys) and self.keys:
                self.keys.extend([f"val_{k}" for k in self.keys])
        if not self.writer:
            class CustomDialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + (self.keys or []),
                                         dialect=CustomDialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()
        self.writer = None

    def __del__(self):
        try:
            self._close()
        except Exception:
            pass
