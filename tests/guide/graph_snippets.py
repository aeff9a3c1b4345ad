"""Functional, nested and subclassed models, printed the same way by lamina and by Keras 3.15.

    python graph_snippets.py lamina | keras

Covers the guide's two feature extractors ("feature extraction with a Sequential model"), a
residual block, a two-input / two-output model, a shared layer, a model nested in a Sequential
model and a subclassed model: their summaries, and their outputs on fixed inputs with weights set
from a seeded generator (rounded to 4 decimals). Segments are separated by "<<<>>>" lines.
"""
import os
import sys

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
if sys.argv[1:] == ["keras"]:
    import keras
    from keras import layers, ops
else:
    import lamina as keras
    from lamina import layers, ops

segments = []
show = segments.append
rng = np.random.default_rng(0)


def set_weights(model):
    model.set_weights([rng.normal(0, 0.3, size=tuple(w.shape)).astype("float32") for w in model.weights])


def show_values(outputs):
    if isinstance(outputs, dict):
        outputs = [outputs[k] for k in sorted(outputs)]
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    for o in outputs:
        a = np.asarray(ops.convert_to_numpy(o), dtype=np.float64)
        show(f"shape {a.shape} sum {a.sum():.4f} first {np.round(a.reshape(-1)[:4], 4).tolist()}")


# --- the guide: feature extraction with a Sequential model
initial_model = keras.Sequential(
    [
        keras.Input(shape=(250, 250, 3)),
        layers.Conv2D(32, 5, strides=2, activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
    ]
)
feature_extractor = keras.Model(
    inputs=initial_model.inputs,
    outputs=[layer.output for layer in initial_model.layers],
)
# Call feature extractor on test input.
x = ops.ones((1, 250, 250, 3))
features = feature_extractor(x)
show(str([tuple(f.shape) for f in features]))
feature_extractor.summary(print_fn=show)

initial_model = keras.Sequential(
    [
        keras.Input(shape=(250, 250, 3)),
        layers.Conv2D(32, 5, strides=2, activation="relu"),
        layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
        layers.Conv2D(32, 3, activation="relu"),
    ]
)
feature_extractor = keras.Model(
    inputs=initial_model.inputs,
    outputs=initial_model.get_layer(name="my_intermediate_layer").output,
)
# Call feature extractor on test input.
x = ops.ones((1, 250, 250, 3))
features = feature_extractor(x)
show(str(tuple(features.shape)))
feature_extractor.summary(print_fn=show)

# --- a residual block
inputs = keras.Input(shape=(8, 8, 4), name="image")
x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inputs)
x = layers.Conv2D(4, 3, padding="same", name="conv_b")(x)
x = layers.Add(name="residual")([x, inputs])
x = layers.Activation("relu", name="post_relu")(x)
x = layers.GlobalAveragePooling2D(name="gap")(x)
outputs = layers.Dense(3, name="head")(x)
residual = keras.Model(inputs, outputs, name="residual_model")
residual.summary(print_fn=show)
set_weights(residual)
show_values(residual(rng.normal(size=(2, 8, 8, 4)).astype("float32")))

# --- two inputs, two outputs, every merging layer
a_in = keras.Input(shape=(6,), name="a")
b_in = keras.Input(shape=(6,), name="b")
ha = layers.Dense(5, activation="tanh", name="ha")(a_in)
hb = layers.Dense(5, activation="tanh", name="hb")(b_in)
merged = [
    layers.Subtract(name="sub")([ha, hb]),
    layers.Multiply(name="mul")([ha, hb]),
    layers.Average(name="avg")([ha, hb]),
    layers.Maximum(name="max")([ha, hb]),
    layers.Minimum(name="min")([ha, hb]),
]
cat = layers.Concatenate(name="cat")(merged)
out_1 = layers.Dense(2, name="out_1")(cat)
out_2 = layers.Dense(1, activation="sigmoid", name="out_2")(layers.Concatenate(axis=-1, name="cat2")([ha, hb]))
two_io = keras.Model(inputs=[a_in, b_in], outputs=[out_1, out_2], name="two_io")
two_io.summary(print_fn=show)
set_weights(two_io)
show_values(two_io([rng.normal(size=(3, 6)).astype("float32"), rng.normal(size=(3, 6)).astype("float32")]))

# --- a shared layer (one set of weights, called twice)
left = keras.Input(shape=(4,), name="left")
right = keras.Input(shape=(4,), name="right")
shared = layers.Dense(3, activation="relu", name="shared")
distance = layers.Subtract(name="diff")([shared(left), shared(right)])
siamese = keras.Model([left, right], distance, name="siamese")
siamese.summary(print_fn=show)
show(f"weights: {len(siamese.weights)} params: {siamese.count_params()}")
set_weights(siamese)
show_values(siamese([rng.normal(size=(2, 4)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")]))

# --- a model nested in a Sequential model (the guide's transfer-learning pattern)
base_in = keras.Input(shape=(10, 10, 2), name="base_in")
base_x = layers.Conv2D(3, 3, activation="relu", name="base_conv")(base_in)
base_out = layers.GlobalMaxPooling2D(name="base_pool")(base_x)
base_model = keras.Model(base_in, base_out, name="base_model")
model = keras.Sequential([base_model, layers.Dense(4, name="top")], name="nested")
model.summary(print_fn=show)
model.summary(print_fn=show, expand_nested=True)
set_weights(model)
show_values(model(rng.normal(size=(2, 10, 10, 2)).astype("float32")))


# --- a subclassed model
class TwoLayer(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(6, activation="relu", name="sub_hidden")
        self.out = layers.Dense(2, name="sub_out")

    def call(self, inputs, training=None):
        return self.out(self.hidden(inputs))


sub = TwoLayer(name="two_layer")
y = sub(np.ones((2, 3), "float32"))
show(f"{tuple(y.shape)} {len(sub.weights)} {sub.count_params()} {[l.name for l in sub.layers]}")
set_weights(sub)
show_values(sub(rng.normal(size=(2, 3)).astype("float32")))

sys.stdout.write("\n<<<>>>\n".join(segments))
