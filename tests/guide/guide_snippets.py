"""The snippets of the Keras guide "The Sequential model", in order, from "when to use a Sequential
model" through "a common debugging workflow: add() + summary()".

    python guide_snippets.py lamina      # import lamina as keras
    python guide_snippets.py keras       # real Keras 3 (KERAS_BACKEND=torch), to make the fixture

The code is the guide's, lines lost in the extraction restored from the English original; what the
guide shows (reprs, counts, summaries) is collected and printed as segments separated by
"<<<>>>" lines, so the test can compare lamina's output with Keras 3.15's, segment by segment.
Run it in a fresh process: automatic names (dense_6, sequential_3, ...) count per process.
"""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
if sys.argv[1:] == ["keras"]:
    import keras
    from keras import layers, ops
else:
    import lamina as keras
    from lamina import layers, ops

segments = []
show = segments.append

# --- When to use a Sequential model
model = keras.Sequential(
    [
        layers.Dense(2, activation="relu", name="layer1"),
        layers.Dense(3, activation="relu", name="layer2"),
        layers.Dense(4, name="layer3"),
    ]
)
x = ops.ones((3, 3))
y = model(x)
show(f"y.shape: {tuple(y.shape)}")

layer1 = layers.Dense(2, activation="relu", name="layer1")
layer2 = layers.Dense(3, activation="relu", name="layer2")
layer3 = layers.Dense(4, name="layer3")
x = ops.ones((3, 3))
y = layer3(layer2(layer1(x)))
show(f"y.shape: {tuple(y.shape)}")

# --- Creating a Sequential model
model = keras.Sequential(
    [
        layers.Dense(2, activation="relu"),
        layers.Dense(3, activation="relu"),
        layers.Dense(4),
    ]
)
show(repr(model.layers))

model = keras.Sequential()
model.add(layers.Dense(2, activation="relu"))
model.add(layers.Dense(3, activation="relu"))
model.add(layers.Dense(4))
model.pop()
show(str(len(model.layers)))  # 2

model = keras.Sequential(name="my_sequential")
model.add(layers.Dense(2, activation="relu", name="layer1"))
model.add(layers.Dense(3, activation="relu", name="layer2"))
model.add(layers.Dense(4, name="layer3"))
show(f"{model.name}: {[l.name for l in model.layers]}")

# --- Specifying the input shape in advance
layer = layers.Dense(3)
show(repr(layer.weights))  # Empty

x = ops.ones((1, 4))
y = layer(x)
show("\n".join(f"{w.path} {tuple(w.shape)} {w.dtype}" for w in layer.weights))

model = keras.Sequential(
    [
        layers.Dense(2, activation="relu"),
        layers.Dense(3, activation="relu"),
        layers.Dense(4),
    ]
)  # No weights at this stage!
# At this point, you can't do this: model.weights / model.summary()
x = ops.ones((1, 4))
y = model(x)
show(f"Number of weights after calling the model: {len(model.weights)}")  # 6
model.summary(print_fn=show)

model = keras.Sequential()
model.add(keras.Input(shape=(4,)))
model.add(layers.Dense(2, activation="relu"))
model.summary(print_fn=show)
show(repr(model.layers))

# --- A common debugging workflow: add() + summary()
model = keras.Sequential()
model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(3))
# Can you guess what the current output shape is at this point? Probably not. Let's just print it:
model.summary(print_fn=show)
# The answer was: (40, 40, 32), so we can keep downsampling...
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(3))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(2))
# And now?
model.summary(print_fn=show)
# Now that we have 4x4 feature maps, time to apply global max pooling.
model.add(layers.GlobalMaxPooling2D())
# Finally, we add a classification layer.
model.add(layers.Dense(10))
model.summary(print_fn=show)

# summary() options, on the same model
model.summary(print_fn=show, show_trainable=True)
model.summary(print_fn=show, line_length=70)
model.summary(print_fn=show, positions=[0.5, 0.75, 1.0], line_length=90)

sys.stdout.write("\n<<<>>>\n".join(segments))
