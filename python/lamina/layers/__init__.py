"""Layers (`keras.layers` names)."""
from lamina.layers.conv import (AveragePooling2D, Conv2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                                MaxPooling2D)
from lamina.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from lamina.layers.input_spec import InputSpec
from lamina.layers.layer import Layer
from lamina.layers.symbolic import KerasTensor

__all__ = ["Activation", "AveragePooling2D", "Conv2D", "Dense", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "MaxPooling2D", "Dropout", "Flatten", "Input", "InputLayer", "InputSpec",
           "KerasTensor", "Layer", "Reshape"]
