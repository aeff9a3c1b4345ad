"""lamina and PyTorch in one process: both import orders work, and each keeps its own thread count
(both link an OpenMP runtime)."""
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

LAMINA_MATMUL = """
import numpy as np
import lamina
a = np.arange(12, dtype=np.float32).reshape(3, 4)
b = np.ones((4, 2), np.float32)
got = np.asarray(lamina.ops.matmul(a, b))
assert np.allclose(got, a @ b), got
big = np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)
assert np.allclose(np.asarray(lamina.ops.matmul(big, big)), big @ big, rtol=1e-3, atol=1e-3)
"""

TORCH_MATMUL = """
import torch
t = torch.arange(12, dtype=torch.float32).reshape(3, 4) @ torch.ones(4, 2)
assert torch.allclose(t, torch.tensor([[6.0, 6.0], [22.0, 22.0], [38.0, 38.0]])), t
big = torch.randn(256, 256)
assert torch.isfinite(big @ big).all()
"""


def _run(code):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize("order", ["lamina_first", "torch_first"])
def test_import_orders(order):
    if order == "lamina_first":
        code = "import lamina\nimport torch\n" + LAMINA_MATMUL + TORCH_MATMUL
    else:
        code = "import torch\nimport lamina\n" + TORCH_MATMUL + LAMINA_MATMUL
    out = _run(code + "\nprint('ok')\n")
    assert out.strip().endswith("ok")


def test_torch_set_num_threads_does_not_change_lamina():
    out = _run("""
        import lamina, torch
        import numpy as np
        before = lamina.get_num_threads()
        torch.set_num_threads(1)
        after = lamina.get_num_threads()
        x = np.ones((300, 300), np.float32)
        np.testing.assert_allclose(np.asarray(lamina.ops.matmul(x, x)), x @ x)
        lamina.set_num_threads(1)
        torch.set_num_threads(2)
        print(before, after, lamina.get_num_threads(), torch.get_num_threads())
    """)
    before, after, lamina_one, torch_two = map(int, out.split())
    assert after == before
    assert lamina_one == 1 and torch_two == 2
