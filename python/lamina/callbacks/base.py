"""The callback machinery: the `Callback` base class, `CallbackList` (what `fit`, `evaluate` and
`predict` call), `History`, the progress bar (`ProgbarLogger`) and `LambdaCallback`."""
import sys
import weakref

from lamina.backend import Tensor, convert_to_numpy
from lamina.utils.progbar import Progbar

__all__ = ["Callback", "CallbackList", "Deferred", "History", "LambdaCallback", "Logs", "ProgbarLogger"]


def print_msg(message, line_break=True):
    """Writes a callback's message to stdout (Keras's `io_utils.print_msg`)."""
    sys.stdout.write(f"{message}\n" if line_break else str(message))
    sys.stdout.flush()


class Deferred:
    """A log value computed when it is first read: `Deferred(metric.result)`. The trainer's batch
    logs are made of these, so a batch whose logs no one reads computes no result at all (see
    `Logs`); calling it computes the value."""

    __slots__ = ("compute",)

    def __init__(self, compute):
        self.compute = compute

    def __call__(self):
        return self.compute()


def _pythonify(value):
    """A scalar log value (0-d tensor or array, NumPy scalar, int) as a Python float; a lamina
    tensor of another shape as a NumPy array (as Keras); anything else as it is. A `Deferred` is
    computed first."""
    if type(value) is float:
        return value
    if type(value) is Deferred:
        value = value()
    if isinstance(value, (str, bytes)):
        return value
    if tuple(getattr(value, "shape", ())) == ():
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif isinstance(value, Tensor):
        return convert_to_numpy(value)
    return value


def _flatten_logs(logs):
    """The logs with sorted keys and nested dicts flattened, values as they are."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_flatten_logs(value))
        else:
            result[key] = value
    return result


def pythonify_logs(logs):
    """A new dict of the logs with sorted keys, nested dicts flattened and scalar values (0-d
    tensors and arrays, NumPy scalars) converted to Python floats, as Keras's `CallbackList`
    hands them to each callback."""
    return {key: _pythonify(value) for key, value in _flatten_logs(logs).items()}


class Logs(dict):
    """The logs a batch hook receives: a dict (sorted keys, nested dicts flattened, as
    `pythonify_logs`) whose values are computed and converted to Python floats when they are read,
    not before.

    The trainer's batch logs are `Deferred` metric results; computing and converting each one
    every batch would cost every step, while most batches are read by no one (a progress bar that
    redraws a few times a second, a callback that looks at every 100th batch). Every way of
    reading a value (indexing, `get`, `items`, `values`, `copy`, `dict(logs)`, `{**logs}`, ==,
    repr, pickling) sees Python floats. When a callback keeps the logs past its hook,
    `CallbackList` computes what is still deferred (`freeze`) before training goes on, so they keep
    the values of their batch. `lazy_items()` gives the values as stored, for a reader that
    converts them itself within the same hook call (the progress bar, when it draws)."""

    __slots__ = ("__weakref__",)

    def __init__(self, logs=None):
        super().__init__(_flatten_logs(logs))

    def __getitem__(self, key):
        value = dict.__getitem__(self, key)
        if type(value) is not float:
            converted = _pythonify(value)
            if converted is not value:
                dict.__setitem__(self, key, converted)
            value = converted
        return value

    def _converted(self):
        for key in list(dict.keys(self)):
            self[key]
        return self

    def freeze(self):
        """Computes the deferred values now (as tensors, not converted): the metrics change with
        the next batch."""
        for key, value in list(dict.items(self)):
            if type(value) is Deferred:
                dict.__setitem__(self, key, value())

    def lazy_items(self):
        """(key, value) pairs with the values as stored (tensors not yet converted)."""
        return dict.items(self)

    def get(self, key, default=None):
        return self[key] if key in self else default

    # Overriding __iter__ makes dict(logs), {**logs} and dict.update(logs) read through
    # __getitem__ instead of copying the stored values.
    def __iter__(self):
        return dict.__iter__(self)

    def items(self):
        return dict.items(self._converted())

    def values(self):
        return dict.values(self._converted())

    def copy(self):
        return dict(self._converted())

    def pop(self, key, *default):
        if key in self:
            value = self[key]
            dict.__delitem__(self, key)
            return value
        return dict.pop(self, key, *default)

    def popitem(self):
        return dict.popitem(self._converted())

    def setdefault(self, key, default=None):
        if key in self:
            return self[key]
        dict.__setitem__(self, key, default)
        return default

    def __eq__(self, other):
        if isinstance(other, Logs):
            other = other._converted()
        return dict.__eq__(self._converted(), other)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None

    def __or__(self, other):
        return dict(self._converted()) | other

    def __ror__(self, other):
        return other | dict(self._converted())

    def __repr__(self):
        return dict.__repr__(self._converted())

    def __reduce__(self):
        return (dict, (dict(self._converted()),))


class Callback:
    """Base class: override the `on_*` hooks you need. `self.model` is the model being trained,
    `self.params` the run's settings (`epochs`, `steps`, `verbose`)."""

    def __init__(self):
        self.params = {}
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """Alias of `on_train_batch_begin` (Keras compatibility)."""

    def on_batch_end(self, batch, logs=None):
        """Alias of `on_train_batch_end`."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


class CallbackList(Callback):
    """Calls every hook on each callback in order; adds `History` and the progress bar as Keras
    does."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Expected a keras.callbacks.Callback, got {cb!r} (of type {type(cb).__name__})")
        if add_history:
            self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None) or History()
            if self.history not in self.callbacks:
                self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def reads_batch_logs(self, mode):
        """Whether a callback overrides a batch-end hook of `mode` ("train" or "test"), as Keras's
        `CallbackList` checks (`utils.is_default`) before it dispatches them: when none does, the
        trainer skips computing those batches' logs."""
        hooks = ("on_train_batch_end", "on_batch_end") if mode == "train" else ("on_test_batch_end",)
        return any(name in getattr(cb, "__dict__", ()) or getattr(type(cb), name) is not getattr(Callback, name)
                   for cb in self.callbacks for name in hooks)

    def set_params(self, params):
        super().set_params(params)
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        for cb in self.callbacks:
            cb.set_model(model)

    # As Keras: every callback of one call gets the same new dict of Python values (so a callback
    # that adds an entry, such as `ReduceLROnPlateau`'s `learning_rate`, shows it to the callbacks
    # after it, `History` included); epoch and train/test/predict hooks get the logs as a
    # positional argument, batch hooks as the keyword `logs`. Batch hooks get a `Logs`: the same
    # values, converted only when a callback reads them (Keras converts them on a worker thread).
    def _call(self, hook, *args):
        *head, logs = args
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            getattr(cb, hook)(*head, logs)

    def _call_batch(self, hook, batch, logs):
        logs = Logs(logs)
        for cb in self.callbacks:
            getattr(cb, hook)(batch, logs=logs)
        kept = weakref.ref(logs)
        del logs
        logs = kept()
        if logs is not None:  # a callback holds on to them: give them this batch's values
            logs.freeze()

    def on_batch_begin(self, batch, logs=None):
        self._call_batch("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._call_batch("on_batch_end", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call_batch("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)


class History(Callback):
    """Records each epoch's logs: `history.history["loss"]` is the list of epoch losses.
    `fit` returns it (and sets `model.history`)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints `Epoch i/n` and the progress bar (`verbose` 1), or one line per epoch (`verbose` 2)."""

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _reset(self):
        self.progbar = None
        self.seen = 0

    def _progbar(self):
        if self.progbar is None:
            # As Keras 3: every logged value is shown as given (the metrics are running means
            # already), so the bar reads a value only when it draws a line.
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step",
                                   stateless_metrics=set())
        return self.progbar

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset()
            self._progbar()

    def on_predict_begin(self, logs=None):
        self._reset()
        self._progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()
        self._progbar()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def _update(self, batch, logs):
        self.seen = batch + 1
        if self.verbose == 1:
            items = logs.lazy_items() if isinstance(logs, Logs) else (logs or {}).items()
            self._progbar().update(self.seen, list(items), finalize=False)

    def _finalize(self, logs):
        bar = self._progbar()
        if self.target is None:
            self.target = self.seen
            bar.target = self.seen
        bar.update(self.target, list((logs or {}).items()), finalize=True)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_end(self, logs=None):
        self._finalize(logs)


class LambdaCallback(Callback):
    """A callback from plain functions, called as the hooks are: `on_epoch_begin(epoch, logs)`,
    `on_epoch_end(epoch, logs)`, `on_train_begin(logs)`, `on_train_end(logs)` positionally;
    `on_train_batch_begin(batch, logs=logs)` and `on_train_batch_end(batch, logs=logs)` with `logs`
    by keyword (so name that parameter `logs`); any other hook of `Callback` by keyword
    (`on_test_end=lambda logs: ...`).

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))

    As in Keras, keyword arguments that are not hooks become attributes. Unlike Keras, a name that
    starts with `on_` but is no hook of `Callback` (a typo such as `on_epoch_ends`) raises
    ValueError instead of being silently never called, and hooks given as None are ignored."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        for name, value in kwargs.items():
            if name.startswith("on_") and not hasattr(Callback, name):
                raise ValueError(f"Unknown callback hook: {name}")
            if value is not None or not name.startswith("on_"):
                setattr(self, name, value)
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
