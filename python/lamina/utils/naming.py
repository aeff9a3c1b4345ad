"""Automatic names (`dense`, `dense_1`, ... unique in the process, as Keras makes them) and the name
scopes that give weights their paths (`sequential/dense/kernel`).

The counters live in the C++ core (`lamina::unique_name`), shared with the C++ layers. What stays
here is Python's alone: class name -> prefix, and Keras's name scopes (a weight's path follows the
Python `with` blocks a model builds its layers in; C++ layers have no paths)."""
import re

from lamina import _core


def to_snake_case(name):
    """`MaxPooling2D` -> `max_pooling2d`, `Conv2D` -> `conv2d` (Keras's rule)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(prefix):
    """`prefix` the first time, then `prefix_1`, `prefix_2`, ..."""
    return _core.unique_name(prefix)


def reset_uids():
    """Forgets every name handed out (used by `clear_session`)."""
    _core.reset_unique_names()


# Keras's name scopes: a weight created while a model builds its layers gets the path
# `<model>/<layer>/<weight>` (`sequential/dense/kernel`); a layer built on its own, `dense/kernel`.
_name_scope_stack = []


class NameScope:
    """Enters `name` for `caller` (a layer); re-entering the same caller's scope adds nothing. A caller
    that remembers where it was first used (`caller._parent_path`) is placed under that path."""

    def __init__(self, name, caller):
        self.name = name
        self.caller = caller
        self.override_parent = getattr(caller, "_parent_path", None)
        self._pushed = False

    def __enter__(self):
        top = _name_scope_stack[-1] if _name_scope_stack else None
        if top is None or top.caller is not self.caller or top.name != self.name:
            _name_scope_stack.append(self)
            self._pushed = True
        return self

    def __exit__(self, *exc):
        if self._pushed:
            _name_scope_stack.pop()


def current_path():
    """The path of the scopes entered now: `outer/inner` ('' outside any scope)."""
    parts = []
    for scope in _name_scope_stack:
        if scope.override_parent is not None:
            parts = [p for p in scope.override_parent.split("/") if p]
        parts.append(scope.name)
    return "/".join(parts)


def reset_name_scopes():
    del _name_scope_stack[:]
