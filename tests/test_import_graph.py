"""lamina's Python modules import one way (DESIGN.md, "One-way dependencies").

The graph is read from the source with `ast` (nothing is imported): an edge A -> B for every
`import` in A of a lamina module B, plus the packages B sits in (importing
`lamina.saving.serialization_lib` runs `lamina/saving/__init__.py` first), except A's own packages.
Class bodies run at import time, so their imports are module-level ones. An import inside a function
is an exception (DESIGN.md): it must carry a one-line reason comment, and only then is it left out of
the graph; one without a reason is an edge like any other, so hiding a cycle in a function fails too.

The order of DESIGN.md, bottom first, as the table `LEVELS`: a module may import its own level and
the ones below it, never one above. DESIGN's "models <- training, saving, summary" are Model's
methods (Trainer in `lamina.models`, `Model.save`, `Model.summary`); they call down into
`lamina.saving` and `lamina.utils.summary`, which know layers and models only through what those
register (`keras_export`, `KerasSaveable`), so both sit at the bottom with the registration.
"""
import ast
import pathlib

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1] / "python" / "lamina"

# Bottom first. A module belongs to the entry with the longest matching prefix.
LEVELS = [
    ("native and utilities", ["lamina._core", "lamina.version", "lamina.utils"]),
    ("backend", ["lamina.backend", "lamina.variables", "lamina.autograd", "lamina.symbolic"]),
    ("registration and saving", ["lamina.saving"]),
    ("ops", ["lamina.ops", "lamina.random"]),
    ("objects layers and training use", ["lamina.activations", "lamina.initializers", "lamina.losses",
                                         "lamina.metrics", "lamina.optimizers", "lamina.callbacks"]),
    ("layers", ["lamina.layers"]),
    ("models", ["lamina.models"]),
    ("public API", ["lamina", "lamina.__main__"]),
]

# The bindings (`lamina._core`) are called by the modules that wrap them; layers, models, losses,
# metrics, ... call `lamina.ops` (DESIGN: "bindings <- lamina.ops <- layers"). The optimizers call
# their fused C++ updates (DESIGN's C++ `optim`) themselves.
CORE_WRAPPERS = ["lamina.backend", "lamina.variables", "lamina.autograd", "lamina.ops", "lamina.random",
                 "lamina.utils", "lamina.optimizers"]
CORE_EXCEPTIONS = {}  # module -> why it still calls the bindings itself (none left)


def _module_name(path):
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


MODULES = _modules()
KNOWN = set(MODULES) | {"lamina._core"}


def _packages_of(name):
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _is_package(name):
    return MODULES.get(name, pathlib.Path()).name == "__init__.py"


class _Imports(ast.NodeVisitor):
    """Module-level and in-function import statements of one file."""

    def __init__(self):
        self.module_level, self.in_function, self._depth = [], [], 0

    def _function(self, node):
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _import(self, node):
        (self.in_function if self._depth else self.module_level).append(node)

    visit_Import = visit_ImportFrom = _import


def _parse(name):
    path = MODULES[name]
    source = path.read_text()
    visitor = _Imports()
    visitor.visit(ast.parse(source, str(path)))
    return source.splitlines(), visitor


def _targets(importer, node):
    """The lamina modules an import statement runs: the named modules and the packages they sit in."""
    if isinstance(node, ast.Import):
        named = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: resolved against the importer's package
            package = importer if _is_package(importer) else importer.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        named = [base] + [f"{base}.{alias.name}" for alias in node.names]
    out = set()
    for name in named:
        if name in KNOWN:
            out.add(name)
            out |= _packages_of(name)
    own = _packages_of(importer) | {importer}
    return {t for t in out if t in KNOWN and t not in own}


def _reason(lines, node):
    """The comment on the statement's last line or alone on the line just above it (None if none)."""
    last = lines[node.end_lineno - 1]
    if "#" in last:
        return last.split("#", 1)[1].strip() or None
    above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
    return above[1:].strip() or None if above.startswith("#") else None


def import_graph():
    """{module: {imported lamina module: line}} over the module-level imports and the imports
    inside functions that give no reason."""
    graph = {}
    for name in MODULES:
        lines, visitor = _parse(name)
        edges = graph.setdefault(name, {})
        unexplained = [node for node in visitor.in_function if _reason(lines, node) is None]
        for node in visitor.module_level + unexplained:
            for target in _targets(name, node):
                edges.setdefault(target, node.lineno)
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(out)


def level_of(name):
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LEVELS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def upward_imports(graph):
    """(importer, line, imported) for every import of a module from a higher level."""
    out = []
    for importer, edges in sorted(graph.items()):
        for target, line in sorted(edges.items()):
            if level_of(target) > level_of(importer):
                out.append((importer, line, target))
    return out


def core_importers(graph):
    """The modules that import the bindings but are neither their wrappers nor a listed exception."""
    def wraps(name):  # the package's own __init__ too (set_num_threads)
        return name == "lamina" or any(name == w or name.startswith(w + ".") for w in CORE_WRAPPERS)

    return sorted(m for m, edges in graph.items()
                  if "lamina._core" in edges and not wraps(m) and m not in CORE_EXCEPTIONS)


def in_function_imports():
    """(module, line, statement, reason) of every import inside a function (reason None if none)."""
    out = []
    for name in sorted(MODULES):
        lines, visitor = _parse(name)
        for node in visitor.in_function:
            out.append((name, node.lineno, ast.unparse(node), _reason(lines, node)))
    return out


# ---------------------------------------------------------------------- the checks

def test_every_module_has_a_level():
    assert [name for name in MODULES if level_of(name) is None] == []


def test_no_import_cycle_among_lamina_modules():
    found = cycles(import_graph())
    assert found == [], "import cycles (each list is one strongly connected set of modules):\n" + \
        "\n".join(" <-> ".join(c) for c in found)


def test_imports_follow_the_design_order():
    bad = [f"{m}:{line} imports {t} ({LEVELS[level_of(m)][0]} -> {LEVELS[level_of(t)][0]})"
           for m, line, t in upward_imports(import_graph())]
    assert bad == [], "imports against DESIGN.md's order:\n" + "\n".join(bad)


def test_only_the_wrappers_call_the_bindings():
    assert core_importers(import_graph()) == [], "call lamina.ops instead of lamina._core"


def test_every_import_inside_a_function_says_why():
    missing = [f"{m}:{line}: {statement}" for m, line, statement, reason in in_function_imports()
               if reason is None]
    assert missing == [], "imports inside functions without a one-line reason:\n" + "\n".join(missing)


# ---------------------------------------------------------------------- the checks can fail

def test_the_graph_finds_a_cycle_and_an_upward_import():
    graph = {"lamina.layers.core": {"lamina.saving.serialization_lib": 3},
             "lamina.saving.serialization_lib": {"lamina.layers": 5, "lamina.layers.core": 5},
             "lamina.layers": {"lamina.layers.core": 2}}
    assert cycles(graph) == [["lamina.layers", "lamina.layers.core", "lamina.saving.serialization_lib"]]
    assert upward_imports(graph) == [("lamina.saving.serialization_lib", 5, "lamina.layers"),
                                     ("lamina.saving.serialization_lib", 5, "lamina.layers.core")]
    assert core_importers({"lamina.layers.merging": {"lamina._core": 1}, "lamina.ops": {"lamina._core": 1},
                           "lamina.optimizers.adam": {"lamina._core": 1}}) == ["lamina.layers.merging"]


@pytest.mark.parametrize("source, expected", [
    ("from lamina.saving.serialization_lib import serialize_keras_object",
     {"lamina.saving.serialization_lib", "lamina.saving"}),
    ("from lamina import ops, initializers", {"lamina.ops", "lamina.initializers"}),
    ("import lamina.models.functional", {"lamina.models.functional", "lamina.models"}),
    ("from lamina.layers.input_spec import InputSpec", {"lamina.layers.input_spec"}),  # own package left out
    ("from . import conv", {"lamina.layers.conv"}),
    ("from ..saving import object_registration", {"lamina.saving", "lamina.saving.object_registration"}),
    ("import numpy as np", set()),
])
def test_an_import_statement_runs_its_modules_and_their_packages(source, expected):
    node = ast.parse(source).body[0]
    assert _targets("lamina.layers.core", node) == expected


def test_imports_in_class_bodies_count_and_reasons_are_read():
    source = ("class A:\n    import json\n    def f(self):\n        import re  # why\n"
              "def g():\n    # because\n    import os\n    import sys\n")
    visitor = _Imports()
    visitor.visit(ast.parse(source))
    assert [n.lineno for n in visitor.module_level] == [2]
    assert [n.lineno for n in visitor.in_function] == [4, 7, 8]
    lines = source.splitlines()
    assert [_reason(lines, n) for n in visitor.in_function] == ["why", "because", None]
