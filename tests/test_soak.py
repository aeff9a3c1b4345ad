"""Soak test: memory stays bounded over a long run of training steps and predicts.

Marked `soak`, so the default run leaves it out (pyproject's addopts has `-m "not soak"`):
    python -m pytest -m soak tests/test_soak.py
LAMINA_SOAK_STEPS (default 30,000 training steps) and LAMINA_SOAK_PREDICTS (default 200,000 `predict`
calls) set the length. The resident set size (RSS, from /proc/self/statm) is read at the start, after a
warm-up (the first tenth of each: caches, the allocator's pools and Python's own free lists fill up
there), at each tenth after it, and at the end; the growth from the warm-up to the end must stay below
MAX_GROWTH. A leak of one small tensor per step (a 32 x 64 float32 activation, 8 KiB) would be ~220 MiB
over the default run, so a real per-step leak cannot hide under the bound; a leak of one 100-byte
object per call (~20 MiB) cannot either."""
import os
import time

import numpy as np
import pytest

import lamina as keras
from lamina import layers

pytestmark = [pytest.mark.soak,
              pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm (Linux)")]

STEPS = int(os.environ.get("LAMINA_SOAK_STEPS", "30000"))
PREDICTS = int(os.environ.get("LAMINA_SOAK_PREDICTS", "200000"))
MAX_GROWTH = 16 * 2**20  # bytes of RSS allowed to appear after the warm-up
BATCH = 32
STEPS_PER_EPOCH = 100


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _model():
    # Convolution, pooling, batch normalization, dropout and dense layers: the kernels, the allocator's
    # caches, the tape and the optimizer's slots all take part in each step.
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.BatchNormalization(),
        layers.Dropout(0.1),
        layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def test_rss_stays_bounded_over_training_and_predicts(capsys):
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * STEPS_PER_EPOCH, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    sample = x[:BATCH]
    keras.utils.set_random_seed(0)
    model = _model()
    epochs = max(1, STEPS // STEPS_PER_EPOCH)
    chunks = 10
    start = _rss()
    t0 = time.perf_counter()
    samples = []
    last = None
    for chunk in range(chunks):
        # Each chunk: a tenth of the epochs in one fit call, then a tenth of the predicts.
        lo, hi = epochs * chunk // chunks, epochs * (chunk + 1) // chunks
        if hi > lo:
            model.fit(x, y, batch_size=BATCH, epochs=hi - lo, shuffle=True, verbose=0)
        for _ in range(PREDICTS * (chunk + 1) // chunks - PREDICTS * chunk // chunks):
            last = model.predict(sample, verbose=0)
        samples.append(_rss())
    elapsed = time.perf_counter() - t0
    assert last.shape == (BATCH, 10) and np.isfinite(last).all()
    assert int(model.optimizer.iterations) == epochs * STEPS_PER_EPOCH
    warm, end = samples[0], samples[-1]
    mib = lambda b: b / 2**20  # noqa: E731
    with capsys.disabled():
        print(f"\nsoak: {epochs * STEPS_PER_EPOCH} training steps, {PREDICTS} predicts in {elapsed:.0f} s; RSS "
              f"start {mib(start):.1f} MiB, after warm-up {mib(warm):.1f} MiB, end {mib(end):.1f} MiB "
              f"(each tenth: {', '.join(f'{mib(s):.1f}' for s in samples)})")
    assert end - warm < MAX_GROWTH, (
        f"RSS grew by {mib(end - warm):.1f} MiB after the warm-up: {[round(mib(s), 1) for s in samples]}")
