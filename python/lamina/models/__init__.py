"""Models (`keras.models` names)."""
import json

from lamina.models.functional import Functional
from lamina.models.model import Model
from lamina.models.sequential import Sequential
from lamina.saving import saving_api
from lamina.saving.serialization_lib import deserialize_keras_object

__all__ = ["Functional", "Model", "Sequential", "load_model", "save_model", "model_from_json"]


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a `.keras` file (see `lamina.saving.load_model`)."""
    return saving_api.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Saves a model as a `.keras` file (see `lamina.saving.save_model`)."""
    return saving_api.save_model(model, filepath, overwrite=overwrite, zipped=zipped, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A model (new weights) from `model.to_json()`'s string."""
    try:
        config = json.loads(json_string)
    except ValueError as e:
        raise ValueError(f"model_from_json expects a JSON string: {e}") from None
    return deserialize_keras_object(config, custom_objects=custom_objects)
