"""Saves that cannot lose data and loads that a file cannot make unbounded (issue 12, items 1 and 5).

- Every writer (`model.save`, `save_weights`, `ModelCheckpoint`) builds its file in memory and
  writes it with one helper (`saving_lib.write_atomically`): on a full disk (a real tmpfs where we
  may mount one, a writer raising ENOSPC everywhere) the save raises OSError, leaves no temporary
  file and the previous file unchanged. h5py itself never writes to disk (it crashed in `close`
  after ENOSPC).
- `save(overwrite=False)` asks as Keras 3 does (`input()`, "y"/"n", asked again otherwise).
- Layer arguments and configs with sizes past `lamina.utils.limits` raise ValueError (Keras raises
  ValueError for `units <= 0`; lamina adds the upper bound so that a size never reaches the
  allocator as a std::bad_alloc), and a file cannot make lamina allocate more than it can hold.
- External and virtual HDF5 datasets are refused when loading.
"""
import errno
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

import lamina as keras
from lamina import layers
from lamina.saving import saving_lib
from lamina.utils import limits

HERE = os.path.dirname(os.path.abspath(__file__))


def _model(width=8):
    return keras.Sequential([keras.Input((6,)), layers.Dense(width, activation="relu"), layers.Dense(3)])


def _listing(directory):
    return sorted(os.listdir(directory))


# ================================================================ saves that cannot lose data

def _enospc_after_half(f, data):
    """A writer for a full disk: half the bytes go out, then ENOSPC."""
    f.write(bytes(data[: len(data) // 2]))
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _interrupted(f, data):
    f.write(bytes(data[:10]))
    raise KeyboardInterrupt


def _checkpoint_save(model, path):
    x = np.ones((4, 6), "float32")
    model.compile(optimizer="adam", loss="mse")
    cb = keras.callbacks.ModelCheckpoint(str(path), save_weights_only=str(path).endswith(".weights.h5"))
    model.fit(x, np.zeros((4, 3), "float32"), epochs=1, verbose=0, callbacks=[cb])


_WRITERS = {
    "save": lambda m, p: m.save(p),
    "save_weights": lambda m, p: m.save_weights(p),
    "checkpoint_weights": _checkpoint_save,
    "checkpoint_model": _checkpoint_save,
}
_SUFFIX = {"save": ".keras", "save_weights": ".weights.h5", "checkpoint_weights": ".weights.h5",
           "checkpoint_model": ".keras"}


@pytest.mark.parametrize("writer", sorted(_WRITERS))
def test_a_full_disk_raises_oserror_and_keeps_the_old_file(tmp_path, monkeypatch, writer):
    path = tmp_path / ("m" + _SUFFIX[writer])
    _WRITERS[writer](_model(), path)
    old = path.read_bytes()
    monkeypatch.setattr(saving_lib, "_write_all", _enospc_after_half)
    with pytest.raises(OSError) as info:
        _WRITERS[writer](_model(32), path)
    assert info.value.errno == errno.ENOSPC and str(path) in str(info.value)
    assert path.read_bytes() == old
    assert _listing(tmp_path) == [path.name]  # no temporary file left
    monkeypatch.undo()
    _WRITERS[writer](_model(32), path)  # the same save works once there is room
    assert path.read_bytes() != old and _listing(tmp_path) == [path.name]


@pytest.mark.parametrize("failure", ["fsync", "replace", "interrupt"])
def test_any_error_while_writing_removes_the_temporary(tmp_path, monkeypatch, failure):
    path = tmp_path / "m.weights.h5"
    model = _model()
    model.save_weights(path)
    old = path.read_bytes()
    if failure == "interrupt":
        monkeypatch.setattr(saving_lib, "_write_all", _interrupted)
        expected = KeyboardInterrupt  # an interrupt stays an interrupt (after the cleanup)
    else:
        def fail(*args):
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        monkeypatch.setattr(saving_lib.os, failure, fail)
        expected = OSError
    with pytest.raises(expected):
        model.save_weights(path)
    monkeypatch.undo()
    assert path.read_bytes() == old and _listing(tmp_path) == ["m.weights.h5"]


def test_files_are_fsynced_and_renamed(tmp_path, monkeypatch):
    """The bytes are fsync'ed before the rename, the directory after it."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(a, b):
        events.append("replace")
        real_replace(a, b)

    monkeypatch.setattr(saving_lib.os, "fsync", fsync)
    monkeypatch.setattr(saving_lib.os, "replace", replace)
    _model().save_weights(tmp_path / "m.weights.h5")
    monkeypatch.undo()
    assert events == ["fsync-file", "replace", "fsync-dir"]


def test_h5py_never_writes_to_disk_itself(tmp_path, monkeypatch):
    """h5py gets an in-memory file object for every write (on a full disk, h5py's own close
    crashed the process): a writer that hands h5py a path fails here."""
    real = h5py.File

    def guarded(name, mode="r", *args, **kwargs):
        if isinstance(name, (str, bytes, os.PathLike)) and mode != "r":
            raise AssertionError(f"h5py asked to write {name} itself")
        return real(name, mode, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", guarded)
    model = _model()
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    _checkpoint_save(model, tmp_path / "c.weights.h5")
    monkeypatch.undo()
    fresh = _model()
    fresh.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        assert a.shape == b.shape


_FULL_DISK_SCRIPT = textwrap.dedent("""
    import errno, os, sys
    import lamina as keras
    from lamina import layers
    directory, free = sys.argv[1], int(sys.argv[2])
    big = keras.Sequential([keras.Input((64,)), layers.Dense(256), layers.Dense(10)])
    fd = os.open(os.path.join(directory, "fill"), os.O_WRONLY | os.O_CREAT)
    n = 0
    try:
        while True:
            n += os.write(fd, b"\\0" * 4096)
    except OSError:
        pass
    os.ftruncate(fd, max(0, n - free))  # a little room: h5py's create succeeded, its writes failed
    os.close(fd)
    for name, save in (("m.weights.h5", big.save_weights), ("m.keras", big.save)):
        try:
            save(os.path.join(directory, name))
            print(name, "saved")
        except OSError as e:
            print(name, "OSError", e.errno)
""")


@pytest.fixture
def full_disk(tmp_path):
    directory = tmp_path / "full"
    directory.mkdir()
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the ENOSPC writer tests cover the same path)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs refused here: {done.stderr.strip()} (the ENOSPC writer tests cover the same path)")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_a_real_full_disk_raises_oserror_instead_of_crashing(full_disk):
    """Before: `save_weights` died in h5py's close with SIGSEGV (exit -11) and left a `.tmp`."""
    small = _model()
    small.save_weights(full_disk / "m.weights.h5")
    small.save(full_disk / "m.keras")
    old = {name: (full_disk / name).read_bytes() for name in ("m.weights.h5", "m.keras")}
    for free in (0, 20000):
        done = subprocess.run([sys.executable, "-c", _FULL_DISK_SCRIPT, str(full_disk), str(free)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split("\n")[:2] == ["m.weights.h5 OSError 28", "m.keras OSError 28"], done.stdout
        assert _listing(full_disk) == ["fill", "m.keras", "m.weights.h5"]
        for name, data in old.items():
            assert (full_disk / name).read_bytes() == data
        os.unlink(full_disk / "fill")


@pytest.mark.parametrize("save", ["save", "save_weights"])
def test_overwrite_false_asks_as_keras_does(tmp_path, monkeypatch, capsys, save):
    """Keras 3 (`saving_api.save_model` / `save_weights`): with `overwrite=False` and an existing
    file, `io_utils.ask_to_proceed_with_overwrite` asks `[y/n]` until it gets one; "n" returns
    without saving, "y" saves (and prints a tip)."""
    path = tmp_path / ("m.keras" if save == "save" else "m.weights.h5")
    getattr(_model(), save)(path)
    old = path.read_bytes()
    answers = iter(["maybe", "n"])
    prompts = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or next(answers))
    assert getattr(_model(16), save)(path, overwrite=False) is None
    assert path.read_bytes() == old
    assert prompts == [f"[WARNING] {path} already exists - overwrite? [y/n]", 'Enter "y" (overwrite) or "n" (cancel).']
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    getattr(_model(16), save)(path, overwrite=False)
    assert path.read_bytes() != old and "[TIP] Next time specify overwrite=True!" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked for a new file"))
    getattr(_model(), save)(tmp_path / ("new" + path.name[1:]), overwrite=False)


# ================================================================ HDF5 datasets that point elsewhere

def _weights_with(path, make, secret):
    """A `.weights.h5` for `_model()` whose first kernel is an external or virtual dataset that
    reads `secret` (a file of float32 holding 6 * 8 values)."""
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for name, shapes in (("dense", [(6, 8), (8,)]), ("dense_1", [(8, 3), (3,)])):
            group = f.create_group(f"layers/{name}/vars")
            for i, shape in enumerate(shapes):
                if (name, i) != ("dense", 0):
                    group[str(i)] = np.zeros(shape, "float32")
                elif make == "external":
                    group.create_dataset("0", shape=shape, dtype="float32", external=[(str(secret), 0, 4 * 48)])
                else:
                    with h5py.File(secret.with_suffix(".h5"), "w") as src:
                        src["data"] = np.full((6, 8), 7.0, "float32")
                    layout = h5py.VirtualLayout(shape=shape, dtype="float32")
                    layout[:] = h5py.VirtualSource(str(secret.with_suffix(".h5")), "data", shape=shape)
                    group.create_virtual_dataset("0", layout)


@pytest.mark.parametrize("make", ["external", "virtual"])
def test_external_and_virtual_datasets_are_refused(tmp_path, make):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.full(48, 7.0, "float32").tobytes())
    path = tmp_path / "w.weights.h5"
    _weights_with(path, make, secret)
    with h5py.File(path, "r") as f:  # the file does read the other file through h5py
        assert float(f["layers/dense/vars/0"][0, 0]) == 7.0
    model = _model()
    before = model.get_weights()
    with pytest.raises(ValueError, match="external or virtual dataset at 'layers/dense/vars/0'"):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


# ================================================================ sizes from arguments and configs

@pytest.mark.parametrize("make", [
    lambda: layers.Dense(2**31),
    lambda: layers.Dense(10**30),
    lambda: layers.Conv2D(2**31, 3),
    lambda: layers.Conv2D(4, 2**31),
    lambda: layers.Conv2D(4, 3, strides=(1, 2**40)),
    lambda: layers.MaxPooling2D(2**40),
    lambda: layers.AveragePooling2D(2, strides=2**31),
    lambda: layers.MaxPooling2D((2, True)),
    lambda: layers.Conv2D(4, None),
    lambda: keras.Input((2**31,)),
    lambda: keras.Input((4, -1)),
    lambda: layers.Reshape((2**31, -1)),
    lambda: layers.Reshape((2.5, 2)),
    lambda: layers.Dropout("0.5"),
])
def test_sizes_past_the_limits_are_value_errors(make):
    """Keras raises ValueError for `units <= 0`, `filters <= 0` and bad windows; lamina also
    bounds them by `limits.MAX_DIMENSION` (before: std::bad_alloc as MemoryError, or a pooling
    window of 2**40 computed for 40 minutes)."""
    with pytest.raises(ValueError):
        make()


def test_weights_past_the_limit_are_value_errors():
    layer = layers.Dense(2**20)
    with pytest.raises(ValueError, match="MAX_WEIGHT_ELEMENTS"):
        layer.build((None, 2**12))
    with pytest.raises(ValueError, match="MAX_DIMENSION"):
        layers.Layer().add_weight(shape=(2**31, 1))
    assert layers.Dense(limits.MAX_DIMENSION).units == limits.MAX_DIMENSION


def _saved(tmp_path, model, edit=None, name="m.keras"):
    path = tmp_path / name
    model.save(path)
    if edit is None:
        return path
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return path


def _dense_config(config, index=1):
    return config["config"]["layers"][index]["config"]


@pytest.mark.parametrize("units", [2**31, 2**62, -3, 0, 2.5, float("nan"), "8", None, True])
def test_config_sizes_past_the_limits_are_value_errors(tmp_path, units):
    path = _saved(tmp_path, _model(), lambda c: _dense_config(c).update(units=units))
    with pytest.raises(ValueError, match="units"):
        keras.saving.load_model(path)


def test_a_config_cannot_declare_more_weights_than_its_file_holds(tmp_path):
    """Dense(2**26) on 8 features: 2 GiB of kernel from a 10 kB file. Refused before allocating
    (before: the whole kernel was allocated, then the weights failed to fit)."""
    path = _saved(tmp_path, _model(), lambda c: _dense_config(c).update(units=2**26))
    with pytest.raises(ValueError, match="declares more weights than it can hold"):
        keras.saving.load_model(path)


@pytest.mark.parametrize("shape", [[None, 2**31], [None, 2**20, 2**20], [None, -1], [None, 1.5]])
def test_input_shapes_past_the_limits_are_value_errors(tmp_path, shape):
    def edit(config):
        config["config"]["layers"][0]["config"]["batch_shape"] = shape
        config["config"]["build_input_shape"] = shape

    with pytest.raises(ValueError):
        keras.saving.load_model(_saved(tmp_path, _model(), edit))


def _repack(path, weights=None, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if weights is not None:
        members["model.weights.h5"] = weights
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for n, data in members.items():
            z.writestr(n, data)


@pytest.mark.parametrize("size", [8 << 20, 80 << 20])
def test_a_weights_member_larger_than_its_model_is_refused_before_inflating(tmp_path, size):
    """A zip bomb: a weights member of zeros (deflated ~1000x) for a model of 200 floats. Refused
    from its header (before: read whole; 4 GiB from a 4.2 MB file)."""
    path = _saved(tmp_path, _model())
    with zipfile.ZipFile(path) as z:
        weights = z.read("model.weights.h5")
    _repack(path, weights + bytes(size), zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < size // 100
    with pytest.raises(ValueError, match="more than the|decompression bomb"):
        keras.saving.load_model(path)
    with pytest.raises(ValueError, match="more than the|decompression bomb"):
        _model().load_weights(path)


def test_a_member_is_read_only_up_to_what_its_header_says(tmp_path):
    """A central directory that declares fewer bytes than the member inflates to: the stream stops
    at the declared size and the file is refused as damaged (its CRC no longer matches)."""
    path = _saved(tmp_path, _model())
    _repack(path, compression=zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("model.weights.h5")
    central = data.find(b"model.weights.h5", data.find(b"PK\x01\x02")) - 46
    assert data[central: central + 4] == b"PK\x01\x02"
    data[central + 24: central + 28] = (info.file_size // 2).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        keras.saving.load_model(path)


@pytest.mark.parametrize("config", [
    {"module": "os", "class_name": "system", "config": {"command": "touch PWNED"}, "registered_name": "os>system"},
    {"module": "builtins", "class_name": "eval", "config": {}, "registered_name": None},
    {"module": "keras.layers", "class_name": "Lambda",
     "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wAAAA==", "defaults": None,
                                                                     "closure": None}}},
     "registered_name": None},
    {"module": "keras.layers", "class_name": "Dense",
     "config": {"units": 2, "activation": {"module": "os", "class_name": "function", "config": "system",
                                           "registered_name": "function"}},
     "registered_name": None},
])
@pytest.mark.parametrize("safe_mode", [True, False])
def test_code_carrying_configs_are_refused_in_any_mode(tmp_path, config, safe_mode):
    def edit(c):
        c["config"]["layers"][1] = config

    path = _saved(tmp_path, _model(), edit)
    with pytest.raises(ValueError, match="Could not locate|Could not interpret|never executes code|Lambda"):
        keras.saving.load_model(path, safe_mode=safe_mode)
    assert not os.path.exists("PWNED")


def test_the_issues_bomb_is_refused_from_its_header(tmp_path):
    """Issue 12's file: a ~4 MB `.keras` whose weights member inflates to just under 4 GiB (under
    Keras's 4 GiB bomb floor). Before: inflated whole (8.2 GB peak, 24 s). Now refused from the
    member's header, before inflating anything."""
    sys.path.insert(0, os.path.join(HERE, "saving"))
    try:
        from hostile_corpus import _crafted_bomb, _members
    finally:
        sys.path.pop(0)
    path = _saved(tmp_path, _model())
    entries = [(i.filename, d) for i, d in _members(path.read_bytes()) if i.filename != "model.weights.h5"]
    path.write_bytes(_crafted_bomb(entries, "model.weights.h5", (1 << 32) - (1 << 20), exact_crc=False))
    assert path.stat().st_size < 5 << 20
    with pytest.raises(ValueError, match="decompression bomb"):
        keras.saving.load_model(path)
    with pytest.raises(ValueError, match="decompression bomb"):
        _model().load_weights(path)


def test_a_pooling_window_of_2_to_the_40_from_a_file_is_a_value_error(tmp_path):
    """Before: the file loaded and `padding="same"` pooling ran a 2**40 window (about 40 minutes)."""
    model = keras.Sequential([keras.Input((4, 4, 1)), layers.MaxPooling2D(2, padding="same")])

    def edit(config):
        config["config"]["layers"][1]["config"].update(pool_size=[2**40, 2**40], strides=[1, 1])

    with pytest.raises(ValueError, match="pool_size"):
        keras.saving.load_model(_saved(tmp_path, model, edit))
