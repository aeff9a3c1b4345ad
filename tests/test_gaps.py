"""Tests for behaviour the rest of the suite left unchecked (issue 12, "tests that would miss a bug"):
the `evaluate` / `predict` progress bars, `python -m lamina --cmake-dir`, `summary(layer_range=...)`,
the README's main job and the autodiff demo, and `bench/compare.py`'s correctness guards."""
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lamina as keras
from lamina import layers

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- evaluate / predict progress bars
#
# Keras 3.15's Progbar (keras/src/utils/progbar.py) ends a run with the line
#   `4/4 ━━━━━━━━━━━━━━━━━━━━ 0s 3ms/step - accuracy: 0.4000 - loss: 0.8090` (verbose=1 or "auto")
#   `4/4 - 0s - 3ms/step - accuracy: 0.4000 - loss: 0.8090`                (verbose=2)
# and for `predict` the same without metrics. lamina writes these as plain lines when stdout is not a
# terminal, and redraws one line with Keras's escape codes when it is.

STEP_TIME = r"\d+(us|ms|s)/step"


def _small_model():
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    x = rng.rand(50, 4).astype("float32")
    y = (x.sum(1) > 2).astype("int64")
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model, x, y


def _metrics_text(loss, accuracy):
    return f" - accuracy: {accuracy:.4f} - loss: {loss:.4f}"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _strip_ansi(text):
    return re.sub(r"\x1b\[\d+m", "", text)


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_evaluate_progress_bar_line(capsys, verbose):
    model, x, y = _small_model()
    loss, accuracy = model.evaluate(x, y, batch_size=16, verbose=verbose)  # 4 steps, the last of 2 samples
    out = capsys.readouterr().out
    assert "\b" not in out and "\x1b" not in out and "\r" not in out
    line = out.rstrip("\n")
    assert out.endswith("\n") and "\n" not in line, repr(out)
    assert re.fullmatch(rf"4/4 ━{{20}} \d+s {STEP_TIME}" + re.escape(_metrics_text(loss, accuracy)), line), line


def test_evaluate_progress_bar_verbose_2_steps_and_silence(capsys):
    model, x, y = _small_model()
    loss, accuracy = model.evaluate(x, y, batch_size=16, verbose=2)
    line = capsys.readouterr().out
    assert re.fullmatch(rf"4/4 - \d+s - {STEP_TIME}" + re.escape(_metrics_text(loss, accuracy)) + "\n", line), line
    # `steps` bounds the run and the bar's target; the numbers are those of the first two batches.
    loss2, accuracy2 = model.evaluate(x, y, batch_size=16, steps=2, verbose=2)
    first_two = model.evaluate(x[:32], y[:32], batch_size=16, verbose=0)
    assert [loss2, accuracy2] == pytest.approx(first_two, rel=1e-6)
    line = capsys.readouterr().out
    assert re.fullmatch(rf"2/2 - \d+s - {STEP_TIME}" + re.escape(_metrics_text(loss2, accuracy2)) + "\n", line), line
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_predict_progress_bar_lines(capsys):
    model, x, _ = _small_model()
    for verbose in (1, "auto"):
        out = model.predict(x, batch_size=16, verbose=verbose)
        assert out.shape == (50, 2)
        text = capsys.readouterr().out
        assert re.fullmatch(rf"4/4 ━{{20}} \d+s {STEP_TIME}\n", text), repr(text)
    model.predict(x, batch_size=7, verbose=2)  # 8 steps, the last of one sample
    text = capsys.readouterr().out
    assert re.fullmatch(rf"8/8 - \d+s - {STEP_TIME}\n", text), repr(text)


def test_evaluate_and_predict_redraw_one_line_on_a_terminal(monkeypatch):
    model, x, y = _small_model()
    term = _Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    loss, accuracy = model.evaluate(x, y, batch_size=16, verbose=1)
    model.predict(x, batch_size=16, verbose=1)
    monkeypatch.undo()
    text = term.getvalue()
    evaluate_text, predict_text = text.split("\n")[:2]
    assert text.endswith("\n") and text.count("\n") == 2
    for part, tail in ((evaluate_text, _metrics_text(loss, accuracy)), (predict_text, "")):
        assert part.startswith("\r") or part.startswith("\b")
        last = part.split("\r")[-1]
        assert last.startswith("\x1b[1m4/4\x1b[0m \x1b[32m" + "━" * 20)  # Keras's bold count, green bar
        assert re.fullmatch(rf"4/4 ━{{20}} \d+s {STEP_TIME}" + re.escape(tail) + " *",
                            _strip_ansi(last)), repr(last)


def test_fit_with_validation_prints_no_separate_evaluate_bar(capsys):
    model, x, y = _small_model()
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=2, validation_data=(x[:20], y[:20]))
    lines = capsys.readouterr().out.splitlines()
    h = {k: v[0] for k, v in history.history.items()}
    assert len(lines) == 1, lines
    assert re.fullmatch(
        rf"4/4 - \d+s - {STEP_TIME}" + re.escape(
            f" - accuracy: {h['accuracy']:.4f} - loss: {h['loss']:.4f}"
            f" - val_accuracy: {h['val_accuracy']:.4f} - val_loss: {h['val_loss']:.4f}"), lines[0]), lines[0]


# ---------------------------------------------------------------- python -m lamina


def _run_module(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lamina", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_python_m_lamina_cmake_dir_prints_the_package_config_directory(tmp_path):
    r = _run_module("--cmake-dir", cwd=tmp_path)  # outside the source tree: the installed package
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    directory = Path(lines[0])
    assert directory.is_absolute() and os.path.samefile(directory, keras.cmake_dir())
    names = {p.name for p in directory.iterdir()}
    assert "laminaConfig.cmake" in names or "lamina-config.cmake" in names, names
    assert "laminaConfigVersion.cmake" in names or "lamina-config-version.cmake" in names, names
    version_file = directory / ("laminaConfigVersion.cmake" if "laminaConfigVersion.cmake" in names
                                else "lamina-config-version.cmake")
    assert f'set(PACKAGE_VERSION "{keras.__version__}")' in version_file.read_text()


def test_python_m_lamina_version_and_bad_arguments(tmp_path):
    r = _run_module("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == f"{keras.__version__}\n"
    r = _run_module("--cmake-dri", cwd=tmp_path)
    assert r.returncode == 2 and "unrecognized arguments: --cmake-dri" in r.stderr and r.stdout == ""


# ---------------------------------------------------------------- summary(layer_range=...)
#
# Keras 3.15.1 (torch backend, COLUMNS=80) printed these tables for the same models:
# `model.summary(layer_range=..., print_fn=...)`. The range is two name patterns (re.match): from
# the first layer matching the first to the last layer matching the second; given last-first it
# covers the same layers; the totals stay those of the whole model.

RANGED_A_TO_C = """\
Model: "ranged"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense_a (Dense)                 │ (None, 16)             │           144 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ hidden_b (Dense)                │ (None, 8)              │           136 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_c (Dense)                 │ (None, 4)              │            36 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 326 (1.27 KB)
 Trainable params: 326 (1.27 KB)
 Non-trainable params: 0 (0.00 B)
"""

RANGED_OUT_TO_A = """\
Model: "ranged"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense_a (Dense)                 │ (None, 16)             │           144 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ hidden_b (Dense)                │ (None, 8)              │           136 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_c (Dense)                 │ (None, 4)              │            36 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ out (Dense)                     │ (None, 2)              │            10 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 326 (1.27 KB)
 Trainable params: 326 (1.27 KB)
 Non-trainable params: 0 (0.00 B)
"""

FUNCTIONAL_X_TO_D3 = """\
Model: "fn"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ x (InputLayer)                  │ (None, 8)              │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ d1 (Dense)                      │ (None, 4)              │            36 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ d3 (Dense)                      │ (None, 3)              │            15 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 59 (236.00 B)
 Trainable params: 59 (236.00 B)
 Non-trainable params: 0 (0.00 B)
"""


def _ranged():
    return keras.Sequential([keras.Input((8,)), layers.Dense(16, name="dense_a"), layers.Dense(8, name="hidden_b"),
                             layers.Dense(4, name="dense_c"), layers.Dense(2, name="out")], name="ranged")


def _summary_text(model, **kwargs):
    out = []
    model.summary(print_fn=lambda text, line_break=None: out.append(text), **kwargs)
    return "".join(out)


def _rows(text):
    return re.findall(r"^│ (\S+) \(", text, flags=re.M)


@pytest.fixture
def columns80(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def test_summary_layer_range_matches_keras(columns80):
    model = _ranged()
    assert _summary_text(model, layer_range=("dense_a", "dense_c")) == RANGED_A_TO_C
    assert _summary_text(model, layer_range=["out", "dense_a"]) == RANGED_OUT_TO_A
    # Rows Keras shows for other patterns (prefixes, one layer, the same pattern twice).
    for layer_range, rows in ((("hidden", "out"), ["hidden_b", "dense_c", "out"]),
                              (("dense", "dense"), ["dense_a", "hidden_b", "dense_c"]),
                              (("hidden_b", "hidden_b"), ["hidden_b"]),
                              ((".*", ".*"), ["dense_a", "hidden_b", "dense_c", "out"])):
        assert _rows(_summary_text(model, layer_range=layer_range)) == rows, layer_range
    inp = keras.Input((8,), name="x")
    h = layers.Dense(4, name="d1")(inp)
    functional = keras.Model(inp, layers.Dense(2, name="d2")(layers.Dense(3, name="d3")(h)), name="fn")
    assert _summary_text(functional, layer_range=("x", "d3")) == FUNCTIONAL_X_TO_D3


@pytest.mark.parametrize("layer_range, message", [
    (("nope", "out"), "Passed layer_names do not match the layer names in the model. Received: ('nope', 'out')"),
    (("dense_a", "nope"), "Passed layer_names do not match the layer names in the model. "
                          "Received: ('dense_a', 'nope')"),
    (("dense_a",), "layer_range must be a list or tuple of length 2. Received: layer_range = ('dense_a',) "
                   "of length 1"),
    (["a", "b", "c"], "layer_range must be a list or tuple of length 2. Received: layer_range = ['a', 'b', 'c'] "
                      "of length 3"),
    (("dense_a", 3), "layer_range should contain string type only. Received: ('dense_a', 3)"),
], ids=["unknown_first", "unknown_last", "one_name", "three_names", "not_a_string"])
def test_summary_layer_range_errors_are_keras_messages(layer_range, message):
    with pytest.raises(ValueError) as info:
        _ranged().summary(layer_range=layer_range, print_fn=lambda *a, **k: None)
    assert str(info.value) == message


# ---------------------------------------------------------------- the README's main job and the autodiff demo
#
# Each runs as a user runs it (`python examples/...py`, a fresh process, outside the source tree);
# the checks are its exit code and the lines it prints. Times measured on the 2-core development
# machine (loaded): the guide about 15-40 s, the demo about 2-4 s.


def _run_example(name, tmp_path, timeout):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=timeout)
    assert r.returncode == 0, f"{name} exited with {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def _value(pattern, text):
    found = re.findall(pattern, text, flags=re.M)
    assert len(found) == 1, (pattern, found)
    return found[0]


def test_readme_main_job_sequential_guide_runs(tmp_path):
    pytest.importorskip("sklearn.datasets")  # the `examples` extra: the digits come from scikit-learn
    out = _run_example("sequential_guide.py", tmp_path, timeout=900)
    sections = re.findall(r"^=== (.*)$", out, flags=re.M)
    assert sections == ["When to use a Sequential model", "Creating a Sequential model",
                        "Specifying the input shape in advance", "A common debugging workflow: add() + summary()",
                        "Feature extraction with a Sequential model", "Running the guide's CNN",
                        "The workflow on real data: scikit-learn's digits", "Transfer learning with a Sequential model"]
    # What the guide prints (Keras 3.15's numbers for the guide's models).
    assert "y.shape: (3, 4)" in out
    assert " Total params: 49,002 (191.41 KB)" in out
    assert "features of every layer: [(1, 123, 123, 32), (1, 121, 121, 32), (1, 119, 119, 32)]" in out
    assert "features of my_intermediate_layer: (1, 121, 121, 32)" in out
    assert re.search(r"^logits for 16 images of 250x250x3: shape \(16, 10\), ", out, flags=re.M)
    # The digits workflow: summary, 15 epochs with the progress bar and validation, evaluate, predict.
    assert 'Model: "digits_cnn"' in out and " Total params: 18,474 (72.16 KB)" in out
    epochs = re.findall(r"^Epoch (\d+)/15\n38/38 ━{20} \d+s \d+(?:us|ms|s)/step - accuracy: \d\.\d{4} - "
                        r"loss: \d+\.\d{4} - val_accuracy: \d\.\d{4} - val_loss: \d+\.\d{4}$", out, flags=re.M)
    assert epochs == [str(e) for e in range(1, 16)]
    evaluated = float(_value(r"^15/15 ━{20} \d+s \d+(?:us|ms|s)/step - accuracy: (\d\.\d{4}) - loss: \d+\.\d{4}$",
                             out))
    predicted, true = _value(r"^predicted: (\[.*\]) true: (\[.*\])$", out)
    assert len(eval(predicted)) == 5 and eval(true) == [2, 8, 2, 6, 6]
    assert "features of every layer: [(2, 6, 6, 32), (2, 4, 4, 32), (2, 2, 2, 32), (2, 128), (2, 64), (2, 10)]" in out
    # Transfer learning: only the last layer trainable, then a new head on the frozen base.
    assert " Trainable params: 650 (2.54 KB)" in out and " Non-trainable params: 17,824 (69.62 KB)" in out
    transfer = float(_value(r"^new head on the frozen base: test accuracy (\d\.\d{4})$", out))
    accuracy = float(_value(r"^test accuracy: (\d\.\d{4})$", out))
    assert out.rstrip().endswith(f"test accuracy: {accuracy:.4f}")
    assert accuracy == evaluated  # the evaluate line's accuracy is the one the script reports
    assert accuracy >= 0.93 and transfer >= 0.90, (accuracy, transfer)  # README: about 0.97


def test_autodiff_demo_learns_the_spirals(tmp_path):
    out = _run_example("autodiff_demo.py", tmp_path, timeout=300)
    losses = [(int(s), float(v)) for s, v in re.findall(r"^step +(\d+)  loss (\d+\.\d{4})$", out, flags=re.M)]
    assert [s for s, _ in losses] == [1, 400, 800, 1200, 1600, 2000]
    assert losses[0][1] > 1.0 and losses[-1][1] < 0.1 and all(a[1] > b[1] for a, b in zip(losses, losses[1:]))
    accuracy = float(_value(r"^train accuracy (\d\.\d{3}) after 2000 steps \(\d+\.\d+ s, \d+ us/step\)$", out))
    assert accuracy >= 0.95  # the script itself fails below 0.9


# ---------------------------------------------------------------- bench/compare.py's correctness checks
#
# Before timing anything, compare.py checks that lamina computes the right thing (W1: the product
# against torch / NumPy; W2, W3: logits, loss and one Adam update against a float64 torch twin with
# lamina's weights; W4: shapes). `--smoke` runs every workload once on small sizes with these checks
# and exits with 1 when one fails. Measured: about 20 s of CPU (60-70 s wall on the loaded 2-core
# development machine).

SMOKE_CHECKS = {"W1 gemm_square m=64 k=64 n=64", "W1 gemm_skinny m=32 k=784 n=512", "W2 mlp b=32", "W3 cnn",
                "W4 mlp_latency", "W4 cnn_latency"}


def _needs_torch():
    return pytest.importorskip("torch", reason="bench/compare.py compares against torch (pip install torch==2.13.0)")


def _compare_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lamina_bench_compare", ROOT / "bench" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_compare_smoke_run_passes_every_check(tmp_path):
    _needs_torch()
    pytest.importorskip("sklearn.datasets")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), "--smoke"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=600)
    out = r.stdout
    assert r.returncode == 0, f"{out[-4000:]}\n{r.stderr[-3000:]}"
    assert "# WARNING" not in out and "check(s) failed" not in out
    assert set(re.findall(r"^# check (.*): ok$", out, flags=re.M)) == SMOKE_CHECKS
    assert re.findall(r"^# (W\d) took ", out, flags=re.M) == ["W1", "W2", "W3", "W4", "W5", "W6"]
    for wid, figure in (("W1", "gemm_skinny"), ("W2", "mlp_train"), ("W3", "cnn_train"), ("W3", "cnn_infer"),
                        ("W4", "cnn_latency"), ("W5", "digits_cnn_fit"), ("W6", "cnn_train_memory")):
        for fw in ("lamina", "torch"):
            assert re.search(rf"^{wid} {figure} fw={fw} .* n=1\b", out, flags=re.M), (wid, figure, fw)


def test_bench_compare_checks_catch_wrong_results(capsys):
    """The checks themselves: given a wrong result they print a WARNING and record a failure (which
    makes `--smoke` exit with 1); given the right one they pass."""
    torch = _needs_torch()
    compare = _compare_module()
    ctx = compare.Context(compare.parse_args(["--smoke"]), keras, torch, np)

    rng = np.random.default_rng(0)
    a, b = rng.random((32, 784), dtype=np.float32), rng.random((784, 64), dtype=np.float32)
    la, lb = keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)
    compare._check_w1(ctx, la, lb, a, b, {}, "gemm", {"m": 32})
    assert ctx.failures == []
    compare._check_w1(ctx, la, lb, a, b * np.float32(1.001), {}, "gemm", {"m": 32})  # a product off by 0.1 %
    assert len(ctx.failures) == 1 and "differs from the reference" in ctx.failures[0]

    x, y = compare._synthetic(np, 8, (784,))
    tx = torch.from_numpy(x)
    assert compare._check_vs_torch(ctx, "W2", "right", compare._lamina_mlp(ctx), compare._torch_mlp(torch), x, y, tx)
    assert len(ctx.failures) == 1
    # A twin without the relus: the same weights, other logits.
    nn = torch.nn
    no_relu = nn.Sequential(nn.Linear(784, 512), nn.Linear(512, 512), nn.Linear(512, 10))
    assert not compare._check_vs_torch(ctx, "W2", "no relu", compare._lamina_mlp(ctx), no_relu, x, y, tx)
    assert "logits differ" in ctx.failures[-1]
    # An update that is not Keras's Adam at learning rate 1e-3.
    model = compare._lamina_mlp(ctx, compile=False)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1.2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert not compare._check_vs_torch(ctx, "W2", "lr", model, compare._torch_mlp(torch), x, y, tx)
    assert "after one Adam step differ" in ctx.failures[-1] and "logits" not in ctx.failures[-1]
    assert len(ctx.failures) == 3
    out = capsys.readouterr().out
    assert out.count("# WARNING") == 3 and "# check W2 right: ok" in out
