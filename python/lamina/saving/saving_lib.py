"""The `.keras` archive and the `.weights.h5` file, in Keras 3's layout.

A `.keras` file is a zip archive holding `metadata.json` (`keras_version`, `date_saved`),
`config.json` (the model's config, `serialize_keras_object(model)`) and `model.weights.h5`.

The weights file is HDF5. Each object that owns state (a layer, a model, the optimizer: a
`KerasSaveable`) has a group `<path>/vars`, with the attribute `name`, that its
`save_own_variables(store)` fills and its `load_own_variables(store)` reads, as in Keras: by
default the datasets `0`, `1`, ... are its own variables in creation order (trainable first), and
a user's class may override both. Paths follow Keras's walk of the model: a Sequential or
functional model's layers under `layers/<class name in snake case>` (`dense`, `dense_1`, ...
counted per class in the order of `model.layers`), other sub-layers and the optimizer under the
attribute that holds them (`head`, `optimizer`), lists under their attribute with the same
per-class names; an object reached twice is stored once, at the first path. The walk skips the
attributes a plain instance of the object's base class has (its internals).

Loading is all or nothing: every object's `load_own_variables` runs (the defaults check counts,
shapes and dtypes before assigning anything), and if any of them fails, every variable gets its
value back before the error names every object that did not fit: a file that does not fit
leaves the model as it was.

Every file is built in memory first (h5py writes the HDF5 into a BytesIO, never to disk itself),
then written by one helper, `write_atomically`: a temporary file in the target's directory,
fsync'ed, renamed over the target (`os.replace`), and the directory fsync'ed; on any error the
temporary is removed and the target left as it was, so neither a full disk nor an interrupt can
lose the previous file or leave half a model under the real name.

Loading is bounded by the file (the limits are named in `lamina.utils.limits`): the config is read
with a cap, the model is built under a `WeightBudget` of the weights member's size (a config that
declares more weights than its file can hold fails before allocating them), the weights member
is read in a stream capped by what the built model's variables can take, plus a margin, and the
datasets read from it are capped by the same bound (a dataset that declares a huge shape is
refused before it is read).
"""
import contextlib
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

from lamina.saving.keras_saveable import KerasSaveable
from lamina.saving.serialization_lib import deserialize_keras_object, serialize_keras_object
from lamina.utils import limits
from lamina.utils.naming import to_snake_case
from lamina.version import __version__

__all__ = ["save_model", "load_model", "save_weights_only", "load_weights_only"]

CONFIG_FILENAME = "config.json"
METADATA_FILENAME = "metadata.json"
WEIGHTS_FILENAME = "model.weights.h5"
KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose files these are (Keras reads the same layout)

_READ_CHUNK_BYTES = 1 << 20


# ---------------------------------------------------------------------- the walk

_MODEL_TYPES = ("Model", "Sequential", "Functional")
_skipsets = {}  # obj type -> the attribute names of a plain instance of its base class


def _attribute_skipset(obj):
    """The attributes the walk of `obj` leaves out: the ones a plain instance of its base class
    (Layer, Model, Sequential, Functional, Optimizer) has, which are that base's internals
    (Keras's `get_attr_skipset`)."""
    obj_type = obj._obj_type()
    skip = _skipsets.get(obj_type)
    if skip is None:
        skip = _skipsets[obj_type] = frozenset(vars(obj._saving_reference()))
    return skip


def _name_key(name):
    return f"~{name}" if name.startswith("_") else name


def _children(obj):
    """(attribute, value) pairs in Keras's order: a Sequential or functional model's `layers`
    first, then the attributes sorted by name with private ones last (a subclassed model's
    `layers` property among them, as Keras's `dir()` walk sees it)."""
    attrs = dict(vars(obj))
    out = []
    obj_type = obj._obj_type()
    if obj_type in ("Sequential", "Functional"):
        out.append(("layers", obj.layers))
        attrs.pop("layers", None)
    elif obj_type == "Model" and "layers" not in attrs:
        attrs["layers"] = obj.layers
    skip = _attribute_skipset(obj)
    for name in sorted(attrs, key=_name_key):
        if name.startswith("__") or name in skip:
            continue
        value = attrs[name]
        if isinstance(value, (KerasSaveable, list, tuple, dict)):
            out.append((name, value))
    return out


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
        if isinstance(child, KerasSaveable):
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
        if isinstance(item, KerasSaveable):
            _walk(item, _join(path, _unique(to_snake_case(type(item).__name__), used)), visited, visit)
        elif isinstance(item, (list, tuple, dict)):
            _walk_container(item, _join(path, _unique("container", used)), visited, visit, seen_containers)


def _label(obj):
    kind = "Optimizer" if obj._obj_type() == "Optimizer" else "Layer"
    return f"{kind} '{obj.name}' ({type(obj).__name__})"


# ---------------------------------------------------------------------- HDF5

def _h5py():
    # imported on the first save or load, not by `import lamina` (h5py takes ~0.1 s to import)
    import h5py

    return h5py


_H5_ERRORS = (OSError, RuntimeError, KeyError, TypeError, IndexError, OverflowError, MemoryError)


class _DamagedFile(ValueError):
    """h5py opened the file but could not read it: its internal structure is damaged. Raised as
    it is, never counted as one object's mismatch (`skip_mismatch` does not skip it)."""


@contextlib.contextmanager
def _reading():
    """Turns h5py's errors on a damaged file into `_DamagedFile`."""
    try:
        yield
    except _H5_ERRORS as e:
        raise _DamagedFile(f"The weights file is damaged or truncated: {type(e).__name__}: {e}") from None


class _WriteStore:
    """The `<path>/vars` group of one object in a weights file being written (Keras's `H5Entry`):
    `store["0"] = variable` writes the dataset `0`. The group is made at once, with the object's
    name, as Keras makes it."""

    def __init__(self, h5file, path, name):
        self._group = h5file.create_group(_join(path, "vars"))
        self._group.attrs["name"] = name

    def __setitem__(self, key, value):
        self._group.create_dataset(key, data=np.asarray(value))

    def __getitem__(self, key):
        return self._group[key][()]

    def __contains__(self, key):
        return key in self._group

    def __len__(self):
        return len(self._group)

    def keys(self):
        return self._group.keys()


class _Keys:
    """The names in a read store's group: `len()` counts them without listing them."""

    def __init__(self, group):
        self._group = group

    def __len__(self):
        with _reading():
            return len(self._group) if self._group is not None else 0

    def __iter__(self):
        with _reading():
            return iter(list(self._group.keys()) if self._group is not None else [])

    def __contains__(self, key):
        with _reading():
            return self._group is not None and isinstance(key, str) and key in self._group


class _ReadStore:
    """The `<path>/vars` group of one object in a weights file being read: `store["0"]` is the
    array of the dataset `0`, once it is known to be plain numbers stored in this file and to fit
    in what is left of the load's byte budget (`_Reader`). A missing group reads as empty, as in
    Keras."""

    def __init__(self, reader, group, where):
        self._reader, self._group, self._where = reader, group, where

    def keys(self):
        return _Keys(self._group)

    def __len__(self):
        return len(self.keys())

    def __contains__(self, key):
        return key in self.keys()

    def __getitem__(self, key):
        if key not in self.keys():
            raise ValueError(f"The file has no variable '{key}' under '{self._where}'.")
        return self._reader.read(self._group, key, self._where)


class _Reader:
    """Reads the stores of one weights file; all the arrays it hands out take at most `budget`
    bytes together, so a dataset that declares more than the model can hold is refused before it
    is read."""

    def __init__(self, h5file, budget):
        self._h5file, self._left = h5file, budget

    def store(self, path):
        where = _join(path, "vars")
        with _reading():
            return _ReadStore(self, _safe_group(self._h5file, where), where)

    def read(self, group, key, where):
        with _reading():
            ds = _child(group, key, f"{where}/{key}", _h5py().Dataset)
            if ds.external or ds.is_virtual:
                raise ValueError(f"Not allowed: H5 file with an external or virtual dataset at '{where}/{key}'")
            if ds.dtype.kind not in "biuf":
                raise ValueError(f"Invalid weights file: the dataset '{where}/{key}' holds {ds.dtype}, not numbers")
            nbytes = math.prod(ds.shape) * ds.dtype.itemsize
            if nbytes > self._left:
                raise ValueError(f"The dataset '{where}/{key}' declares shape {tuple(ds.shape)} ({nbytes} bytes), "
                                 "more than the model's variables can take: the file is damaged or not this "
                                 "model's.")
            self._left -= nbytes
            return np.asarray(ds[()])


def _child(parent, name, where, kind):
    """`parent[name]`, after refusing soft and external links; ValueError unless it is a `kind`
    (`h5py.Group` or `h5py.Dataset`)."""
    h5py = _h5py()
    link = parent.get(name, getclass=True, getlink=True)
    if link in (h5py.ExternalLink, h5py.SoftLink):
        raise ValueError(f"Not allowed: H5 file with {link.__name__} at '{where}'")
    child = parent[name]
    if not isinstance(child, kind):
        raise ValueError(f"Invalid weights file: expected a {kind.__name__.lower()} at '{where}', "
                         f"found {type(child).__name__}")
    return child


def _safe_group(parent, path):
    """The group at `path` (None if absent); links and non-groups are refused."""
    current = parent
    for part in path.split("/"):
        if not part or part not in current:
            return None
        current = _child(current, part, path, _h5py().Group)
    return current


def write_weights(model, h5file):
    """Writes the state of `model` (and its optimizer) into an open, empty h5py File: each object's
    `save_own_variables` fills the group at its path."""
    def visit(obj, path):
        if hasattr(obj, "save_own_variables"):
            obj.save_own_variables(_WriteStore(h5file, path, obj.name))

    _walk(model, "", set(), visit)


def _snapshot(obj):
    """{id: (variable, its value now)} for the variables `obj` holds. The value shares the
    variable's storage until the variable is assigned (copy-on-write), so nothing is copied."""
    return {id(v): (v, v._lamina_tensor._detach()) for v in obj.variables}


def _restore(snapshot):
    for variable, value in snapshot.values():
        variable.assign(value)


def read_weights(model, h5file, budget, skip_mismatch=False, objects_to_skip=None):
    """Loads the state of `model` (and its optimizer) from an open h5py File: each object's
    `load_own_variables` reads the group at its path. All or nothing: when an object does not fit,
    every variable gets its value back and ValueError names every object that did not fit, unless
    `skip_mismatch`, which warns and gives back only those objects' values."""
    reader = _Reader(h5file, budget)
    before, errors = {}, []

    def visit(obj, path):
        if not hasattr(obj, "load_own_variables"):
            return
        store = reader.store(path)
        own = _snapshot(obj)
        for key, item in own.items():
            before.setdefault(key, item)
        try:
            obj.load_own_variables(store)
        except _DamagedFile:
            raise
        except Exception as e:  # Keras collects any error of a user's `load_own_variables`
            _restore(own)
            errors.append((obj, str(e)))

    try:
        _walk(model, "", {id(o) for o in objects_to_skip or ()}, visit)
        text = None
        if errors:
            obj, message = errors[0]
            text = (f"A total of {len(errors)} objects could not be loaded. Example error message for "
                    f"object {_label(obj)}:\n\n{message}\n\nList of objects that could not be loaded:\n"
                    f"{[_label(o) for o, _ in errors]}")
            if not skip_mismatch:
                raise ValueError(text + "\n\nNothing was loaded: the model is unchanged.")
    except BaseException:
        _restore(before)
        raise
    if text is not None:
        warnings.warn(text, stacklevel=3)


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
    metadata_json = json.dumps({
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "lamina_version": __version__,
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
            if not isinstance(model, KerasSaveable) or model._obj_type() not in _MODEL_TYPES:
                raise ValueError(f"The file {filepath} does not hold a model: its config describes a "
                                 f"{type(model).__name__}.")
            _prepare_optimizer(model)
        weights = _read_member(archive, WEIGHTS_FILENAME, filepath, _weights_limit(model))
    with _open_h5(io.BytesIO(weights), filepath) as h5file:
        read_weights(model, h5file, _weights_limit(model))
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
        read_weights(model, h5file, _weights_limit(model), skip_mismatch=skip_mismatch,
                     objects_to_skip=objects_to_skip)
