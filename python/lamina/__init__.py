"""lamina: a compiled C++ tensor engine with the Keras 3 model-building API.

    import lamina as keras
    from lamina import layers, ops
"""
import os as _os

from lamina import _core
from lamina.backend import Tensor
from lamina import backend as _backend
from lamina import ops
from lamina import random
from lamina import utils
from lamina.autograd import GradientTape, no_grad
from lamina.variables import Variable, _install_variable_operators
from lamina import activations
from lamina import initializers
from lamina import layers
from lamina import models
from lamina import optimizers
from lamina import losses
from lamina import metrics
from lamina import callbacks
from lamina import saving
from lamina.layers import Input, InputSpec, KerasTensor, Layer
from lamina.models import Model, Sequential
from lamina.version import __version__

_backend._install_tensor_methods(ops)
_install_variable_operators()


def set_num_threads(n):
    """Sets how many threads lamina's kernels use (lamina keeps its own count: another library
    changing OpenMP's setting does not change it)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads expects a positive int, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads():
    """The number of threads lamina's kernels use."""
    return _core.get_num_threads()


def cmake_dir():
    """The directory holding lamina's CMake package config (for `find_package(lamina)`)."""
    return _os.path.join(_os.path.dirname(_os.path.abspath(_core.__file__)), "share", "cmake", "lamina")


__all__ = ["Tensor", "Variable", "GradientTape", "no_grad", "ops", "random", "utils",
           "activations", "callbacks", "initializers", "layers", "losses", "metrics", "models", "optimizers", "saving", "Input", "InputSpec", "KerasTensor",
           "Layer", "Model", "Sequential", "optimizers", "set_num_threads", "get_num_threads", "cmake_dir"]
