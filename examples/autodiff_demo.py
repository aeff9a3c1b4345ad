"""lamina's autodiff at work: a two-layer network written with raw ops, trained with GradientTape.

Data: three interleaved spirals (made here with NumPy, 300 points in 2-D). The network
(2 -> 64 -> 3, relu) is written with `ops.matmul`, `ops.add`, `ops.relu`, and trained with plain
gradient descent: `tape.gradient` gives the gradients, `Variable.assign_sub` applies them.

    python examples/autodiff_demo.py
"""
import time

import numpy as np

import lamina
from lamina import ops


def spirals(n_per_class=100, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.normal(0, 0.2, n_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype("float32"), np.concatenate(ys).astype("int64")


def main():
    lamina.utils.set_random_seed(0)
    x_np, y_np = spirals()
    x, y = ops.convert_to_tensor(x_np), ops.convert_to_tensor(y_np)

    hidden = 64
    w1 = lamina.Variable(lamina.random.normal((2, hidden), stddev=1.0, seed=1), name="w1")
    b1 = lamina.Variable(np.zeros(hidden, "float32"), name="b1")
    w2 = lamina.Variable(lamina.random.normal((hidden, 3), stddev=0.1, seed=2), name="w2")
    b2 = lamina.Variable(np.zeros(3, "float32"), name="b2")
    params = [w1, b1, w2, b2]

    def logits_of(inputs):
        h = ops.relu(ops.add(ops.matmul(inputs, w1), b1))
        return ops.add(ops.matmul(h, w2), b2)

    learning_rate = 1.0
    start = time.perf_counter()
    for step in range(1, 2001):
        with lamina.GradientTape() as tape:
            loss = ops.mean(ops.sparse_categorical_crossentropy(y, logits_of(x), from_logits=True))
        grads = tape.gradient(loss, params)
        for p, g in zip(params, grads):
            p.assign_sub(g * learning_rate)
        if step % 400 == 0 or step == 1:
            print(f"step {step:4d}  loss {float(loss):.4f}")
    elapsed = time.perf_counter() - start

    accuracy = float(ops.mean(ops.cast(ops.equal(ops.argmax(logits_of(x), axis=-1), y), "float32")))
    print(f"train accuracy {accuracy:.3f} after 2000 steps ({elapsed:.2f} s, {elapsed / 2000 * 1e6:.0f} us/step)")
    if accuracy < 0.9:
        raise SystemExit("the network did not learn the spirals")


if __name__ == "__main__":
    main()
