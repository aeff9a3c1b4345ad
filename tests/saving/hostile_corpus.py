"""Damaged and hostile model files, made from the project's valid ones (issue 12's corpus net).

`generate(directory)` writes the corpus and returns one entry per file:
`{"index", "file", "kind", "source", "mode"}` where `mode` is how the worker loads it ("model":
`load_model`; "weights": `load_weights` into the source's model). Nothing here is committed as a
binary: every file is derived, with a fixed seed, from tests/saving/fixtures/ (files Keras 3.15
wrote) and from models lamina builds and saves itself (`_lamina_sources`).

Families (each file names its family in `kind`):
- bytes: byte flips at random offsets, truncation at many offsets;
- zip: members renamed, missing, duplicated, oversized (padded), bombs (80 MB of deflated zeros,
  and a crafted 1.5 GiB one, past the workers' memory limit), lying central-directory sizes,
  unknown compression, the encryption flag;
- config: sizes (units, filters, kernel / pool windows, strides, shapes, rates, axes) replaced by
  huge, negative, zero, NaN, inf, float, string, null and container values; wrong nesting; unknown
  and code-carrying classes (Lambda with marshaled code, `__lambda__`, os.system, builtins.eval,
  registered names pointing at modules);
- hdf5: weights with wrong shapes, dtypes (strings, complex, compound), external and soft links,
  external and virtual datasets, groups for datasets, extra and missing variables, huge declared
  shapes, both as `.weights.h5` and inside `.keras` archives.
"""
import io
import json
import math
import os
import struct
import zipfile
import zlib

import h5py
import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
KERAS_SOURCES = ["seq_mlp", "cnn", "functional_multi", "nested", "subclassed"]
WEIGHTS_SOURCES = ["seq_mlp", "nested"]

SIZE_KEYS = ("units", "filters", "kernel_size", "pool_size", "strides", "dilation_rate", "batch_shape",
             "build_input_shape", "input_shape", "target_shape", "rate", "axis", "epsilon", "momentum",
             "noise_shape", "seed", "groups")
HOSTILE_VALUES = [2**31, 2**40, 2**63, 10**30, -1, 0, float("nan"), float("inf"), 1e308, 2.5, "7", None, [],
                  {}, True, [2**31, 2**31], [0, 0], [-5, 3]]


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(info, z.read(info.filename)) for info in z.infolist()]


def _zip(entries, compression=zipfile.ZIP_STORED):
    """An archive of (name, bytes) entries (duplicates allowed)."""
    buffer = io.BytesIO()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile(buffer, "w", compression=compression) as z:
            for name, data in entries:
                z.writestr(name, data)
    return buffer.getvalue()


def _replace_member(data, name, new, compression=zipfile.ZIP_STORED):
    return _zip([(i.filename, new if i.filename == name else d) for i, d in _members(data)], compression)


def _central_entry(data, name):
    """The offset of `name`'s central-directory header in the archive `data`."""
    start = data.find(b"PK\x01\x02")
    while start >= 0:
        n = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46: start + 46 + n] == name.encode():
            return start
        start = data.find(b"PK\x01\x02", start + 4)
    raise KeyError(name)


def _patch_central(data, name, offset, fmt, value):
    out = bytearray(data)
    struct.pack_into(fmt, out, _central_entry(data, name) + offset, value)
    return bytes(out)


def _crafted_bomb(entries, member, size, exact_crc=True):
    """An archive of `entries` plus `member`: `size` zero bytes as a raw deflate stream built from
    one repeated flushed block (a few MB on disk for GBs inflated). Its CRC is computed (about 1 s
    per GiB) unless `exact_crc` is False: a reader notices a wrong one only after inflating all."""
    block = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    repeat = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    stream = head + repeat * (size // block - 1) + c.flush()
    crc = 0
    zeros = bytes(block)
    for _ in range(size // block if exact_crc else 0):
        crc = zlib.crc32(zeros, crc)
    data = _zip(entries + [(member, stream)])
    data = _patch_central(data, member, 10, "<H", zipfile.ZIP_DEFLATED)
    data = _patch_central(data, member, 16, "<I", crc)
    return _patch_central(data, member, 24, "<I", size)


def _config_of(data):
    return json.loads(dict((i.filename, d) for i, d in _members(data))["config.json"])


def _with_config(data, config):
    text = config if isinstance(config, (str, bytes)) else json.dumps(config, allow_nan=True)
    return _replace_member(data, "config.json", text.encode() if isinstance(text, str) else text)


def _paths(node, path=()):
    """(path, key) of every size-like key in a config."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SIZE_KEYS:
                yield path + (key,)
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, path + (i,))


def _set(config, path, value):
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _weights_of(data):
    return dict((i.filename, d) for i, d in _members(data))["model.weights.h5"]


def _h5_edit(weights, edit):
    """The bytes of the HDF5 `weights` after `edit(file)` (on an in-memory copy)."""
    buffer = io.BytesIO(weights)
    with h5py.File(buffer, "r+") as f:
        edit(f)
    return buffer.getvalue()


def _datasets(weights):
    out = []
    with h5py.File(io.BytesIO(weights), "r") as f:
        f.visititems(lambda p, o: out.append((p, o.shape)) if isinstance(o, h5py.Dataset) else None)
    return out


def _hdf5_edits(weights, raw_target, external_target):
    """(name, edit) pairs of HDF5 damage, most applied to the first dataset of rank >= 1 (a kernel);
    `raw_target` is a file of float32 bytes, `external_target` an HDF5 file with a dataset `/data`."""
    datasets = [p for p, s in _datasets(weights) if len(s) >= 1]
    kernel = datasets[0]
    second = datasets[min(1, len(datasets) - 1)]
    group, key = kernel.rsplit("/", 1)
    shape = dict(_datasets(weights))[kernel]

    def swap(new):
        def edit(f):
            del f[kernel]
            new(f, f[group], key)
        return edit

    edits = [
        ("transposed", swap(lambda f, g, k: g.create_dataset(k, data=np.zeros(shape[::-1], "float32")))),
        ("extra_axis", swap(lambda f, g, k: g.create_dataset(k, data=np.zeros(shape + (2,), "float32")))),
        ("scalar", swap(lambda f, g, k: g.create_dataset(k, data=np.float32(1)))),
        ("huge_shape", swap(lambda f, g, k: g.create_dataset(k, shape=(2**40,) + shape[1:], dtype="float32",
                                                             chunks=True))),
        ("huge_match_rank", swap(lambda f, g, k: g.create_dataset(k, shape=tuple(2**20 for _ in shape),
                                                                  dtype="float32", chunks=True))),
        ("strings", swap(lambda f, g, k: g.create_dataset(k, data=np.full(shape, b"ab")))),
        ("complex", swap(lambda f, g, k: g.create_dataset(k, data=np.zeros(shape, "complex64")))),
        ("compound", swap(lambda f, g, k: g.create_dataset(k, shape=shape, dtype=[("a", "f4"), ("b", "i4")]))),
        ("float64", swap(lambda f, g, k: g.create_dataset(k, data=np.ones(shape, "float64")))),
        ("int8", swap(lambda f, g, k: g.create_dataset(k, data=np.ones(shape, "int8")))),
        ("nan", swap(lambda f, g, k: g.create_dataset(k, data=np.full(shape, np.nan, "float32")))),
        ("group", swap(lambda f, g, k: g.create_group(k))),
        ("softlink", swap(lambda f, g, k: g.__setitem__(k, h5py.SoftLink("/" + second)))),
        ("dangling_softlink", swap(lambda f, g, k: g.__setitem__(k, h5py.SoftLink("/nowhere")))),
        ("hardlink_loop", swap(lambda f, g, k: g.__setitem__(k, f["/"]))),
        ("external_link", swap(lambda f, g, k: g.__setitem__(k, h5py.ExternalLink(external_target, "/data")))),
        ("external_dataset", swap(lambda f, g, k: g.create_dataset(
            k, shape=shape, dtype="float32", external=[(raw_target, 0, 4 * math.prod(shape))]))),
        ("virtual_dataset", swap(lambda f, g, k: g.create_virtual_dataset(k, _virtual_layout(shape, external_target)))),
        ("gzip", swap(lambda f, g, k: g.create_dataset(k, data=np.zeros(shape, "float32"), compression="gzip"))),
        ("missing", lambda f: f.__delitem__(kernel)),
        ("extra", lambda f: f[group].create_dataset("99", data=np.zeros(3, "float32"))),
        ("many_links", lambda f: [f[group].__setitem__(f"x{i}", h5py.SoftLink("/nowhere")) for i in range(2000)]),
        ("renamed_group", lambda f: f.move(group.rsplit("/", 1)[0], group.rsplit("/", 1)[0] + "_x")),
        ("no_vars", lambda f: [f.__delitem__(k) for k in list(f.keys())]),
        ("big_attribute", lambda f: f[group].attrs.__setitem__("name", "x" * 60000)),
    ]
    return edits


def _virtual_layout(shape, target):
    layout = h5py.VirtualLayout(shape=shape, dtype="float32")
    layout[...] = h5py.VirtualSource(target, "data", shape=shape)
    return layout


def _lamina_sources():
    """Models lamina builds and saves itself: (name, .keras bytes, .weights.h5 bytes)."""
    import lamina as keras
    from lamina import layers
    from lamina.saving import saving_lib

    keras.utils.set_random_seed(3)
    mlp = keras.Sequential([keras.Input((5,)), layers.Dense(7, activation="relu"), layers.Dropout(0.1),
                            layers.Dense(2)], name="lamina_mlp")
    mlp.compile(optimizer="adam", loss="mse")
    mlp.fit(np.ones((4, 5), "float32"), np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    inp = keras.Input((6, 6, 2))
    x = layers.Conv2D(3, 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D(2)(x)
    x = layers.BatchNormalization()(x)
    out = layers.Dense(2)(layers.Flatten()(x))
    cnn = keras.Model(inp, out, name="lamina_cnn")
    out = []
    for model in (mlp, cnn):
        buffer = io.BytesIO()
        config_json, metadata_json = saving_lib.serialize_model_as_json(model)
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("metadata.json", metadata_json)
            z.writestr("config.json", config_json)
            z.writestr("model.weights.h5", saving_lib.weights_bytes(model))
        out.append((model.name, buffer.getvalue(), saving_lib.weights_bytes(model)))
    return out


def generate(directory, seed=12):
    """Writes the corpus into `directory`; returns `{"entries": [...], "sources": {name: path}}`
    (the valid `.keras` file of each source, which are entries of kind "valid" as well)."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    external_target = os.path.join(directory, "external_target.h5")
    with h5py.File(external_target, "w") as f:
        f["data"] = np.full((64, 64), 7.0, "float32")
    raw = os.path.join(directory, "external_raw.bin")
    with open(raw, "wb") as f:
        f.write(np.full(4096, 7.0, "float32").tobytes())

    sources = {name: open(os.path.join(FIXTURES, name + ".keras"), "rb").read() for name in KERAS_SOURCES}
    weight_sources = {name: open(os.path.join(FIXTURES, name + ".weights.h5"), "rb").read()
                      for name in WEIGHTS_SOURCES}
    for name, keras_bytes, weights_bytes in _lamina_sources():
        sources[name] = keras_bytes
        weight_sources[name] = weights_bytes

    entries = []

    def add(kind, source, data, mode="model"):
        suffix = ".keras" if mode == "model" else ".weights.h5"
        path = os.path.join(directory, f"{len(entries):04d}_{kind}{suffix}")
        with open(path, "wb") as f:
            f.write(data)
        entries.append({"index": len(entries), "file": path, "kind": kind, "source": source, "mode": mode})

    source_files = {}
    for name, data in sorted(sources.items()):
        source_files[name] = os.path.join(directory, f"source_{name}.keras")
        with open(source_files[name], "wb") as f:
            f.write(data)
        add("valid", name, data)
    for name, data in sorted(weight_sources.items()):
        add("valid", name, data, mode="weights")

    # ---- bytes: flips and truncations
    for name, data in sorted(sources.items()) + [(n + "@w", d) for n, d in sorted(weight_sources.items())]:
        mode = "weights" if name.endswith("@w") else "model"
        source = name.split("@")[0]
        for i in range(10):
            flipped = bytearray(data)
            for _ in range(int(rng.integers(1, 12))):
                flipped[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
            add("bytes.flip", source, bytes(flipped), mode)
        for cut in sorted(set(int(x) for x in rng.integers(0, len(data), 8))) + [0, len(data) - 1]:
            add("bytes.truncate", source, data[:cut], mode)

    # ---- zip structure
    for name, data in sorted(sources.items()):
        members = _members(data)
        named = [(i.filename, d) for i, d in members]
        weights = _weights_of(data)
        for member in ("config.json", "model.weights.h5", "metadata.json"):
            add("zip.missing", name, _zip([(n, d) for n, d in named if n != member]))
            add("zip.renamed", name, _zip([(n + ".bak" if n == member else n, d) for n, d in named]))
            add("zip.duplicated", name, _zip(named + [(member, b"{}" if member.endswith("json") else b"junk")]))
        add("zip.oversized", name, _replace_member(data, "model.weights.h5", weights + bytes(20 << 20),
                                                   zipfile.ZIP_DEFLATED))
        if name in ("seq_mlp", "lamina_cnn"):  # the large ones once or twice: deflating them takes time
            add("zip.oversized_config", name, _replace_member(data, "config.json", b" " * (70 << 20) + b"{}",
                                                              zipfile.ZIP_DEFLATED))
        if name in ("seq_mlp", "nested", "lamina_mlp"):
            add("zip.bomb", name, _replace_member(data, "model.weights.h5", bytes(80 << 20), zipfile.ZIP_DEFLATED))
        if name in ("seq_mlp", "cnn"):  # past the workers' memory limit, under Keras's 4 GiB floor
            add("zip.bomb_crafted", name, _crafted_bomb([(n, d) for n, d in named if n != "model.weights.h5"],
                                                        "model.weights.h5", 3 << 29))
        deflated = _zip(named, zipfile.ZIP_DEFLATED)
        for label, size in (("small", 10), ("large", 2**32 - 1), ("double", 2 * len(weights))):
            add(f"zip.lying_size_{label}", name, _patch_central(deflated, "model.weights.h5", 24, "<I", size))
        add("zip.lying_compressed_size", name, _patch_central(deflated, "model.weights.h5", 20, "<I", 2**32 - 1))
        add("zip.unknown_compression", name, _patch_central(deflated, "model.weights.h5", 10, "<H", 99))
        add("zip.encrypted_flag", name, _patch_central(deflated, "model.weights.h5", 8, "<H", 1))
        add("zip.not_hdf5", name, _replace_member(data, "model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(200)))
        add("zip.empty_weights", name, _replace_member(data, "model.weights.h5", b""))

    # ---- configs
    for name, data in sorted(sources.items()):
        config = _config_of(data)
        paths = list(_paths(config))
        picks = rng.choice(len(paths), size=min(len(paths), 6), replace=False) if paths else []
        for p in picks:
            for value in rng.choice(len(HOSTILE_VALUES), size=4, replace=False):
                c = json.loads(json.dumps(config))
                _set(c, paths[p], HOSTILE_VALUES[value])
                add("config.size", name, _with_config(data, c))
        for label, edit in (
                ("list", lambda c: [c]),
                ("string", lambda c: "model"),
                ("no_class", lambda c: {"config": c["config"]}),
                ("class_int", lambda c: {**c, "class_name": 7}),
                ("inner_list", lambda c: {**c, "config": [c["config"]]}),
                ("inner_null", lambda c: {**c, "config": None}),
                ("layers_dict", lambda c: {**c, "config": {**c["config"], "layers": {"a": 1}}}),
                ("layers_strings", lambda c: {**c, "config": {**c["config"], "layers": ["Dense", "x"]}}),
                ("compile_junk", lambda c: {**c, "compile_config": {"optimizer": {"class_name": "Nope", "config": {}},
                                                                    "loss": [[[]]]}}),
                ("build_junk", lambda c: {**c, "build_config": {"input_shape": [[None, 2**40], [2**40]]}}),
        ):
            add(f"config.{label}", name, _with_config(data, edit(json.loads(json.dumps(config)))))
        text = json.dumps(config)
        add("config.deep_list", name, _with_config(data, text.replace('"name": ', '"name": ' + "[" * 100000 + "]" * 100000 + ', "x": ', 1)))
        add("config.deep_dict", name, _with_config(data, text.replace('"layers": [', '"layers": [' + '{"class_name": "Dense", "config": ' * 500 + "{}" + "}" * 500 + ", ", 1)))
        add("config.not_json", name, _with_config(data, b"{\"class_name\": "))
        add("config.not_utf8", name, _with_config(data, b"\xff\xfe" * 10))
        add("config.nan_literal", name, _with_config(data, json.dumps(config).replace("0.", "NaN0.", 1)))

    # ---- unknown and code-carrying classes (placed where a layer is)
    code = "4wEAAAAAAAAAAAAAAAEAAAADAAAA8wQAAACXAHkAKQFO"  # marshaled bytes: never to be executed
    hostile_layers = [
        ("unknown", {"module": "keras.layers", "class_name": "FluxCapacitor", "config": {}, "registered_name": None}),
        ("os_system", {"module": "os", "class_name": "system", "config": {"command": "touch PWNED"},
                       "registered_name": "os>system"}),
        ("builtins_eval", {"module": "builtins", "class_name": "eval", "config": {"source": "1"},
                           "registered_name": None}),
        ("subprocess", {"module": "subprocess", "class_name": "Popen", "config": {"args": ["true"]},
                        "registered_name": "subprocess>Popen"}),
        ("lambda_layer", {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                          "config": {"name": "lam", "function": {"class_name": "__lambda__", "config": {
                              "code": code, "defaults": None, "closure": None}}}}),
        ("lambda_object", {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}}),
        ("typespec", {"class_name": "__typespec__", "config": {"class_name": "x"}}),
        ("activation_os", {"module": "keras.layers", "class_name": "Activation", "registered_name": None,
                           "config": {"activation": {"module": "os", "class_name": "function", "config": "system",
                                                     "registered_name": "function"}}}),
        ("activation_eval", {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                             "config": {"units": 2, "activation": "eval"}}),
        ("initializer_os", {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                            "config": {"units": 2, "kernel_initializer": {"module": "os", "class_name": "system",
                                                                          "config": {}}}}),
        ("registered_os", {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2},
                           "registered_name": "os>system"}),
        ("numpy_object", {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                          "config": {"units": {"class_name": "__numpy__", "config": {"value": [1], "dtype": "object"}}}}),
        ("module_not_str", {"module": ["os"], "class_name": "Dense", "config": {"units": 2}, "registered_name": None}),
    ]
    for name in ("seq_mlp", "cnn", "lamina_mlp"):
        config = _config_of(sources[name])
        for label, layer in hostile_layers:
            c = json.loads(json.dumps(config))
            c["config"]["layers"][1] = layer
            add(f"config.code.{label}", name, _with_config(sources[name], c))
        c = json.loads(json.dumps(config))
        c["class_name"], c["module"] = "system", "os"
        add("config.code.model_os_system", name, _with_config(sources[name], c))

    # ---- hdf5: in .weights.h5 files and inside .keras archives
    for name, weights in sorted(weight_sources.items()):
        for label, edit in _hdf5_edits(weights, raw, external_target):
            add(f"hdf5.{label}", name, _h5_edit(weights, edit), mode="weights")
    for name in ("seq_mlp", "nested", "lamina_mlp", "lamina_cnn"):
        weights = _weights_of(sources[name])
        for label, edit in _hdf5_edits(weights, raw, external_target):
            add(f"hdf5_in_keras.{label}", name, _replace_member(sources[name], "model.weights.h5",
                                                                _h5_edit(weights, edit)))
    return {"entries": entries, "sources": source_files}
