"""`save_model`, `load_model`, `save_weights`, `load_weights`: Keras 3's entry points, with its
argument checks and messages, on top of `saving_lib`."""
import os
import zipfile

from lamina.saving import saving_lib

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]


def _ask_to_proceed_with_overwrite(filepath):
    overwrite = input(f"[WARNING] {filepath} already exists - overwrite? [y/n]").strip().lower()
    while overwrite not in ("y", "n"):
        overwrite = input('Enter "y" (overwrite) or "n" (cancel).').strip().lower()
    if overwrite == "n":
        return False
    print("[TIP] Next time specify overwrite=True!")
    return True


def _path(filepath):
    try:
        return os.fspath(filepath)
    except TypeError:
        raise ValueError(f"Expected a file path (str or os.PathLike). Received: filepath={filepath!r}") from None


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Saves `model` (config, weights, compile config and optimizer state) as a `.keras` file.

    The file is written under a temporary name in the same directory and renamed at the end, so
    an interrupted save never leaves a broken file under `filepath`.
    """
    kwargs.pop("include_optimizer", True)
    save_format = kwargs.pop("save_format", False)
    filepath = _path(filepath)
    if save_format and not filepath.endswith((".keras", ".h5", ".hdf5")):
        raise ValueError(
            "The `save_format` argument is deprecated in Keras 3. Please remove this argument and pass a file "
            f"path with either `.keras` or `.h5` extension.Received: save_format={save_format}")
    if kwargs:
        raise ValueError(f"The following argument(s) are not supported: {list(kwargs.keys())}")
    if zipped is False:
        raise ValueError("lamina saves models as zipped `.keras` files only (zipped=False is not supported).")
    if filepath.endswith((".h5", ".hdf5")):
        raise ValueError(
            "lamina does not write the legacy HDF5 model format. Use a `.keras` extension for the native "
            f"Keras format (`model.save('my_model.keras')`). Received: filepath={filepath}.")
    if not filepath.endswith(".keras"):
        raise ValueError(
            "Invalid filepath extension for saving. Please add either a `.keras` extension for the native "
            "Keras format (recommended) or a `.h5` extension. Use `model.export(filepath)` if you want to "
            "export a SavedModel for use with TFLite/TFServing/etc. "
            f"Received: filepath={filepath}.")
    if os.path.exists(filepath) and not overwrite:
        if not _ask_to_proceed_with_overwrite(filepath):
            return
    saving_lib.save_model(model, filepath)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a model saved with `model.save()` (by lamina or by Keras 3) from a `.keras` file.

    Args:
        filepath: path of the `.keras` file.
        custom_objects: a dict of names to the user's classes or functions the file refers to
            (needed for classes not registered with `register_keras_serializable`).
        compile: whether to compile the model (with its saved optimizer state) when it was compiled.
        safe_mode: Keras's flag; lamina never executes code from a file whatever its value.

    Only lamina's own classes and the user's registered or `custom_objects` classes are built; a
    `Lambda` layer, a serialized lambda or an unknown class raises ValueError. A missing, damaged
    or foreign file raises ValueError.
    """
    filepath = _path(filepath)
    if filepath.endswith(".keras"):
        if not os.path.isfile(filepath):
            raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an accessible "
                             "`.keras` zip file.")
        if not zipfile.is_zipfile(filepath):
            raise ValueError(f"The file {filepath} is not a valid `.keras` archive (damaged, truncated or not a "
                             "zip file).")
        return saving_lib.load_model(filepath, custom_objects=custom_objects, compile=compile,
                                     safe_mode=safe_mode)
    if filepath.endswith((".h5", ".hdf5")):
        raise ValueError(
            f"File format not supported: filepath={filepath}. lamina loads Keras 3 `.keras` files; the legacy "
            "HDF5 model format (`.h5`) is not supported. Weights files end in `.weights.h5`: load them with "
            "`model.load_weights()`.")
    raise ValueError(
        f"File format not supported: filepath={filepath}. Keras 3 only supports V3 `.keras` files, legacy H5 "
        "format files (`.h5` extension). Note that the legacy SavedModel format is not supported by "
        "`load_model()` in Keras 3.")


def save_weights(model, filepath, overwrite=True, max_shard_size=None, **kwargs):
    """Saves the model's weights (and its optimizer's state, when compiled) to a `.weights.h5` file."""
    filepath = _path(filepath)
    if max_shard_size is not None:
        raise ValueError("lamina does not write sharded weights (`max_shard_size`): save to one `.weights.h5` file.")
    if kwargs:
        raise ValueError(f"Invalid keyword arguments: {kwargs}")
    if not filepath.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={filepath}")
    if os.path.exists(filepath) and not overwrite:
        if not _ask_to_proceed_with_overwrite(filepath):
            return
    saving_lib.save_weights_only(model, filepath)


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """Loads weights saved by `save_weights()` (`.weights.h5`) or `save()` (`.keras`), by lamina or
    Keras 3. All or nothing: weights that do not fit raise ValueError and leave the model unchanged
    (`skip_mismatch=True` skips the objects that do not fit, with a warning)."""
    filepath = _path(filepath)
    objects_to_skip = kwargs.pop("objects_to_skip", None)
    by_name = kwargs.pop("by_name", None)
    if kwargs:
        raise ValueError(f"Invalid keyword arguments: {kwargs}")
    if by_name is not None:
        raise ValueError(f"`by_name` only supports loading legacy '.h5' or '.hdf5' files. Received: {filepath}")
    if filepath.endswith((".keras", ".weights.h5")):
        if objects_to_skip is not None and filepath.endswith(".keras"):
            raise ValueError(f"`objects_to_skip` only supports loading '.weights.h5' files.Received: {filepath}")
        return saving_lib.load_weights_only(model, filepath, skip_mismatch=skip_mismatch,
                                            objects_to_skip=objects_to_skip)
    if filepath.endswith((".h5", ".hdf5")):
        raise ValueError(
            f"File format not supported: filepath={filepath}. lamina does not read the legacy HDF5 weights "
            "format: use a `.weights.h5` file (written by `save_weights()`) or a `.keras` file.")
    raise ValueError(
        f"File format not supported: filepath={filepath}. Keras 3 only supports V3 `.keras` files, "
        "`.weights.h5` files, legacy H5 format files (`.h5` extension), or Orbax checkpoints.")
