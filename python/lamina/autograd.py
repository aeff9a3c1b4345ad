"""`lamina.GradientTape`: records ops while active and computes gradients, in TensorFlow's style.

    with lamina.GradientTape() as tape:
        loss = lamina.ops.sum(lamina.ops.square(x @ w))
    dw, = tape.gradient(loss, [w])
"""
import threading

from lamina import _core
from lamina.backend import Tensor, convert_to_tensor

__all__ = ["GradientTape", "no_grad"]


def _flatten(structure):
    if isinstance(structure, dict):
        keys = sorted(structure)
        flat = [structure[k] for k in keys]
        return flat, lambda vals: dict(zip(keys, vals))
    if isinstance(structure, (list, tuple)):
        kind = type(structure)
        return list(structure), lambda vals: kind(vals) if kind is not tuple else tuple(vals)
    return [structure], lambda vals: vals[0]


class _Claims:
    """How many tapes may still differentiate the recorded graph: open ones, persistent ones
    still alive, and non-persistent ones not yet used. The graph is shared (ops record once, for
    every open tape), so a tape may release it only when it is the last such tape."""

    def __init__(self):
        self.count = 0
        self.lock = threading.RLock()  # GradientTape.__del__ may run (GC) while this thread holds it

    def add(self):
        with self.lock:
            self.count += 1

    def remove(self):
        """Returns True when no tape claims the graph any more."""
        with self.lock:
            self.count -= 1
            return self.count == 0


_claims = _Claims()


def _core_tensor(x):
    t = getattr(x, "_lamina_tensor", None)
    if t is not None:
        return t
    if type(x) is Tensor:
        return x
    raise TypeError(f"GradientTape: expected a Tensor or Variable, got {type(x).__name__}")


class GradientTape:
    """Records operations inside its `with` block so that gradients can be computed after it.

    Trainable float32 Variables are watched automatically; call `watch(tensor)` for other tensors.
    `gradient()` returns None for a source the target does not depend on. A non-persistent tape
    allows one `gradient()` call.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = persistent
        self._scope = None
        self._used = False
        self._watched = []  # leaves this tape switched on: switched off again when it exits
        self._claimed = False

    def _release_claim(self):
        if self._claimed:
            self._claimed = False
            return _claims.remove()
        return False

    def __del__(self):
        try:
            self._release_claim()
        except Exception:  # interpreter shutdown: module globals may already be gone
            pass

    def __enter__(self):
        if not self._claimed:
            self._claimed = True
            _claims.add()
        self._scope = _core.GradRecording()
        self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        self._scope.__exit__(*exc)
        self._scope = None
        # Watching lasts for this tape only (as in TensorFlow): a later tape that does not watch
        # the tensor gives None for it. The recorded graph already knows which inputs it needs.
        for core in self._watched:
            core._set_requires_grad(False)
        self._watched = []
        return False

    def watch(self, tensor):
        """Marks tensors (a tensor, a Variable, or a list of them) as gradient sources."""
        flat, _ = _flatten(tensor)
        for t in flat:
            core = _core_tensor(t)
            if core.dtype != "float32":
                raise TypeError(f"GradientTape.watch: only float32 tensors can be watched, got {core.dtype}")
            if core._is_leaf and not core._requires_grad:
                core._set_requires_grad(True)
                if self._scope is not None:
                    self._watched.append(core)

    def gradient(self, target, sources, output_gradients=None):
        """d target / d sources, with the structure of `sources` (None where unconnected)."""
        if self._used and not self._persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can only be used to compute one set of gradients "
                "(or jacobians)")
        self._used = True
        target = _core_tensor(target) if not isinstance(target, (int, float)) else convert_to_tensor(target)
        flat, rebuild = _flatten(sources)
        core = [_core_tensor(s) for s in flat]
        if output_gradients is None:
            seed = None if target.size == 1 else _core.ones(list(target.shape), "float32")
        else:
            seed = convert_to_tensor(output_gradients, "float32")
        if not target._requires_grad:
            if not self._persistent:
                self._release_claim()
            return rebuild([None] * len(core))
        # A used non-persistent tape is done (TensorFlow frees its record here). When no other tape
        # can still use the graph, the pass frees each node as soon as its backward has run (the
        # peak memory of the pass drops), and afterwards the variables' values the graph saved
        # (Variable._read) no longer share their storage, so the optimizer's update that usually
        # follows writes the weights in place instead of copying each one first.
        release = not self._persistent and self._release_claim()
        return rebuild(_core.gradients(target, core, seed, release=release))


class no_grad:
    """Context manager that stops recording (inside a GradientTape) for its block."""

    def __enter__(self):
        self._scope = _core.NoGrad()
        self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        self._scope.__exit__(*exc)
        return False
