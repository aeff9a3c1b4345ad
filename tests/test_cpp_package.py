"""The wheel is a C++ package too: a separate CMake project finds it with find_package(lamina),
links lamina::lamina (the same liblamina the Python module uses) and runs."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import lamina

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cpp" / "linear_regression"


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cpp_example_builds_against_the_installed_package_and_runs(tmp_path):
    assert (Path(lamina.cmake_dir()) / "laminaConfig.cmake").is_file()
    build = tmp_path / "build"
    env = dict(os.environ)
    subprocess.run(["cmake", "-S", str(EXAMPLE), "-B", str(build), f"-DCMAKE_PREFIX_PATH={lamina.cmake_dir()}"],
                   check=True, capture_output=True, text=True, env=env, timeout=300)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, text=True, env=env, timeout=600)
    out = subprocess.run([str(build / "linear_regression")], check=True, capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == "w = 3.000, b = -1.000"
    assert lines[-1].startswith("error: [matmul] incompatible shapes (2, 3) and (4, 5)")
