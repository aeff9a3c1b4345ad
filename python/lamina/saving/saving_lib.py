"""The `.keras` archive and the `.weights.h5` file, in Keras 3's layout.

A `.keras` file is a zip archive holding `metadata.json` (`keras_version`, `date_saved`),
`config.json` (the model's config, `serialize_keras_object(model)`) and `model.weights.h5`.

The weights file is HDF5. Each object that owns state (a layer, a model, the optimizer) has a
group `<path>/vars` whose datasets `0`, `1`, ... are its own variables in creation order
(trainable first), with the attribute `name`. Paths follow Keras's walk of the model: a
Sequential or functional model's layers under `layers/<class name in snake case>` (`dense`,
`dense_1`, ... counted per class in the order of `model.layers`), other sub-layers and the
optimizer under the attribute that holds them (`head`, `optimizer`), lists under their attribute
with the same per-class names; an object reached twice is stored once, at the first path.

Loading reads and checks everything first (every group, every count, every shape and dtype) and
assigns nothing until all of it fits: a file that does not fit leaves the model as it was.

Every file is built in memory first (h5py writes the HDF5 into a BytesIO, never to disk itself),
then written by one helper, `write_atomically`: a temporary file in the target's directory,
fsync'ed, renamed over the target (`os.replace`), and the directory fsync'ed; on any error the
temporary is removed and the target left as it was, so neither a full disk nor an interrupt can
lose the previous file or leave half a model under the real name.

Loading is bounded by the file (the limits are named in `lamina.utils.limits`): the config is read
with a cap, the model is built under a `WeightBudget` of the weights member's size (a config that
declares more weights than its file can hold fails before allocating them), and the weights member
is read in a stream capped by what the built model's variables can take, plus a margin.
"""
import datetime
import errno
import io
import json
import math
import os
import tempfile
import warnings
import zipfile
import zlib

import numpy as np

from lamina.saving.serialization_lib import deserialize_keras_object, serialize_keras_object
from lamina.utils import limits

__all__ = ["save_model", "load_model", "save_weights_only", "load_weights_only"]

CONFIG_FILENAME = "config.json"
METADATA_FILENAME = "metadata.json"
WEIGHTS_FILENAME = "model.weights.h5"
KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose files these are (Keras reads the same layout)

_READ_CHUNK_BYTES = 1 << 20


# ---------------------------------------------------------------------- the walk

_MODEL_INTERNALS = frozenset([
    # Layer
    "_tracked_layers", "_trainable_vars", "_non_trainable_vars", "name", "_trainable", "dtype", "built",
    "input_spec", "_inbound_nodes", "_build_shapes_dict", "_parent_path", "supports_masking",
    "_call_has_training", "_input_shape_arg", "_auto_config",
    # Sequential, Functional
    "_layers", "_graph", "_inputs_struct", "_outputs_struct", "_flat_inputs", "_flat_outputs", "_nodes",
    "_operations",
    # Trainer (the optimizer is saved; losses and metrics hold no saved state, as in Keras)
    "loss", "_loss_fns", "loss_weights", "_metric_specs", "_weighted_metric_specs", "_compiled_metrics",
    "_loss_tracker", "_trainable_ids", "compiled", "stop_training", "_compile_config",
])


def _is_saveable(obj):
    from lamina.layers.layer import Layer
    from lamina.optimizers.base_optimizer import Optimizer

    return isinstance(obj, (Layer, Optimizer))


def _name_key(name):
    return f"~{name}" if name.startswith("_") else name


def _children(obj):
    """(attribute, value) pairs in Keras's order: a Sequential or functional model's `layers`
    first, then the attributes sorted by name with private ones last (a subclassed model's
    `layers` property among them, as Keras's `dir()` walk sees it)."""
    from lamina.layers.layer import Layer
    from lamina.models.functional import Functional
    from lamina.models.model import Model
    from lamina.models.sequential import Sequential

    if not isinstance(obj, Layer):
        return []
    attrs = dict(vars(obj))
    out = []
    if isinstance(obj, (Sequential, Functional)):
        out.append(("layers", obj.layers))
        attrs.pop("layers", None)
    elif isinstance(obj, Model) and "layers" not in attrs:
        attrs["layers"] = obj.layers
    for name in sorted(attrs, key=_name_key):
        if name.startswith("__") or name in _MODEL_INTERNALS:
            continue
        value = attrs[name]
        if _is_saveable(value) or isinstance(value, (list, tuple, dict)):
            out.append((name, value))
    return out


def _snake_case(name):
    from lamina.utils.naming import to_snake_case

    return to_snake_case(name)


def _unique(name, used):
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _join(path, name):
    return f"{path}/{name}" if path else name


def _walk(obj, path, visited, visit):
    """Calls `visit(saveable, path)` for `obj` and everything it holds, once per object."""
    if id(obj) in visited:
        return
    visit(obj, path)
    visited.add(id(obj))
    for name, child in _children(obj):
        if _is_saveable(child):
            _walk(child, _join(path, name), visited, visit)
        else:
            _walk_container(child, _join(path, name), visited, visit, set())


def _walk_container(container, path, visited, visit, seen_containers):
    if id(container) in seen_containers:
        return
    seen_containers.add(id(container))
    items = list(container.values()) if isinstance(container, dict) else list(container)
    used = {}
    for item in items:
        if _is_saveable(item):
            _walk(item, _join(path, _unique(_snake_case(type(item).__name__), used)), visited, visit)
        elif isinstance(item, (list, tuple, dict)):
            _walk_container(item, _join(path, _unique("container", used)), visited, visit, seen_containers)


def _own_variables(obj):
    from lamina.layers.layer import Layer

    if isinstance(obj, Layer):
        return list(obj._trainable_vars) + list(obj._non_trainable_vars)
    return list(obj.variables)


def _label(obj):
    from lamina.layers.layer import Layer

    kind = "Layer" if isinstance(obj, Layer) else "Optimizer"
    return f"{kind} '{obj.name}' ({type(obj).__name__})"


# ---------------------------------------------------------------------- HDF5

def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a dependency
        raise ImportError("h5py must be installed in order to save or load weights.") from e
    return h5py


def write_weights(model, h5file):
    """Writes the state of `model` (and its optimizer) into an open, empty h5py File."""
    def visit(obj, path):
        group = h5file.create_group(_join(path, "vars"))
        group.attrs["name"] = obj.name
        for i, v in enumerate(_own_variables(obj)):
            group.create_dataset(str(i), data=v.numpy())

    _walk(model, "", set(), visit)


def _safe_group(parent, path):
    """The group at `path` (None if absent); links and non-groups are refused."""
    h5py = _h5py()
    current = parent
    for part in path.split("/"):
        if not part or part not in current:
            return None
        link = current.get(part, getclass=True, getlink=True)
        if link in (h5py.ExternalLink, h5py.SoftLink):
            raise ValueError(f"Not allowed: H5 file with {link.__name__} at '{path}'")
        current = current[part]
        if not isinstance(current, h5py.Group):
            raise ValueError(f"Invalid weights file: expected a group at '{path}', found {type(current).__name__}")
    return current


def _read_dataset(group, key, variable, where):
    """The array for `variable` from `group[key]`, after checking what it is, its shape and dtype
    (the data is read only once its shape is known to fit)."""
    h5py = _h5py()
    link = group.get(key, getclass=True, getlink=True)
    if link in (h5py.ExternalLink, h5py.SoftLink):
        raise ValueError(f"Not allowed: H5 file with {link.__name__} at '{where}/{key}'")
    ds = group[key]
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"Invalid weights file: expected a dataset at '{where}/{key}'")
    if ds.external or ds.is_virtual:
        raise ValueError(f"Not allowed: H5 file with an external or virtual dataset at '{where}/{key}'")
    if ds.dtype.kind not in "biuf":
        raise ValueError(f"Invalid weights file: the dataset '{where}/{key}' holds {ds.dtype}, not numbers")
    if tuple(ds.shape) != tuple(variable.shape):
        raise ValueError(
            f"The variable '{variable.path}' has shape {tuple(variable.shape)}, but the file holds shape "
            f"{tuple(ds.shape)} for it (at '{where}/{key}').")
    value = np.asarray(ds[()])
    if value.dtype.kind == "f" and variable.dtype != "float32":
        if not np.all(np.isfinite(value)) or not np.array_equal(value, np.round(value)):
            raise ValueError(f"The variable '{variable.path}' is {variable.dtype}, but the file holds "
                             f"non-integer values for it (at '{where}/{key}').")
    return value


def read_weights(model, h5file, skip_mismatch=False, objects_to_skip=None):
    """Reads and checks the state of `model` from an open h5py File; returns the list of
    (variable, array) to assign. Raises ValueError (naming every object that does not fit) unless
    `skip_mismatch`, which warns and leaves those objects out."""
    from lamina.optimizers.base_optimizer import Optimizer

    plan, errors = [], []

    def visit(obj, path):
        variables = _own_variables(obj)
        where = _join(path, "vars")
        group = _safe_group(h5file, where) if where else None
        stored = len(group) if group is not None else 0  # counted before any name is listed
        if isinstance(obj, Optimizer):
            if stored != len(variables):
                if stored or variables:
                    warnings.warn(
                        f"Skipping variable loading for optimizer '{obj.name}', because it has "
                        f"{len(variables)} variables whereas the saved optimizer has {stored} variables. "
                        + ("This is likely because the optimizer has not been called/built yet."
                           if not variables else ""), stacklevel=4)
                return
        elif stored != len(variables):
            errors.append((obj, f"Layer '{obj.name}' expected {len(variables)} variables, but received "
                                f"{stored} variables during loading. Expected: "
                                f"{[v.name for v in variables]}"))
            return
        keys = set(group.keys()) if group is not None else set()
        found = []
        try:
            for i, v in enumerate(variables):
                if str(i) not in keys:
                    raise ValueError(f"The file has no variable '{i}' under '{where}'.")
                found.append((v, _read_dataset(group, str(i), v, where)))
        except ValueError as e:
            if isinstance(obj, Optimizer):
                warnings.warn(f"Skipping variable loading for optimizer '{obj.name}': {e}", stacklevel=4)
                return
            errors.append((obj, str(e)))
            return
        plan.extend(found)

    try:
        _walk(model, "", {id(o) for o in objects_to_skip or ()}, visit)
    except (OSError, RuntimeError, KeyError, TypeError, IndexError, OverflowError, MemoryError) as e:
        # h5py opened the file but could not read it: its internal structure is damaged
        raise ValueError(f"The weights file is damaged or truncated: {type(e).__name__}: {e}") from None
    if errors:
        obj, message = errors[0]
        text = (f"A total of {len(errors)} objects could not be loaded. Example error message for "
                f"object {_label(obj)}:\n\n{message}\n\nList of objects that could not be loaded:\n"
                f"{[_label(o) for o, _ in errors]}")
        if not skip_mismatch:
            raise ValueError(text + "\n\nNothing was loaded: the model is unchanged.")
        warnings.warn(text, stacklevel=3)
    return plan


def assign_all(plan):
    for variable, value in plan:
        variable.assign(value)


# ---------------------------------------------------------------------- files

def _write_all(f, data):
    """Writes `data` to the open binary file `f` (a seam for the tests' full-disk writer)."""
    view = memoryview(data)
    while view:
        written = f.write(view)
        view = view[written:]


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # a directory that cannot be opened (e.g. on Windows) cannot be fsync'ed either
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # file systems without directory fsync
            raise
    finally:
        os.close(fd)


def _umask():
    # Linux reports the umask in /proc (reading it is thread-safe); elsewhere the set-and-restore
    # round trip, which another thread creating a file at that instant could observe.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(filepath, data):
    """Writes the bytes `data` to `filepath` so that no error can lose data: a temporary file in
    the same directory, fsync'ed, renamed over `filepath`, then the directory fsync'ed. On any
    error (a full disk, an I/O error, an interrupt) the temporary file is removed and `filepath`
    keeps its previous content; an OSError is raised again as an OSError naming `filepath` and the
    cause, anything else (KeyboardInterrupt) as itself."""
    filepath = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(filepath))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(filepath)}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, filepath)
        tmp = None
        _fsync_directory(directory)
    except BaseException as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(e, OSError):
            raise OSError(e.errno, f"Could not save {filepath}: {e.strerror or e}. The previous file (if any) "
                                   "is unchanged and no temporary file was left.", filepath) from e
        raise


def atomic_write(filepath, write):
    """Runs `write(buffer)` on an in-memory binary buffer, then writes its bytes with
    `write_atomically` (nothing is written to disk before the whole file exists in memory)."""
    buffer = io.BytesIO()
    write(buffer)
    write_atomically(filepath, buffer.getbuffer())


def weights_bytes(model):
    """The `.weights.h5` bytes of `model`: h5py builds the HDF5 in memory (never on disk, where a
    failed write could crash its close)."""
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5file:
        write_weights(model, h5file)
    return buffer.getvalue()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable: {value!r}")


def serialize_model_as_json(model):
    try:
        config_json = json.dumps(serialize_keras_object(model), default=_json_default)
    except TypeError as e:
        raise ValueError(f"The config of model '{model.name}' could not be written as JSON: {e}") from None
    from lamina import __version__ as lamina_version

    metadata_json = json.dumps({
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "lamina_version": lamina_version,
    })
    return config_json, metadata_json


def save_model(model, filepath):
    """Writes `model` to the `.keras` archive `filepath` (atomically)."""
    if not model.built:
        warnings.warn(
            "You are saving a model that has not yet been built. It might not contain any weights yet. "
            "Consider building the model first by calling it on some data.", stacklevel=3)
    _prepare_optimizer(model)
    config_json, metadata_json = serialize_model_as_json(model)
    weights = weights_bytes(model)

    def write(buffer):
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr(METADATA_FILENAME, metadata_json)
            zf.writestr(CONFIG_FILENAME, config_json)
            zf.writestr(WEIGHTS_FILENAME, weights)

    atomic_write(filepath, write)


def _prepare_optimizer(model):
    """Creates the optimizer's slot variables of a built, compiled model before its state is
    written or read (as Keras's `compile_from_config` does), so the file holds the whole state."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(model, "compiled", False) and model.built and not optimizer.built:
        optimizer.build(model.trainable_weights)


def _open_archive(filepath):
    try:
        archive = zipfile.ZipFile(filepath, "r")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError,
            OverflowError) as e:
        raise ValueError(f"The file {filepath} is not a valid `.keras` archive (damaged, truncated or not a "
                         f"zip file): {e}") from None
    return archive


def _member_info(archive, name, filepath):
    """The ZipInfo of `name`, after checking its header against the archive: stored bytes within
    the file, and no expansion past `limits.MAX_EXPANSION` once over `limits.EXPANSION_FLOOR_BYTES`."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"The file {filepath} is not a valid `.keras` archive: it has no `{name}`.") from None
    archive_size = os.fstat(archive.fp.fileno()).st_size
    if info.compress_size > archive_size:
        raise ValueError(f"The file {filepath} is damaged: its member `{name}` declares {info.compress_size} "
                         f"stored bytes, but the file has only {archive_size}.")
    if info.file_size > limits.EXPANSION_FLOOR_BYTES and \
            info.file_size > limits.MAX_EXPANSION * max(1, info.compress_size):
        raise ValueError(f"Not allowed: ZIP member '{name}' declares {info.file_size} bytes but only "
                         f"{info.compress_size} are stored; refusing a potential decompression bomb.")
    return info


def _read_member(archive, name, filepath, limit):
    """The bytes of member `name`, read in a stream that stops past `limit` bytes or past the size
    its header declares (whichever is smaller): a member is never trusted to be what it says."""
    info = _member_info(archive, name, filepath)
    if info.file_size > limit:
        raise ValueError(f"The `{name}` of {filepath} declares {info.file_size} bytes, more than the {limit} "
                         "its model can hold: the file is damaged or not a model's.")
    cap = min(info.file_size, limit)
    chunks, total = [], 0
    try:
        with archive.open(name, "r") as f:
            while True:
                chunk = f.read(min(_READ_CHUNK_BYTES, cap + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > cap:
                    raise ValueError(f"The `{name}` of {filepath} holds more than the {cap} bytes allowed "
                                     "for it: the file is damaged or not a model's.")
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError,
            OverflowError) as e:
        # a bad CRC, a broken deflate stream, an encrypted or unknown-compression member
        raise ValueError(f"The file {filepath} is damaged: could not read `{name}` ({e}).") from None
    return b"".join(chunks)


def _weights_limit(model):
    """The most bytes the weights member of `model`'s file may take: every variable of the model
    stored as float64 with up to three optimizer slots each, plus HDF5's own structures."""
    scalars = sum(math.prod(v.shape) for v in model.weights)
    count = len(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        scalars += sum(math.prod(v.shape) for v in optimizer.variables)
        count += len(optimizer.variables)
    return (scalars * limits.MAX_STORED_BYTES_PER_SCALAR + limits.WEIGHTS_FIXED_MARGIN_BYTES
            + (4 * count + 16) * limits.WEIGHTS_PER_VARIABLE_MARGIN_BYTES)


def _open_h5(source, filepath):
    h5py = _h5py()
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as e:
        raise ValueError(f"The weights in {filepath} are not a valid HDF5 file (damaged, truncated or "
                         f"another format): {e}") from None


def read_config(archive, filepath):
    raw = _read_member(archive, CONFIG_FILENAME, filepath, limit=limits.MAX_CONFIG_BYTES)
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"The `{CONFIG_FILENAME}` of {filepath} is not valid JSON: {e}") from None
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) or "config" not in config:
        raise ValueError(f"The `{CONFIG_FILENAME}` of {filepath} does not describe a model "
                         "(expected a dict with 'class_name' and 'config').")
    return config


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model stored in the `.keras` archive `filepath`, with its weights (and, when it was
    compiled and `compile=True`, compiled with its optimizer's state)."""
    from lamina.models.model import Model

    with _open_archive(filepath) as archive:
        config = read_config(archive, filepath)
        if not compile:
            config["compile_config"] = None
        # the weights member must hold every weight: building may allocate no more than its size
        budget = _member_info(archive, WEIGHTS_FILENAME, filepath).file_size
        with limits.WeightBudget(budget, f"The file {filepath}"):
            try:
                model = deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
            except RecursionError:
                raise ValueError(f"The config of {filepath} is nested too deeply to be a model's.") from None
            if not isinstance(model, Model):
                raise ValueError(f"The file {filepath} does not hold a model: its config describes a "
                                 f"{type(model).__name__}.")
            _prepare_optimizer(model)
        weights = _read_member(archive, WEIGHTS_FILENAME, filepath, _weights_limit(model))
    with _open_h5(io.BytesIO(weights), filepath) as h5file:
        plan = read_weights(model, h5file)
    assign_all(plan)
    return model


def save_weights_only(model, filepath):
    if not model.built:
        raise ValueError("You are saving a model that has not yet been built. Try building the model first by "
                         "calling it on some data or by using `build()`.")
    _prepare_optimizer(model)
    write_atomically(filepath, weights_bytes(model))


def load_weights_only(model, filepath, skip_mismatch=False, objects_to_skip=None):
    if not model.built:
        raise ValueError("You are loading weights into a model that has not yet been built. Try building the "
                         "model first by calling it on some data or by using `build()`.")
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file exists and is readable.")
    _prepare_optimizer(model)
    if filepath.endswith(".keras"):
        with _open_archive(filepath) as archive:
            source = io.BytesIO(_read_member(archive, WEIGHTS_FILENAME, filepath, _weights_limit(model)))
    else:
        source = filepath
    with _open_h5(source, filepath) as h5file:
        plan = read_weights(model, h5file, skip_mismatch=skip_mismatch, objects_to_skip=objects_to_skip)
    assign_all(plan)
