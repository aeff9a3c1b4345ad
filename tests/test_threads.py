"""Thread safety of inference: one built Sequential CNN called from several Python threads at once
(the ops release the GIL) gives the same results as calling it from one thread."""
import threading

import numpy as np

import lamina as keras
from lamina import layers, ops


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_concurrent_inference_matches_sequential_calls():
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        layers.Conv2D(8, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(8, 3, activation="relu"),
        layers.GlobalMaxPooling2D(),
        layers.Dense(4),
    ])
    rng = np.random.default_rng(0)
    inputs = [rng.random((8, 32, 32, 3), dtype=np.float32) for _ in range(4)]
    expected = [_np(model(x)) for x in inputs]

    results = [None] * 4
    errors = []
    barrier = threading.Barrier(4)

    def work(i):
        try:
            barrier.wait()
            for _ in range(5):
                results[i] = _np(model(inputs[i]))
        except Exception as e:  # reported below, with the thread's index
            errors.append((i, e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)
    # different inputs give different outputs (the threads did not share results)
    assert not np.array_equal(results[0], results[1])
