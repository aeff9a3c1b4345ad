"""Training, evaluation and inference for every model: `compile`, `fit`, `evaluate`, `predict`,
`train_on_batch`, `test_on_batch`, `predict_on_batch`, with Keras 3's signatures and defaults.

A training step is: the forward pass inside a `GradientTape` (the C++ ops record their backward),
the loss, one backward pass, and one fused C++ optimizer update of every trainable variable.
Evaluation and prediction record nothing.

Threads: `fit`, `evaluate`, `train_on_batch` and `test_on_batch` of one model hold a lock of that
model while they run (re-entrant, so a callback may call `evaluate`): calls from several threads run
one after another, each with all of its steps, instead of interleaving their optimizer updates and
metric states (which lost optimizer steps silently). `predict` / `predict_on_batch` take no lock.
"""
import functools
import inspect
import numbers
import threading
import warnings
import weakref

import numpy as np

from lamina import callbacks as callbacks_module
from lamina import losses as losses_module
from lamina import metrics as metrics_module
from lamina import optimizers as optimizers_module
from lamina.autograd import GradientTape
from lamina.callbacks.base import Deferred, pythonify_logs
from lamina.backend import Tensor, convert_to_numpy
from lamina.models import data_adapter
from lamina.saving.serialization_lib import deserialize_compile_config, serialize_dict
from lamina.utils import tree

__all__ = ["Trainer"]


def _batch_size_of(x):
    first = tree.flatten(x)[0]
    return int(first.shape[0])


_TRAINING_LOCKS = weakref.WeakKeyDictionary()  # model -> its RLock (kept off the model: copies, saving)
_TRAINING_LOCKS_GUARD = threading.Lock()


def _training_lock(model):
    with _TRAINING_LOCKS_GUARD:
        lock = _TRAINING_LOCKS.get(model)
        if lock is None:
            lock = _TRAINING_LOCKS[model] = threading.RLock()
        return lock


def _one_thread_at_a_time(method):
    """Runs `method` under the model's training lock (see the module docstring)."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with _training_lock(self):
            return method(self, *args, **kwargs)
    return locked


def _require_samples(data, method, what="x"):
    """ValueError for in-memory data with no sample (Keras 3 fails on it with unrelated errors;
    lamina used to return a loss of 0.0 or `{}` without training)."""
    if isinstance(data, data_adapter.ArrayData) and data.size == 0:
        shapes = [tuple(a.shape) for a in tree.flatten(data.x)]
        raise ValueError(f"`{method}()` received no data: `{what}` has 0 samples (shape"
                         f"{'s' if len(shapes) > 1 else ''} {', '.join(map(str, shapes))}). "
                         "Pass at least one sample.")


def _check_integer(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer; received {value!r} (of type {type(value).__name__}).")
    return int(value)


def _should_validate(epoch, validation_freq):
    """Keras 3's `_should_eval`: every `validation_freq` epochs, or at the (1-based) epochs listed."""
    if isinstance(validation_freq, (list, tuple)):
        return epoch + 1 in validation_freq
    return (epoch + 1) % validation_freq == 0


def _check_validation_freq(validation_freq):
    if isinstance(validation_freq, (list, tuple)):
        return
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, numbers.Integral):
        raise ValueError("Expected `validation_freq` to be a list or int. "
                         f"Received: validation_freq={validation_freq} of the type {type(validation_freq)}.")
    if validation_freq < 1:
        raise ValueError(f"`validation_freq` must be a positive integer (validate every N epochs) or a list of "
                         f"epochs; received validation_freq={validation_freq}.")


class Trainer:
    """Mixed into `Model`: the Keras training API."""

    compiled = False

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Configures the model for training.

        Args:
            optimizer: name ("adam", "sgd", "rmsprop", "adamw", "adagrad") or optimizer object.
            loss: name, `Loss` object or function; a list or dict for models with several outputs.
            loss_weights: weights of the outputs' losses (list or dict).
            metrics: names ("accuracy", "mae", ...) or metric objects; "accuracy" is resolved as Keras
                does from the loss and the shapes (binary, categorical or sparse categorical).
            weighted_metrics: metrics that also receive `sample_weight`.
        """
        self.optimizer = optimizers_module.get(optimizer)
        # what `get_compile_config()` writes into a saved model (Keras's keys)
        self._compile_config = {"optimizer": self.optimizer, "loss": loss, "loss_weights": loss_weights,
                                "metrics": metrics, "weighted_metrics": weighted_metrics,
                                "run_eagerly": bool(run_eagerly), "steps_per_execution": steps_per_execution,
                                "jit_compile": False if jit_compile == "auto" else jit_compile}
        self.loss = loss
        self._loss_fns = self._resolve_losses(loss)
        self.loss_weights = loss_weights
        self._metric_specs = list(metrics or []) if not isinstance(metrics, dict) else metrics
        self._weighted_metric_specs = list(weighted_metrics or [])
        self._compiled_metrics = None  # resolved from the first batch's shapes
        self._loss_tracker = metrics_module.Mean(name="loss")  # as Keras's Trainer
        self._trainable_ids = None  # the trainable set of the last step (see _follow_trainable_set)
        self.compiled = True
        self.stop_training = False

    def get_compile_config(self):
        """The arguments of `compile()`, serialized as Keras 3 writes them ({} when not compiled)."""
        if not self.compiled or getattr(self, "_compile_config", None) is None:
            return {}
        return serialize_dict(self._compile_config)

    def compile_from_config(self, config):
        """Compiles the model from `get_compile_config()`'s dict (a loaded model's), then creates the
        optimizer's variables so that its saved state can be loaded into them."""
        if type(self).compile is not Trainer.compile:
            warnings.warn(
                "`compile()` was not called as part of model loading because the model's `compile()` method "
                "is custom. All subclassed Models that have `compile()` overridden should also override "
                "`get_compile_config()` and `compile_from_config(config)`. Alternatively, you can call "
                "`compile()` manually after loading.", stacklevel=2)
            return
        config = deserialize_compile_config(config)
        accepted = inspect.signature(Trainer.compile).parameters
        self.compile(**{k: v for k, v in config.items() if k in accepted})
        if self.built:
            self.optimizer.build(self.trainable_weights)

    def _resolve_losses(self, loss):
        if loss is None:
            return None
        if isinstance(loss, dict):
            return {k: losses_module.get(v) for k, v in loss.items()}
        if isinstance(loss, (list, tuple)):
            return [losses_module.get(v) for v in loss]
        return losses_module.get(loss)

    def _assert_compiled(self, method):
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before calling `{method}()`.")

    # ------------------------------------------------------------------ losses and metrics
    def _output_names(self):
        outputs = getattr(self, "outputs", None)
        if outputs:
            return [t._keras_history[0].name for t in tree.flatten(outputs)]
        return None

    def _per_output(self, spec, n, kind):
        """A per-output list from a single spec, a list or a dict keyed by output layer name."""
        if isinstance(spec, dict):
            names = self._output_names() or []
            missing = [k for k in spec if k not in names]
            if missing:
                raise ValueError(f"Unknown output name(s) {missing} in the `{kind}` dict; outputs are {names}")
            return [spec.get(name) for name in names]
        if isinstance(spec, list):
            if len(spec) != n:
                raise ValueError(f"The model has {n} outputs, but `{kind}` has {len(spec)} entries.")
            return spec
        return [spec] * n

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss (summed over outputs with `loss_weights`), a 0-d tensor."""
        if self._loss_fns is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        ys, preds = tree.flatten(y), tree.flatten(y_pred)
        if len(ys) != len(preds):
            raise ValueError(f"The model has {len(preds)} output(s) but {len(ys)} target(s) were given.")
        if len(preds) == 1 and not isinstance(self._loss_fns, (list, dict)):
            return self._loss_fns(ys[0], preds[0], sample_weight)
        fns = self._per_output(self._loss_fns, len(preds), "loss")
        weights = self._per_output(self.loss_weights, len(preds), "loss_weights") if self.loss_weights else [1.0] * len(preds)
        total = None
        for fn, w, yt, yp in zip(fns, weights, ys, preds):
            if fn is None:
                continue
            term = fn(yt, yp, sample_weight)
            if w is not None and w != 1.0:
                term = term * float(w)
            total = term if total is None else total + term
        return total

    def _build_metrics(self, y, y_pred):
        ys, preds = tree.flatten(y), tree.flatten(y_pred)
        loss_fns = (self._per_output(self._loss_fns, len(preds), "loss")
                    if isinstance(self._loss_fns, (list, dict)) or len(preds) > 1 else [self._loss_fns])
        compiled = []
        for specs, weighted in ((self._metric_specs, False), (self._weighted_metric_specs, True)):
            per_output = self._per_output(specs, len(preds), "metrics") if isinstance(specs, dict) else (
                [specs] + [[]] * (len(preds) - 1) if len(preds) > 1 and not isinstance(specs, dict) else [specs])
            for i, out_specs in enumerate(per_output):
                if out_specs is None:
                    continue
                if not isinstance(out_specs, (list, tuple)):
                    out_specs = [out_specs]
                for spec in out_specs:
                    m = metrics_module.resolve(spec, tuple(ys[i].shape), tuple(preds[i].shape),
                                               loss=loss_fns[i] if i < len(loss_fns) else None)
                    compiled.append((m, i, weighted))
        self._compiled_metrics = compiled

    @property
    def metrics(self):
        """The compiled metrics (after the first batch), loss tracker not included."""
        return [m for m, _, _ in (self._compiled_metrics or [])]

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.metrics]

    def reset_metrics(self):
        if getattr(self, "_loss_tracker", None) is not None:
            self._loss_tracker.reset_state()
        for m in self.metrics:
            m.reset_state()

    def _update_metrics(self, loss, y, y_pred, sample_weight):
        if self._compiled_metrics is None:
            self._build_metrics(y, y_pred)
        self._loss_tracker.update_state(loss, sample_weight=_batch_size_of(y_pred))
        ys, preds = tree.flatten(y), tree.flatten(y_pred)
        for m, i, weighted in self._compiled_metrics:
            m.update_state(ys[i], preds[i], sample_weight if weighted else None)

    def _logged_metrics(self):
        return sorted([("loss", self._loss_tracker)] + [(m.name, m) for m in self.metrics], key=lambda kv: kv[0])

    def _logs(self):
        """The loss and metrics so far, as the metrics' results: lamina tensors (0-d for most),
        which the callbacks convert to Python floats (`CallbackList`), and `evaluate` /
        `*_on_batch` before they return."""
        return {name: m.result() for name, m in self._logged_metrics()}

    def _batch_logs(self):
        """The logs of a batch hook: each result computed only if a callback reads it (`Logs`)."""
        return {name: Deferred(m.result) for name, m in self._logged_metrics()}

    # ------------------------------------------------------------------ steps
    def _follow_trainable_set(self, variables):
        """Each step trains the current trainable weights. When `trainable` changed since the last
        step (a layer frozen or unfrozen after `compile()`), say so once: Keras needs `compile()`
        again for such a change to take effect; lamina follows it at once (frozen weights are not
        updated, newly trainable ones get fresh optimizer slots)."""
        ids = frozenset(id(v) for v in variables)
        previous = self._trainable_ids
        self._trainable_ids = ids
        if previous is not None and ids != previous:
            warnings.warn(
                f"The trainable weights of model '{self.name}' changed since the last training step "
                f"({len(previous)} -> {len(ids)} trainable weights): training continues with the new set. "
                "(Keras would need `compile()` again for this change to take effect.)", stacklevel=4)

    def train_step(self, x, y, sample_weight=None):
        """One optimizer step on one batch; returns the batch loss."""
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        # Read after the forward pass: a model without an Input is built by its first call, and
        # its first batch trains those new weights (Keras builds the model before the first step).
        variables = self.trainable_weights
        self._follow_trainable_set(variables)
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        self._update_metrics(loss, y, y_pred, sample_weight)
        return loss

    def test_step(self, x, y, sample_weight=None):
        y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        self._update_metrics(loss, y, y_pred, sample_weight)
        return loss

    def predict_step(self, x):
        return self(x, training=False)

    # ------------------------------------------------------------------ fit / evaluate / predict
    def _output_classes(self, data):
        """The last dimension of each output: from the symbolic outputs of a built graph model,
        else from a forward pass on the first batch (which also builds the model). The first batch
        has the user's batch size, so that an input that does not fit is reported with the shape
        the training step would see."""
        outputs = None
        if self.built:
            try:
                outputs = tree.flatten(self.outputs)
            except (AttributeError, ValueError):
                outputs = None
        if outputs and all(len(o.shape) and o.shape[-1] is not None for o in outputs):
            return [int(o.shape[-1]) for o in outputs]
        first = tree.map_structure(lambda a: a[:data.batch_size], data.x)
        return [int(p.shape[-1]) for p in tree.flatten(self(first, training=False))]

    def _check_targets(self, data):
        """Checks made on the whole data before any weight changes: integer labels of a sparse
        categorical loss must lie in [0, number of classes)."""
        if not isinstance(data, data_adapter.ArrayData) or data.y is None or data.size == 0:
            return
        fns = self._loss_fns
        fns = list(fns.values()) if isinstance(fns, dict) else list(fns) if isinstance(fns, (list, tuple)) else [fns]
        ys = tree.flatten(data.y)
        sparse = [i for i, fn in enumerate(fns) if i < len(ys) and "sparse_categorical" in
                  (getattr(fn, "name", "") or getattr(getattr(fn, "fn", None), "__name__", ""))]
        if not sparse:
            return
        all_classes = self._output_classes(data)
        for i in sparse:
            labels = np.asarray(ys[i])
            classes = all_classes[i]
            if labels.dtype.kind == "f" and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
                raise ValueError("Labels for a sparse categorical loss must be integer class indices; "
                                 "received non-integer values.")
            low, high = labels.min(), labels.max()
            if low < 0 or high >= classes:
                bad = low if low < 0 else high
                raise ValueError(f"Received a label value of {bad:g} which is outside the valid range of "
                                 f"[0, {classes}) for a model with {classes} output classes.")

    @_one_thread_at_a_time
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Trains the model for `epochs` epochs; returns a `History` (`history.history["loss"]`, ...).

        As Keras 3: `steps_per_epoch` batches make an epoch (the next epoch goes on where the last
        one stopped; None, 0 or a negative value: one pass over the data); `class_weight` maps class
        indices (ints >= 0) to loss weights and cannot be combined with `sample_weight`; no sample
        at all is a ValueError. Calls from several threads on one model run one after another.
        """
        self._assert_compiled("fit")
        if self._loss_fns is None:
            raise ValueError("You must provide a `loss` in `compile()` before calling `fit()`.")
        epochs = _check_integer(epochs, "epochs")
        initial_epoch = _check_integer(initial_epoch, "initial_epoch")
        steps_per_epoch = data_adapter.normalize_steps(steps_per_epoch, "steps_per_epoch")
        validation_steps = data_adapter.normalize_steps(validation_steps, "validation_steps")
        _check_validation_freq(validation_freq)
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = data_adapter.train_validation_split(
                x, y, sample_weight, validation_split)
        data = data_adapter.make_data(x, y, sample_weight, batch_size, shuffle, class_weight, steps_per_epoch)
        _require_samples(data, "fit")
        self._check_targets(data)
        val_data = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("`validation_data` should be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight).")
            vx, vy, vsw = (tuple(validation_data) + (None,))[:3]
            val_data = data_adapter.make_data(vx, vy, vsw, validation_batch_size or batch_size, False,
                                              steps=validation_steps)
            _require_samples(val_data, "fit", "validation_data")
        cbs = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=epochs, steps=data.num_batches)
        self.stop_training = False
        batch_logs = cbs.reads_batch_logs("train")  # else no batch's logs are computed
        cbs.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            steps_done = 0
            for step, (bx, by, bsw) in enumerate(data.batches()):
                cbs.on_train_batch_begin(step)
                self.train_step(bx, by, bsw)
                steps_done += 1
                if batch_logs:
                    cbs.on_train_batch_end(step, self._batch_logs())
                if self.stop_training:
                    break
            if steps_done:
                logs = self._logs()  # the last batch's
            if steps_done == 0 and getattr(data, "exhausted", False):
                if epoch == initial_epoch:
                    raise ValueError("`fit()` received no data: the generator yielded no batch.")
                warnings.warn(data_adapter._RAN_OUT, stacklevel=2)
                break  # no epoch without a step (its logs would be the previous epoch's)
            epoch_logs = dict(logs)
            if val_data is not None and _should_validate(epoch, validation_freq):
                # as Keras 3's fit, which calls evaluate with its callbacks: on_test_begin, the test
                # batches, on_test_end (the progress bar stays quiet for them inside fit)
                cbs.on_test_begin()
                val_logs = self._evaluate_data(val_data, cbs)
                cbs.on_test_end(val_logs)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training or getattr(data, "exhausted", False):
                break
        cbs.on_train_end(logs)
        return cbs.history

    def _evaluate_data(self, data, cbs=None, method="evaluate"):
        """The logs of one pass of `test_step` over `data` (from its first batch, up to its `steps`)."""
        self.reset_metrics()
        data.reset()
        steps_done = 0
        batch_logs = cbs is not None and cbs.reads_batch_logs("test")
        for step, (bx, by, bsw) in enumerate(data.batches()):
            if cbs:
                cbs.on_test_batch_begin(step)
            self.test_step(bx, by, bsw)
            steps_done += 1
            if batch_logs:
                cbs.on_test_batch_end(step, self._batch_logs())
        if steps_done == 0:
            raise ValueError(f"`{method}()` received no data: the generator yielded no batch.")
        return self._logs()

    @_one_thread_at_a_time
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """The loss (and metrics) on the data: a scalar, a list [loss, metrics...], or a dict.
        `steps` (as Keras 3): the first `steps` batches (None, 0 or negative: all)."""
        self._assert_compiled("evaluate")
        steps = data_adapter.normalize_steps(steps, "steps")
        data = data_adapter.make_data(x, y, sample_weight, batch_size, False, steps=steps)
        _require_samples(data, "evaluate")
        self._check_targets(data)
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                            epochs=1, steps=data.num_batches)
        cbs.on_test_begin()
        logs = self._evaluate_data(data, cbs)
        cbs.on_test_end(logs)
        return self._format_results(logs, return_dict)

    def _format_results(self, logs, return_dict):
        logs = pythonify_logs(logs)
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[m.name] for m in self.metrics]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs on `x`, computed in batches (no gradient recording), as NumPy.
        `steps` (as Keras 3): the first `steps` batches (None, 0 or negative: all)."""
        steps = data_adapter.normalize_steps(steps, "steps")
        data = data_adapter.make_data(x, None, None, batch_size, False, steps=steps)
        _require_samples(data, "predict")
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                            epochs=1, steps=data.num_batches)
        cbs.on_predict_begin()
        outputs = []
        for step, (bx, _, _) in enumerate(data.batches()):
            cbs.on_predict_batch_begin(step)
            outputs.append(tree.map_structure(convert_to_numpy, self.predict_step(bx)))
            cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("`predict()` received no data: the generator yielded no batch.")
        return tree.pack_sequence_as(outputs[0], [np.concatenate(parts, axis=0)
                                                  for parts in zip(*(tree.flatten(o) for o in outputs))])

    def _one_batch(self, x, y, sample_weight, class_weight, method):
        if class_weight is not None and sample_weight is not None:  # Keras 3's train_on_batch
            raise ValueError("Arguments `sample_weight` and `class_weight` cannot be specified at the same time. "
                             f"Received: sample_weight={sample_weight}, class_weight={class_weight}")
        data = data_adapter.ArrayData(x, y, sample_weight, class_weight=class_weight)
        _require_samples(data, method)
        data.batch_size = data.size  # the whole batch in one step
        self._check_targets(data)
        return data

    @_one_thread_at_a_time
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the metrics so far (as `evaluate` does)."""
        self._assert_compiled("train_on_batch")
        data = self._one_batch(x, y, sample_weight, class_weight, "train_on_batch")
        for bx, by, bsw in data.batches():
            self.train_step(bx, by, bsw)
        return self._format_results(self._logs(), return_dict)

    @_one_thread_at_a_time
    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled("test_on_batch")
        data = self._one_batch(x, y, sample_weight, None, "test_on_batch")
        for bx, by, bsw in data.batches():
            self.test_step(bx, by, bsw)
        return self._format_results(self._logs(), return_dict)

    def predict_on_batch(self, x):
        """The model's outputs on one batch, as NumPy."""
        return tree.map_structure(convert_to_numpy, self.predict_step(x))
