"""The Keras guide "The Sequential model", walked with lamina.

Every snippet of the guide from "when to use a Sequential model" through "feature extraction with a
Sequential model" runs here as the guide writes it, with `import lamina as keras` and
`from lamina import layers, ops`, and prints what the guide prints. Then the guide's workflow runs
on real data, scikit-learn's handwritten digits (shipped with scikit-learn, no download): build a
small CNN and print its summary, train it with the progress bar, evaluate it, predict, extract
features with the guide's pattern, and print the test accuracy.

    python examples/sequential_guide.py
"""
import time

import numpy as np

import lamina as keras
from lamina import layers, ops


def section(title):
    print(f"\n=== {title}")


section("When to use a Sequential model")
# Define Sequential model with 3 layers
model = keras.Sequential(
    [
        layers.Dense(2, activation="relu", name="layer1"),
        layers.Dense(3, activation="relu", name="layer2"),
        layers.Dense(4, name="layer3"),
    ]
)
# Call model on a test input
x = ops.ones((3, 3))
y = model(x)
print("y:", y)

# is equivalent to this function
layer1 = layers.Dense(2, activation="relu", name="layer1")
layer2 = layers.Dense(3, activation="relu", name="layer2")
layer3 = layers.Dense(4, name="layer3")
x = ops.ones((3, 3))
y = layer3(layer2(layer1(x)))
print("y.shape:", y.shape)

section("Creating a Sequential model")
model = keras.Sequential(
    [
        layers.Dense(2, activation="relu"),
        layers.Dense(3, activation="relu"),
        layers.Dense(4),
    ]
)
print(model.layers)

model = keras.Sequential()
model.add(layers.Dense(2, activation="relu"))
model.add(layers.Dense(3, activation="relu"))
model.add(layers.Dense(4))
model.pop()
print(len(model.layers))  # 2

model = keras.Sequential(name="my_sequential")
model.add(layers.Dense(2, activation="relu", name="layer1"))
model.add(layers.Dense(3, activation="relu", name="layer2"))
model.add(layers.Dense(4, name="layer3"))

section("Specifying the input shape in advance")
layer = layers.Dense(3)
print(layer.weights)  # Empty

# Call layer on a test input
x = ops.ones((1, 4))
y = layer(x)
print(layer.weights)  # Now it has weights, of shape (4, 3) and (3,)

model = keras.Sequential(
    [
        layers.Dense(2, activation="relu"),
        layers.Dense(3, activation="relu"),
        layers.Dense(4),
    ]
)  # No weights at this stage!
try:
    model.weights  # At this point, you can't do this
except ValueError as e:
    print("model.weights before the model is built:", e)

# Call the model on a test input
x = ops.ones((1, 4))
y = model(x)
print("Number of weights after calling the model:", len(model.weights))  # 6
model.summary()

model = keras.Sequential()
model.add(keras.Input(shape=(4,)))
model.add(layers.Dense(2, activation="relu"))
model.summary()
print(model.layers)

section("A common debugging workflow: add() + summary()")
model = keras.Sequential()
model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(3))

# Can you guess what the current output shape is at this point? Probably not.
# Let's just print it:
model.summary()

# The answer was: (40, 40, 32), so we can keep downsampling...
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(3))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(2))

# And now?
model.summary()

# Now that we have 4x4 feature maps, time to apply global max pooling.
model.add(layers.GlobalMaxPooling2D())

# Finally, we add a classification layer.
model.add(layers.Dense(10))
model.summary()

section("Feature extraction with a Sequential model")
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
print("features of every layer:", [f.shape for f in features])

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
print("features of my_intermediate_layer:", features.shape)

section("Running the guide's CNN")
images = np.random.default_rng(0).random((16, 250, 250, 3), dtype=np.float32)
model(images[:1])  # warm-up
start = time.perf_counter()
logits = model(images)
elapsed = time.perf_counter() - start
print(f"logits for 16 images of 250x250x3: shape {logits.shape}, "
      f"{elapsed * 1e3:.0f} ms ({16 / elapsed:.0f} images/s on {keras.get_num_threads()} threads)")


section("The workflow on real data: scikit-learn's digits")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

keras.utils.set_random_seed(0)
digits = load_digits()
images = (digits.images / 16.0).astype("float32")[..., None]  # (1797, 8, 8, 1): NHWC in [0, 1]
x_train, x_test, y_train, y_test = train_test_split(images, digits.target, test_size=0.25, random_state=0)

model = keras.Sequential(name="digits_cnn")
model.add(keras.Input(shape=(8, 8, 1)))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.Conv2D(32, 3, activation="relu"))
model.add(layers.MaxPooling2D(2))
model.add(layers.Flatten())
model.add(layers.Dense(64, activation="relu"))
model.add(layers.Dense(10))
model.summary()

model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
start = time.perf_counter()
history = model.fit(x_train, y_train, batch_size=32, epochs=15, validation_split=0.1)
print(f"trained in {time.perf_counter() - start:.1f} s")

test_loss, test_accuracy = model.evaluate(x_test, y_test)
logits = model.predict(x_test[:5], verbose=0)
print("predicted:", logits.argmax(axis=-1).tolist(), "true:", y_test[:5].tolist())

# Feature extraction with the guide's pattern, on the trained model.
feature_extractor = keras.Model(
    inputs=model.inputs,
    outputs=[layer.output for layer in model.layers],
)
features = feature_extractor(x_test[:2])
print("features of every layer:", [f.shape for f in features])

section("Transfer learning with a Sequential model")
# Blueprint 1: freeze all layers except the last one, recompile, train: only the last layer moves.
for layer in model.layers[:-1]:
    layer.trainable = False
model.compile(optimizer=keras.optimizers.Adam(1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.summary(show_trainable=True)
model.fit(x_train, y_train, batch_size=32, epochs=2, verbose=2)

# Blueprint 2: a frozen base model under a new classification head (the guide uses Xception; here
# the trained convolution layers are the base).
base_model = keras.Sequential(model.layers[:-2], name="digits_base")
base_model.trainable = False
new_model = keras.Sequential([base_model, layers.Dense(10, name="new_head")], name="transfer")
new_model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
new_model.fit(x_train, y_train, batch_size=32, epochs=5, verbose=2)
_, transfer_accuracy = new_model.evaluate(x_test, y_test, verbose=0)
print(f"new head on the frozen base: test accuracy {transfer_accuracy:.4f}")

print(f"test accuracy: {test_accuracy:.4f}")
