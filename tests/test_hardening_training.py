"""Hardening of the training API (issue 12, items 5, 6, 7 and 8): `class_weight` checked and applied
as Keras 3.15 does (and tested numerically), no silent training on 0 samples, Keras 3's reading of
`steps_per_epoch` / `validation_steps` / `steps`, nested Python lists as data, input-shape errors
that show the user's batch, one model trained from several threads, and bounded AUC state.

Keras 3.15.1 (torch backend) was run on each case to find its behaviour; the tests say where lamina
matches it and where it gives a clear error instead of Keras's accident."""
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import lamina as keras
from lamina import callbacks, layers, metrics


def _classifier(width=4, classes=3, optimizer=None):
    model = keras.Sequential([keras.Input(shape=(width,)), layers.Dense(classes, activation="softmax")])
    model.compile(optimizer or keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


def _data(n=10, width=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, width), dtype=np.float32), rng.integers(0, classes, n)


class _StepsPerEpoch(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.steps = []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1] += 1


# ---------------------------------------------------------------- class_weight (item 6)

def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_class_weight_weights_the_loss_and_the_gradient_numerically():
    """One full-batch SGD step with class_weight: the logged loss is Keras's weighted mean
    sum(w_i * ce_i) / n computed here by hand in float64, and the updated weights are the hand
    computed gradient step of that loss (so the weights reach the gradient, not only the log)."""
    x, y = _data(12)
    class_weight = {0: 1.0, 1: 3.0, 2: 0.25}
    model = _classifier(optimizer=keras.optimizers.SGD(0.5))
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    history = model.fit(x, y, batch_size=12, epochs=1, shuffle=False, verbose=0, class_weight=class_weight)

    w = np.array([class_weight[int(c)] for c in y])
    p = _softmax(x.astype(np.float64) @ kernel + bias)
    ce = -np.log(p[np.arange(len(y)), y])
    expected_loss = np.sum(w * ce) / len(y)
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    assert expected_loss != pytest.approx(ce.mean(), rel=1e-2)  # the weights matter here

    dlogits = (p - np.eye(3)[y]) * w[:, None] / len(y)  # d(weighted mean CE) / d logits
    new_kernel, new_bias = model.get_weights()
    np.testing.assert_allclose(new_kernel, kernel - 0.5 * x.T @ dlogits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_bias, bias - 0.5 * dlogits.sum(0), rtol=1e-5, atol=1e-6)


def test_class_weight_training_matches_keras():
    """The same model, weights and data trained 3 epochs with class_weight by Keras 3 (torch
    backend) and by lamina: the same losses and final weights."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    real_keras = pytest.importorskip("keras")
    x, y = _data(12)
    class_weight = {0: 0.5, 1: 4.0, 2: 1.5}
    ours = _classifier(optimizer=keras.optimizers.SGD(0.5))
    theirs = real_keras.Sequential([real_keras.Input(shape=(4,)), real_keras.layers.Dense(3, activation="softmax")])
    theirs.compile(real_keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    theirs.set_weights(ours.get_weights())
    h_ours = ours.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, class_weight=class_weight)
    h_theirs = theirs.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, class_weight=class_weight)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_class_weight_with_one_hot_and_float_labels_matches_keras_lookup():
    """Keras 3's class_weight_to_sample_weights: one-hot rows -> argmax, (n, 1) -> squeezed, labels
    rounded (0.9999 is class 1; lamina used to truncate it to class 0)."""
    from lamina.models.data_adapter import _class_weight_to_sample_weight

    cw = {0: 2.0, 1: 5.0}
    np.testing.assert_array_equal(_class_weight_to_sample_weight(np.array([0, 1, 2]), cw), [2.0, 5.0, 1.0])
    np.testing.assert_array_equal(_class_weight_to_sample_weight(np.eye(3)[[2, 1, 0]], cw), [1.0, 5.0, 2.0])
    np.testing.assert_array_equal(_class_weight_to_sample_weight(np.array([[0.9999], [0.0]]), cw), [5.0, 2.0])
    # a float key equal to an integer is found, as by Keras's dict.get(int(label))
    np.testing.assert_array_equal(_class_weight_to_sample_weight(np.array([1, 0]), {1.0: 4.0}), [4.0, 1.0])


@pytest.mark.parametrize("key", [-1, -3, 1.5, "1", None, float("nan"), True])
def test_class_weight_key_that_is_not_a_class_index_is_refused(key):
    """A negative key used to reweight the last class (a table indexed from the end); Keras 3 ignores
    it silently. No label can match it: lamina raises ValueError naming the key, before training."""
    x, y = _data()
    model = _classifier()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"`class_weight` keys must be class indices.*received the key"):
        model.fit(x, y, class_weight={0: 1.0, key: 5.0}, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="`class_weight` keys must be class indices"):
        model.train_on_batch(x, y, class_weight={key: 5.0})


def test_class_weight_key_beyond_the_classes_is_ignored_without_allocating():
    """As Keras 3: a key that no label has changes nothing. lamina used to build a table as long as
    the largest key (10**12 keys: MemoryError)."""
    x, y = _data()
    a, b = _classifier(), _classifier()
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, class_weight={0: 1.0, 10**12: 7.0}, shuffle=False, verbose=0)
    hb = b.fit(x, y, shuffle=False, verbose=0)
    assert ha.history["loss"] == hb.history["loss"]


def test_class_weight_refusals_as_keras():
    x, y = _data()
    model = _classifier()
    with pytest.raises(ValueError, match="You cannot `class_weight` and `sample_weight` at the same time"):
        model.fit(x, y, sample_weight=np.ones(len(y)), class_weight={0: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="Arguments `sample_weight` and `class_weight` cannot be specified"):
        model.train_on_batch(x, y, sample_weight=np.ones(len(y)), class_weight={0: 2.0})
    with pytest.raises(ValueError, match="not supported for Python generator inputs"):
        model.fit(iter([(x, y)]), class_weight={0: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0, 3.0], verbose=0)
    with pytest.raises(ValueError, match="values must be numbers"):
        model.fit(x, y, class_weight={0: "heavy"}, verbose=0)


# ---------------------------------------------------------------- no samples (item 6)

@pytest.mark.parametrize("call", [
    lambda m, x, y: m.fit(x, y, verbose=0),
    lambda m, x, y: m.evaluate(x, y, verbose=0),
    lambda m, x, y: m.predict(x, verbose=0),
    lambda m, x, y: m.train_on_batch(x, y),
    lambda m, x, y: m.test_on_batch(x, y),
], ids=["fit", "evaluate", "predict", "train_on_batch", "test_on_batch"])
def test_zero_samples_raise_instead_of_returning_nothing(call):
    """fit / evaluate / train_on_batch used to return {} / 0.0 for 0 samples. Keras 3.15 (torch)
    raises unrelated errors there (ValueError "num_samples should be a positive integer", ...,
    RuntimeError for train_on_batch; test_on_batch returns 0.0): lamina raises one clear ValueError."""
    model = _classifier()
    x, y = np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
    with pytest.raises(ValueError, match=r"received no data: `x` has 0 samples \(shape \(0, 4\)\)"):
        call(model, x, y)
    assert int(model.optimizer.iterations) == 0


def test_zero_samples_elsewhere():
    model = _classifier()
    x, y = _data()
    with pytest.raises(ValueError, match="`validation_data` has 0 samples"):
        model.fit(x, y, validation_data=(x[:0], y[:0]), verbose=0)
    with pytest.raises(ValueError, match="the generator yielded no batch"):
        model.fit(iter([]), verbose=0)
    with pytest.raises(ValueError, match="the generator yielded no batch"):
        model.evaluate(iter([]), verbose=0)
    assert int(model.optimizer.iterations) == 0
    # one batch of 0 rows is a well-defined prediction (Keras 3: an empty (0, 3) array)
    assert model.predict_on_batch(x[:0]).shape == (0, 3)


# ---------------------------------------------------------------- steps (item 6)

def test_steps_per_epoch_with_arrays_as_keras():
    """Keras 3.15 (checked): 10 samples, batch_size=2, steps_per_epoch=2, 3 epochs -> epochs of 2, 2
    and 1 steps (each epoch goes on where the last stopped; the third runs out of data and warns).
    lamina ignored steps_per_epoch for arrays (15 steps)."""
    x, y = _data()
    model = _classifier()
    cb = _StepsPerEpoch()
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        model.fit(x, y, batch_size=2, steps_per_epoch=2, epochs=3, verbose=0, callbacks=[cb])
    assert cb.steps == [2, 2, 1] and int(model.optimizer.iterations) == 5
    # without a batch size, Keras picks ceil(10 / 3) = 4 -> 3 batches
    model = _classifier()
    model.fit(x, y, steps_per_epoch=3, verbose=0)
    assert int(model.optimizer.iterations) == 3


@pytest.mark.parametrize("steps", [-1, 0])
def test_non_positive_steps_mean_all_the_data(steps):
    """Keras 3 reads steps_per_epoch / validation_steps / steps <= 0 as "until the data runs out".
    lamina trained nothing on a generator with steps_per_epoch=-1 and reported val_loss 0.0 (no
    validation batch) with validation_steps <= 0, and evaluate(steps=-1) returned 0.0."""
    x, y = _data()

    def batches():
        for i in range(0, 10, 2):
            yield x[i:i + 2], y[i:i + 2]

    model = _classifier()
    model.fit(batches(), steps_per_epoch=steps, verbose=0)
    assert int(model.optimizer.iterations) == 5

    model = _classifier()
    history = model.fit(x, y, batch_size=2, validation_data=(x, y), validation_steps=steps, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    assert model.evaluate(x, y, batch_size=2, steps=steps, verbose=0) == pytest.approx(
        model.evaluate(x, y, verbose=0), rel=1e-6)
    assert model.predict(x, batch_size=2, steps=steps, verbose=0).shape == (10, 3)


def test_evaluate_and_predict_steps_take_the_first_batches():
    x, y = _data()
    model = _classifier()
    assert model.predict(x, batch_size=2, steps=1, verbose=0).shape == (2, 3)
    assert model.evaluate(x, y, batch_size=2, steps=1, verbose=0) == pytest.approx(
        model.evaluate(x[:2], y[:2], verbose=0), rel=1e-6)
    # validation with validation_steps starts from the first batch at every epoch (Keras resets it)
    history = model.fit(x, y, batch_size=2, epochs=2, validation_data=(x, y), validation_steps=1, verbose=0)
    assert len(history.history["val_loss"]) == 2


@pytest.mark.parametrize("kwargs, error", [
    ({"steps_per_epoch": 1.5}, "`steps_per_epoch` must be an integer or None"),
    ({"steps_per_epoch": "2"}, "`steps_per_epoch` must be an integer or None"),
    ({"validation_steps": 2.0, "validation_data": "xy"}, "`validation_steps` must be an integer or None"),
    ({"epochs": 1.5}, "`epochs` must be an integer"),
    ({"initial_epoch": 0.5}, "`initial_epoch` must be an integer"),
])
def test_non_integer_counts_are_type_errors(kwargs, error):
    x, y = _data()
    if kwargs.get("validation_data") == "xy":
        kwargs["validation_data"] = (x, y)
    model = _classifier()
    with pytest.raises(TypeError, match=error):
        model.fit(x, y, verbose=0, **kwargs)
    with pytest.raises(TypeError, match="`steps` must be an integer or None"):
        model.evaluate(x, y, steps=1.5, verbose=0)
    assert int(model.optimizer.iterations) == 0


def test_validation_freq_as_keras():
    """An int N validates every N epochs, a list at the (1-based) epochs listed (Keras 3's
    _should_eval; lamina failed on lists); 0 was a ZeroDivisionError in both, now a ValueError."""
    x, y = _data()
    model = _classifier()
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append("val_loss" in logs))
    model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=[1, 3], verbose=0, callbacks=[cb])
    assert seen == [True, False, True, False]
    for bad in (0, -1):
        with pytest.raises(ValueError, match="`validation_freq` must be a positive integer"):
            model.fit(x, y, validation_data=(x, y), validation_freq=bad, verbose=0)
    with pytest.raises(ValueError, match="Expected `validation_freq` to be a list or int"):
        model.fit(x, y, validation_data=(x, y), validation_freq=1.5, verbose=0)


# ---------------------------------------------------------------- Python lists as data (item 7)

def test_nested_python_lists_are_arrays():
    """`fit([[1, 2], [3, 4]], [0, 1])` said "Expected arrays with a batch dimension for 'x', got a
    scalar". Keras 3.15 refuses Python lists ("Unrecognized data type"); lamina converts a list of
    numbers to one array, as tf.keras's lists-of-scalars adapter did, so it trains exactly as the
    NumPy array does."""
    x = [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.9, 1.0, 1.1, 1.2]]
    y = [0, 2, 1]
    a, b = _classifier(), _classifier()
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(np.array(x, np.float32), np.array(y), epochs=2, shuffle=False, verbose=0)
    assert ha.history["loss"] == hb.history["loss"]
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(np.array(x, np.float32), verbose=0))
    assert a.evaluate(x, y, verbose=0) == b.evaluate(np.array(x, np.float32), np.array(y), verbose=0)
    assert np.isfinite(a.train_on_batch(x, y)) and np.isfinite(a.test_on_batch(x, y))
    a.fit(x, y, validation_split=0.34, verbose=0)


def test_list_of_arrays_stays_one_entry_per_input():
    i1, i2 = keras.Input(shape=(2,)), keras.Input(shape=(3,))
    out = layers.Dense(1)(layers.Concatenate()([i1, i2]))
    model = keras.Model([i1, i2], out)
    model.compile("sgd", "mse")
    x1, x2 = np.ones((4, 2), np.float32), np.ones((4, 3), np.float32)
    model.fit([x1, x2], np.zeros((4, 1)), verbose=0)
    # one input given as a nested Python list inside the list of inputs
    model.fit([x1.tolist(), x2], np.zeros((4, 1)).tolist(), verbose=0)
    assert model.predict([x1.tolist(), x2], verbose=0).shape == (4, 1)


def test_bad_python_lists_say_what_is_wrong():
    model = _classifier()
    with pytest.raises(ValueError, match="rows must all have the same length"):
        model.fit([[1.0, 2.0, 3.0, 4.0], [1.0]], [0, 1], verbose=0)
    with pytest.raises(ValueError, match="got a scalar: .*first axis is the samples"):
        model.fit(np.float32(3.0), [0], verbose=0)


# ---------------------------------------------------------------- input-shape errors (item 7)

@pytest.mark.parametrize("fit_kwargs, batch", [({}, 32), ({"batch_size": 8}, 8)])
def test_wrong_input_width_reports_the_users_batch(fit_kwargs, batch):
    """The sparse-label check ran the model on one sample, so a wrong width was reported as shape
    (1, 5). Keras 3.15's message shows the batch the step sees: (32, 5), or (8, 5) with batch_size=8."""
    x, y = _data(40, width=5)
    model = _classifier(width=4)
    with pytest.raises(ValueError, match=r'^Input 0 of layer "dense\w*" is incompatible with the layer: expected '
                                         rf"axis -1 of input shape to have value 4, but received input with shape "
                                         rf"\({batch}, 5\)$"):
        model.fit(x, y, verbose=0, **fit_kwargs)
    with pytest.raises(ValueError, match=rf"received input with shape \({batch}, 5\)"):
        model.evaluate(x, y, verbose=0, **fit_kwargs)
    assert int(model.optimizer.iterations) == 0


def test_wrong_input_width_functional_and_labels_still_checked():
    x, y = _data(40, width=5)
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(inputs))
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(32, 5\)"):
        model.fit(x, y, verbose=0)
    # the label range is still checked before training, for built and unbuilt models
    x4 = x[:, :4]
    with pytest.raises(ValueError, match=r"label value of 3 .* \[0, 3\)"):
        model.fit(x4, np.full(40, 3), verbose=0)
    unbuilt = keras.Sequential([layers.Dense(3, activation="softmax")])
    unbuilt.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"label value of -1 .* \[0, 3\)"):
        unbuilt.fit(x4, np.full(40, -1), verbose=0)
    assert int(model.optimizer.iterations) == 0 and int(unbuilt.optimizer.iterations) == 0


# ---------------------------------------------------------------- threads (item 8)

def test_training_from_another_thread_waits_for_the_running_fit():
    """Deterministic: while one thread's fit is inside a step (held by a callback), another
    thread's train_on_batch on the same model waits instead of interleaving; both finish with every
    step counted. (Before, the second call ran at once, and 4 threads lost optimizer steps.)"""
    x, y = _data(8)
    model = _classifier()
    entered, release, done = threading.Event(), threading.Event(), threading.Event()

    class Hold(callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                entered.set()
                release.wait(30)

    fitter = threading.Thread(target=lambda: model.fit(x, y, batch_size=2, verbose=0, callbacks=[Hold()]))
    fitter.start()
    assert entered.wait(30)
    other = threading.Thread(target=lambda: (model.train_on_batch(x, y), done.set()))
    other.start()
    try:
        assert not done.wait(0.5), "train_on_batch ran while another thread's fit was training the model"
        assert int(model.optimizer.iterations) == 0
    finally:
        release.set()
        fitter.join(30)
        other.join(30)
    assert done.is_set() and int(model.optimizer.iterations) == 4 + 1


def test_concurrent_fits_count_every_step():
    """4 threads x 64 steps with a tiny switch interval: before the lock, 3 trials out of 5 lost
    steps (178-255 of 256; the issue saw 990-1,011 of 1,024). Now each trial counts exactly 256."""
    x, y = _data(256)
    errors = []

    def work(model):
        try:
            model.fit(x, y, batch_size=4, verbose=0, shuffle=False)
        except Exception as e:  # reported below
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(3):
            model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(256), layers.Dense(3, activation="softmax")])
            model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
            threads = [threading.Thread(target=work, args=(model,)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors, errors
            assert int(model.optimizer.iterations) == 4 * 64
    finally:
        sys.setswitchinterval(old)


def test_callback_may_evaluate_the_model_it_trains():
    """The lock is re-entrant: evaluate from a callback of fit (same thread) does not deadlock."""
    x, y = _data()
    model = _classifier()
    results = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: results.append(model.evaluate(x, y, verbose=0)))
    thread = threading.Thread(target=lambda: model.fit(x, y, epochs=2, verbose=0, callbacks=[cb]))
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and len(results) == 2


# ---------------------------------------------------------------- bounded metric state (item 5)

def test_auc_num_thresholds_is_bounded():
    """AUC(num_thresholds=10**9) took 50 s, then MemoryError (killed at 24 GB without a limit)."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"`num_thresholds` must be at most {metrics.confusion.MAX_NUM_THRESHOLDS}"):
        metrics.AUC(num_thresholds=10**9)
    with pytest.raises(ValueError, match="must be at most"):
        metrics.AUC(thresholds=list(np.linspace(0.001, 0.999, metrics.confusion.MAX_NUM_THRESHOLDS)))
    with pytest.raises(ValueError, match="at most"):
        metrics.Precision(thresholds=[0.5] * (metrics.confusion.MAX_NUM_THRESHOLDS + 1))
    with pytest.raises(ValueError, match="MAX_THRESHOLD_LABEL_COUNTS"):
        metrics.AUC(multi_label=True, num_labels=10**9)
    assert time.perf_counter() - start < 5
    # Keras's own rule and message for num_thresholds <= 1, and for what is not an integer
    for bad in (1, 0, -5, 2.5, "200", None):
        with pytest.raises(ValueError, match=r"Argument `num_thresholds` must be an integer > 1\. Received"):
            metrics.AUC(num_thresholds=bad)
    with pytest.raises(ValueError, match="`num_labels` must be a positive integer"):
        metrics.AUC(multi_label=True, num_labels=-2)
    # the bound itself is accepted, and the default is unchanged
    assert metrics.AUC().num_thresholds == 200


def test_auc_from_a_compile_config_is_bounded():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[metrics.AUC()])
    config = model.get_compile_config()
    config["metrics"][0]["config"]["num_thresholds"] = 10**9
    fresh = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    start = time.perf_counter()
    with pytest.raises(ValueError, match="must be at most"):
        fresh.compile_from_config(config)
    assert time.perf_counter() - start < 5


def test_auc_still_computes_with_many_thresholds():
    """A large but allowed AUC gives the same area as scikit-learn's exact ROC AUC (to the bucket size)."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1).astype(np.float32)
    m = metrics.AUC(num_thresholds=10**5)
    m.update_state(y, p)
    assert float(m.result()) == pytest.approx(sklearn_metrics.roc_auc_score(y, p), abs=1e-3)


def test_no_warning_leak_from_class_weight_lookup():
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _classifier().fit(x, y.astype(np.float32), class_weight={0: 2.0}, verbose=0)


@pytest.mark.parametrize("block", [1, 5, 1 << 22])
def test_threshold_list_metrics_in_blocks_match_the_definition(monkeypatch, block):
    """Unevenly spaced `thresholds` compare every prediction with every threshold; lamina now does
    it a block of thresholds at a time (a long list no longer makes one thresholds x predictions
    matrix). Each block size gives the definition: TP / (TP + FP) at each threshold, weighted."""
    monkeypatch.setattr(metrics.confusion, "_COMPARE_BLOCK", block)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (40, 3))
    p = rng.random((40, 3)).astype(np.float32)
    sw = rng.random(40).astype(np.float32)
    thresholds = [0.05, 0.3, 0.33, 0.6, 0.91]
    precision, recall = metrics.Precision(thresholds=thresholds), metrics.Recall(thresholds=thresholds)
    precision.update_state(y, p, sample_weight=sw)
    recall.update_state(y, p, sample_weight=sw)
    w = np.broadcast_to(sw[:, None], y.shape)
    for i, t in enumerate(thresholds):
        tp = np.sum(w * (y == 1) * (p > t))
        fp = np.sum(w * (y == 0) * (p > t))
        fn = np.sum(w * (y == 1) * (p <= t))
        assert float(precision.result()[i]) == pytest.approx(tp / (tp + fp), rel=1e-5)
        assert float(recall.result()[i]) == pytest.approx(tp / (tp + fn), rel=1e-5)
    auc = metrics.AUC(thresholds=thresholds, multi_label=True)
    auc.update_state(y, p)
    expected_tp = [[np.sum((y[:, j] == 1) & (p[:, j] > t)) for j in range(3)]
                   for t in [-1e-7] + thresholds + [1 + 1e-7]]
    np.testing.assert_array_equal(auc.true_positives.numpy(), expected_tp)
