"""Saving and loading (`keras.saving`), in the same files as Keras 3.

- `model.save("m.keras")` / `lamina.saving.load_model("m.keras")`: a zip archive with the
  config (`config.json`), `metadata.json` and the weights (`model.weights.h5`), plus the compile
  config and the optimizer's state when the model was compiled;
- `model.save_weights("w.weights.h5")` / `model.load_weights(...)`: the weights alone;
- `serialize_keras_object` / `deserialize_keras_object`: configs in Keras's schema;
- `register_keras_serializable(package=...)` and `custom_objects=`: the user's classes.

Files written by Keras 3.15 load here and files written here load in Keras 3.15. Each layer, model
and optimizer writes and reads its own state (`save_own_variables` / `load_own_variables`, which a
user's class may override). Loading never executes code from a file and is all or nothing (a file
that does not fit leaves the model as it was); saving writes a temporary file and renames it.
"""
from lamina.saving.object_registration import (CustomObjectScope, custom_object_scope, get_custom_objects,
                                               get_registered_name, get_registered_object,
                                               register_keras_serializable)
from lamina.saving.saving_api import load_model, load_weights, save_model, save_weights
from lamina.saving.serialization_lib import deserialize_keras_object, serialize_keras_object

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects", "get_registered_name",
           "get_registered_object", "register_keras_serializable", "load_model", "load_weights",
           "save_model", "save_weights", "serialize_keras_object", "deserialize_keras_object"]
