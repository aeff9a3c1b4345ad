"""The wheel is a C++ package too: a separate CMake project finds it with find_package(lamina),
links lamina::lamina (the same liblamina the Python module uses) and runs."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import lamina

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cpp"


def _build_and_run(name, tmp_path):
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(EXAMPLES / name), "-B", str(build),
                    f"-DCMAKE_PREFIX_PATH={lamina.cmake_dir()}"],
                   check=True, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, text=True, timeout=600)
    out = subprocess.run([str(build / name)], check=True, capture_output=True, text=True, timeout=300)
    return out.stdout.strip().splitlines()


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cpp_example_builds_against_the_installed_package_and_runs(tmp_path):
    assert (Path(lamina.cmake_dir()) / "laminaConfig.cmake").is_file()
    lines = _build_and_run("linear_regression", tmp_path)
    assert lines[-2] == "w = 3.000, b = -1.000"
    assert lines[-1].startswith("error: [matmul] incompatible shapes (2, 3) and (4, 5)")


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cpp_guide_cnn_and_w2_mlp_from_cpp(tmp_path):
    lines = _build_and_run("guide_models", tmp_path)
    text = "\n".join(lines)
    assert "(None, 123, 123, 32)" in text and "(None, 40, 40, 32)" in text and "(None, 4, 4, 32)" in text
    assert "guide CNN: logits (4, 10)" in text and "49002 parameters" in text
    assert "Total params: 669,706 (2.55 MB)" in text
    assert lines[-1].startswith("W2 MLP: loss")
