"""Layers (`keras.layers` names)."""
from lamina.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from lamina.layers.input_spec import InputSpec
from lamina.layers.layer import Layer
from lamina.layers.symbolic import KerasTensor

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "InputSpec",
           "KerasTensor", "Layer", "Reshape"]
