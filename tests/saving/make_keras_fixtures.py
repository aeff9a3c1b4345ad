"""Writes the Keras 3.15 fixtures of tests/test_saving.py into tests/saving/fixtures/.

Run with real Keras (torch backend), not with lamina:

    KERAS_BACKEND=torch /tmp/kerasenv/bin/python tests/saving/make_keras_fixtures.py

For each model it builds with fixed seeds, trains briefly (so that BatchNormalization's moving
statistics and the optimizer's state are not their initial values), and saves:

- `<name>.keras` (model.save) and, for some, `<name>.weights.h5` (model.save_weights);
- `<name>.npz`: the inputs `x0`, `x1`, ... and Keras's predictions `y0`, `y1`, ... on them; for
  the models marked `step`, also the batch `step_x*`, `step_y*` of one more training step taken
  after saving and Keras's predictions after that step, `after_y*` (so a test can check that
  lamina continues training from Keras's optimizer state as Keras does).

To keep the fixtures small, every `.keras` archive but `seq_mlp.keras` (kept byte for byte as
Keras wrote it) is re-packed with zip's deflate compression: the members are Keras's own bytes,
only the archive compresses them (Keras and lamina read both kinds of archive).

The test file defines the same registered classes (`lamina_fixtures>Scale`,
`lamina_fixtures>TinyBlock`) with lamina's API.
"""
import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


@keras.saving.register_keras_serializable(package="lamina_fixtures")
class Scale(layers.Layer):
    """x * scale, one weight per channel."""

    def __init__(self, init=1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.init),
                                     name="scale")

    def call(self, x):
        return x * self.scale

    def get_config(self):
        return {**super().get_config(), "init": self.init}


@keras.saving.register_keras_serializable(package="lamina_fixtures")
class TinyBlock(keras.Model):
    """A subclassed model: attributes, a list of layers, and one attribute sorted after `layers`
    (so Keras stores it under `layers/`)."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.blocks = [layers.Dense(units, activation="relu"), layers.Dense(units)]
        self.head = layers.Dense(2)
        self.scale = Scale(0.5)

    def call(self, x):
        for layer in self.blocks:
            x = layer(x)
        return self.scale(self.head(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def seq_mlp():
    model = keras.Sequential([keras.Input((6,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                              layers.Dropout(0.25), layers.Dense(3, activation="softmax")], name="seq_mlp")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = np.random.rand(32, 6).astype("float32")
    y = np.random.randint(0, 3, size=(32,))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    return model, [x[:4]], None


def cnn():
    model = keras.Sequential([
        keras.Input((8, 8, 2)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(6, (3, 2), strides=(1, 2), padding="valid"),
        layers.AveragePooling2D(pool_size=2, padding="same"),
        layers.Flatten(),
        layers.Dense(5),
        layers.Reshape((5, 1)),
        layers.Flatten(),
        layers.Activation("tanh"),
    ], name="cnn")
    return model, [np.random.rand(3, 8, 8, 2).astype("float32")], None


def functional_multi():
    a = keras.Input((5,), name="vec")
    b = keras.Input((4, 4, 1), name="img")
    h = layers.Dense(6, activation="relu", name="h")(a)
    g = layers.Dense(6, name="g")(a)
    c = layers.Conv2D(3, 2, activation="relu", name="c")(b)
    p1 = layers.GlobalAveragePooling2D()(c)
    p2 = layers.GlobalMaxPooling2D()(c)
    pooled = layers.Dense(6, name="pool_proj")(layers.Concatenate()([p1, p2]))
    merged = [layers.Add()([h, g]), layers.Subtract()([h, g]), layers.Multiply()([h, pooled]),
              layers.Average()([h, g, pooled]), layers.Maximum()([g, pooled]), layers.Minimum()([h, pooled])]
    joined = layers.Concatenate(axis=-1)(merged)
    out1 = layers.Dense(2, name="out1")(joined)
    out2 = layers.Dense(1, activation="sigmoid", name="out2")(layers.Add()([h, pooled]))
    model = keras.Model([a, b], [out1, out2], name="functional_multi")
    x = [np.random.rand(3, 5).astype("float32"), np.random.rand(3, 4, 4, 1).astype("float32")]
    return model, x, None


def nested():
    inner_seq = keras.Sequential([keras.Input((6,)), layers.Dense(6, activation="relu"), layers.BatchNormalization()],
                                 name="inner_seq")
    i = keras.Input((6,))
    j = layers.Dense(6, activation="tanh")(i)
    inner_fn = keras.Model(i, layers.Add()([i, j]), name="inner_fn")  # a residual block
    x_in = keras.Input((6,), name="x")
    h = inner_seq(x_in)
    h = inner_fn(h)
    h = Scale(2.0, name="scale")(h)
    out = layers.Dense(1)(layers.Add()([h, x_in]))
    model = keras.Model(x_in, out, name="nested")
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse", metrics=["mae"])
    x = np.random.rand(32, 6).astype("float32")
    y = np.random.rand(32, 1).astype("float32")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    step = (np.random.rand(8, 6).astype("float32"), np.random.rand(8, 1).astype("float32"))
    return model, [x[:4]], step


def subclassed():
    model = TinyBlock(4, name="tiny_block")
    model(np.zeros((2, 3), "float32"))
    return model, [np.random.rand(3, 3).astype("float32")], None


def repack_deflated(path):
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)


MODELS = {"seq_mlp": (seq_mlp, True), "cnn": (cnn, False), "functional_multi": (functional_multi, False),
          "nested": (nested, True), "subclassed": (subclassed, False)}


def main():
    os.makedirs(HERE, exist_ok=True)
    for i, (name, (make, with_weights_file)) in enumerate(MODELS.items()):
        keras.utils.set_random_seed(100 + i)
        model, xs, step = make()
        inputs = xs[0] if len(xs) == 1 else xs
        ys = model.predict(inputs, verbose=0)
        ys = ys if isinstance(ys, list) else [ys]
        model.save(os.path.join(HERE, f"{name}.keras"))
        if name != "seq_mlp":
            repack_deflated(os.path.join(HERE, f"{name}.keras"))
        if with_weights_file:
            model.save_weights(os.path.join(HERE, f"{name}.weights.h5"))
        arrays = {f"x{k}": v for k, v in enumerate(xs)}
        arrays.update({f"y{k}": np.asarray(v) for k, v in enumerate(ys)})
        if step is not None:
            sx, sy = step
            model.train_on_batch(sx, sy)
            after = model.predict(inputs, verbose=0)
            after = after if isinstance(after, list) else [after]
            arrays.update(step_x0=sx, step_y0=sy)
            arrays.update({f"after_y{k}": np.asarray(v) for k, v in enumerate(after)})
        np.savez(os.path.join(HERE, f"{name}.npz"), **arrays)
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    print(f"wrote {len(os.listdir(HERE))} files, {total / 1024:.0f} KiB, to {HERE}")


if __name__ == "__main__":
    main()
