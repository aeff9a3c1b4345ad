"""The registered classes the saving fixtures use (the Keras twins are in make_keras_fixtures.py),
written with lamina's API. Imported by tests/test_saving.py and by the corpus worker, which loads
the subclassed fixture in its own process."""
import lamina as keras
from lamina import layers, ops


@keras.saving.register_keras_serializable(package="lamina_fixtures")
class Scale(layers.Layer):
    def __init__(self, init=1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.init),
                                     name="scale")

    def call(self, x):
        return ops.multiply(x, self.scale.value)

    def get_config(self):
        return {**super().get_config(), "init": self.init}


@keras.saving.register_keras_serializable(package="lamina_fixtures")
class TinyBlock(keras.Model):
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

