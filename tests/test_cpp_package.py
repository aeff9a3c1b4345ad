"""The wheel is a C++ package too: a separate CMake project finds it with find_package(lamina),
links lamina::lamina (the same liblamina the Python module uses) and runs. The parity test gives
the same weights to a model built with lamina::nn in C++ and to the same model built with the
Python layers, and compares outputs, gradients and moving statistics."""
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import lamina
from lamina import layers, ops

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cpp"


def _build_and_run(source, target, tmp_path, args=()):
    """Configures and builds the CMake project in `source` against the installed package in
    tmp_path, runs its executable `target` with `args`, and returns its output lines."""
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(source), "-B", str(build), f"-DCMAKE_PREFIX_PATH={lamina.cmake_dir()}"],
                   check=True, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, text=True, timeout=600)
    out = subprocess.run([str(build / target), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cpp_example_builds_against_the_installed_package_and_runs(tmp_path):
    assert (Path(lamina.cmake_dir()) / "laminaConfig.cmake").is_file()
    lines = _build_and_run(EXAMPLES / "linear_regression", "linear_regression", tmp_path)
    assert lines[-2] == "w = 3.000, b = -1.000"
    assert lines[-1].startswith("error: [matmul] incompatible shapes (2, 3) and (4, 5)")


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cpp_guide_cnn_and_w2_mlp_from_cpp(tmp_path):
    lines = _build_and_run(EXAMPLES / "guide_models", "guide_models", tmp_path)
    text = "\n".join(lines)
    assert "(None, 123, 123, 32)" in text and "(None, 40, 40, 32)" in text and "(None, 4, 4, 32)" in text
    assert "guide CNN: logits (4, 10)" in text and "49002 parameters" in text
    assert "Total params: 669,706 (2.55 MB)" in text
    assert lines[-1].startswith("W2 MLP: loss")


def _cpp_blocks(path):
    """The ```cpp blocks of a Markdown file."""
    text = path.read_text()
    return [block.split("\n", 1)[1] for block in text.split("```")[1::2] if block.startswith("cpp\n")]


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_every_cpp_snippet_of_the_docs_builds_and_runs(tmp_path):
    """The C++ in README.md and docs/cpp.md is complete programs that build against the installed
    package and run (a snippet using a name it never defines fails here)."""
    blocks = [(doc, i, code) for doc in ("README.md", "docs/cpp.md") for i, code in enumerate(_cpp_blocks(ROOT / doc))]
    assert len(blocks) >= 4
    project = tmp_path / "snippets"
    project.mkdir()
    cmake = ["cmake_minimum_required(VERSION 3.20)", "project(snippets CXX)", "set(CMAKE_CXX_STANDARD 17)",
             "find_package(lamina CONFIG REQUIRED)"]
    for n, (doc, i, code) in enumerate(blocks):
        assert "int main(" in code, f"{doc}, C++ block {i} is not a complete program"
        (project / f"snippet{n}.cpp").write_text(code)
        cmake += [f"add_executable(snippet{n} snippet{n}.cpp)", f"target_link_libraries(snippet{n} PRIVATE lamina::lamina)"]
    (project / "CMakeLists.txt").write_text("\n".join(cmake) + "\n")
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(project), "-B", str(build), f"-DCMAKE_PREFIX_PATH={lamina.cmake_dir()}"],
                   check=True, capture_output=True, text=True, timeout=300)
    built = subprocess.run(["cmake", "--build", str(build), "-j2"], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    outputs = {}
    for n, (doc, i, _) in enumerate(blocks):
        run = subprocess.run([str(build / f"snippet{n}")], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{doc}, C++ block {i}: {run.stderr}"
        outputs[(doc, i)] = run.stdout
    assert "w = 3.000, b = -1.000" in outputs[("docs/cpp.md", 0)]


# ------------------------------------------------------------------------------ C++ / Python parity

def _write_tensors(path, tensors):
    """tests/cpp_parity/parity.cpp's format: [u32 name length][name][u32 ndim][i64 dims][f32 values]."""
    with open(path, "wb") as f:
        for name, value in tensors.items():
            a = np.ascontiguousarray(value, dtype="<f4")
            f.write(struct.pack("<I", len(name)) + name.encode() + struct.pack("<I", a.ndim))
            f.write(np.asarray(a.shape, dtype="<i8").tobytes() + a.tobytes())


def _read_tensors(path):
    data, out, pos = Path(path).read_bytes(), {}, 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        name = data[pos + 4: pos + 4 + n].decode()
        pos += 4 + n
        (ndim,) = struct.unpack_from("<I", data, pos)
        shape = tuple(np.frombuffer(data, "<i8", ndim, pos + 4))
        pos += 4 + 8 * ndim
        size = int(np.prod(shape))
        out[name] = np.frombuffer(data, "<f4", size, pos).reshape(shape)
        pos += 4 * size
    return out


def _python_parity_model():
    """The model of parity.cpp, layer for layer, with the Python layers."""
    inp = layers.Input((9, 9, 3))
    a = layers.BatchNormalization(momentum=0.9, epsilon=1e-3, name="bn_a")(
        layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_a")(inp))
    b = layers.Conv2D(6, 1, activation="tanh", name="conv_b")(inp)
    m = layers.Concatenate(name="cat")([
        layers.Add()([a, b]), layers.Subtract()([a, b]), layers.Multiply()([a, b]), layers.Average()([a, b]),
        layers.Maximum()([a, b]), layers.Minimum()([a, b])])
    q = layers.AveragePooling2D(2, strides=1, padding="same")(layers.MaxPooling2D(2)(m))
    q = layers.BatchNormalization(axis=1, momentum=0.8, epsilon=1e-2, center=False, name="bn_c")(q)
    g = layers.Concatenate(name="cat_g")([layers.GlobalAveragePooling2D()(q), layers.GlobalMaxPooling2D()(q)])
    head = lamina.Sequential([
        layers.Input((72,)), layers.Reshape((8, 9)), layers.Flatten(),
        layers.Dense(16, activation="gelu", name="head_d1"), layers.Dense(5, name="head_d2"),
        layers.Activation("softmax")], name="head")
    model = lamina.Model(inp, head(g))
    named = {name: model.get_layer(name) for name in ("conv_a", "bn_a", "conv_b", "bn_c")}
    named.update({name: head.get_layer(name) for name in ("head_d1", "head_d2")})
    return model, named


def _random_weights(named, rng):
    weights = {}
    for name, layer in named.items():
        for i, w in enumerate(layer.weights):
            path = w.path.rsplit("/", 1)[-1]
            if path == "gamma" or path == "moving_variance":
                v = rng.uniform(0.5, 1.5, w.shape)
            else:
                v = rng.uniform(-0.5, 0.5, w.shape)
            weights[f"{name}/{i}"] = v.astype("float32")
    return weights


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cpp_and_python_models_agree_given_the_same_weights(tmp_path):
    rng = np.random.default_rng(7)
    model, named = _python_parity_model()
    weights = _random_weights(named, rng)
    x = rng.normal(size=(4, 9, 9, 3)).astype("float32")
    c = rng.normal(size=(4, 5)).astype("float32")
    _write_tensors(tmp_path / "in.bin", {"x": x, "c": c, **weights})
    _build_and_run(ROOT / "tests" / "cpp_parity", "parity", tmp_path, [tmp_path / "in.bin", tmp_path / "out.bin"])
    cpp = _read_tensors(tmp_path / "out.bin")

    for name, layer in named.items():
        layer.set_weights([weights[f"{name}/{i}"] for i in range(len(layer.weights))])
    y_infer = np.asarray(model(x, training=False))
    xt = ops.convert_to_tensor(x)
    with lamina.GradientTape() as tape:
        tape.watch(xt)
        y_train = model(xt, training=True)
        loss = ops.sum(ops.multiply(y_train, c))
    trainable = {name: layer.trainable_weights for name, layer in named.items()}
    grads = tape.gradient(loss, [xt] + [w for ws in trainable.values() for w in ws])

    close = dict(rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cpp["y_infer"], y_infer, **close)
    np.testing.assert_allclose(cpp["y_train"], np.asarray(y_train), **close)
    assert np.abs(cpp["y_train"] - cpp["y_infer"]).max() > 1e-3  # batch vs moving statistics
    np.testing.assert_allclose(cpp["grad/x"], np.asarray(grads[0]), **close)
    assert np.abs(cpp["grad/x"]).max() > 1e-4
    k = 1
    for name, ws in trainable.items():
        for i in range(len(ws)):
            got, want = cpp[f"grad/{name}/{i}"], np.asarray(grads[k])
            np.testing.assert_allclose(got, want, err_msg=f"gradient of {name}/{i}", **close)
            assert np.abs(want).max() > 0, f"{name}/{i}"
            k += 1
    for name, layer in named.items():  # after the training pass: moving statistics moved the same way
        for i, w in enumerate(layer.weights):
            np.testing.assert_allclose(cpp[f"after/{name}/{i}"], np.asarray(w), err_msg=f"{name}/{i}", **close)
    for name in ("bn_a", "bn_c"):
        n = len(named[name].weights)
        assert not np.allclose(cpp[f"after/{name}/{n - 2}"], weights[f"{name}/{n - 2}"])
