"""Layers (`keras.layers` names)."""
from lamina.layers.conv import (AveragePooling2D, Conv2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                                MaxPooling2D)
from lamina.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Lambda, Reshape
from lamina.layers.normalization import BatchNormalization, LayerNormalization
from lamina.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                                   average, concatenate, maximum, minimum, multiply, subtract)
from lamina.layers.input_spec import InputSpec
from lamina.layers.layer import Layer
from lamina.symbolic import KerasTensor

__all__ = ["BatchNormalization", "LayerNormalization", "Add", "Average", "Concatenate", "Lambda", "Maximum", "Minimum", "Multiply", "Subtract",
           "add", "average", "concatenate", "maximum", "minimum", "multiply", "subtract",
           "Activation", "AveragePooling2D", "Conv2D", "Dense", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "MaxPooling2D", "Dropout", "Flatten", "Input", "InputLayer", "InputSpec",
           "KerasTensor", "Layer", "Reshape"]
