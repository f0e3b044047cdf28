"""Issue 9's layout bars, read from the source with ``ast``.

No module under ``generator/`` is over 400 lines (its data files are not
modules), no function or method over 80 (from its first decorator to its
last line, docstring included), and the package's import graph has no
cycle. An edge is a module-level ``import`` or ``from`` statement, absolute
or relative, to a module of the package; an import inside a function or
under ``if TYPE_CHECKING:`` is none, and neither is the package ``__init__``
Python loads on the way to a submodule. A regression fails here, naming the
module, the function or the cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "generator"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def get_modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Every Python module of the package, by dotted name (data files are not modules)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def get_module_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The import statements a module runs when it is imported."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                if not is_type_checking(node.test):
                    walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                for handler in node.handlers:
                    walk(handler.body)
                walk(node.orelse)
                walk(node.finalbody)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                walk(node.body)

    walk(tree.body)
    return found


def resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` statement names (``from . import x`` names the package)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def get_targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The modules of the package an import statement of ``module`` names (itself aside)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = resolve_from(module, is_package, node)
        # ``from pkg import sub`` loads the submodule; ``from mod import name`` only mod.
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    return {name for name in names if name in modules and name != module}


def get_import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's module-level imports within the package."""
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[module] = set()
        for node in get_module_imports(tree):
            graph[module] |= get_targets(module, is_package, node, modules)
    return graph


def get_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as the modules along it (the first repeated at the end), or None.

    A depth-first walk in name order, so the cycle named is the same on every run.
    """
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = [start]
        pending = [iter(sorted(graph[start]))]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                done.add(path.pop())
                pending.pop()
            elif nxt in path:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in done:
                path.append(nxt)
                pending.append(iter(sorted(graph.get(nxt, ()))))
    return None


def get_long_functions(path: Path, limit: int) -> list[str]:
    """``path:line name (N lines)`` for each function (methods and nested ones too) over the limit."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    long = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines = node.end_lineno - start + 1
            if lines > limit:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    return long


def test_no_module_over_the_line_bar():
    over = [
        f"{path.relative_to(ROOT)} ({count} lines)"
        for path in get_modules().values()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split along a seam): " + "; ".join(over)


def test_no_function_over_the_line_bar():
    over = [line for path in get_modules().values() for line in get_long_functions(path, MAX_FUNCTION_LINES)]
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines (extract helpers): " + "; ".join(over)


def test_the_import_graph_has_no_cycle():
    cycle = get_cycle(get_import_graph(get_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_is_read():
    # The bars above hold vacuously on an empty or misread package: absolute,
    # relative and package imports must all be edges.
    graph = get_import_graph(get_modules())
    assert {"generator.build", "generator.config"} <= graph["generator.write"]
    assert "generator.fetch.http" in graph["generator.fetch"]
    assert "generator.validate.arrays" in graph["generator.validate"]  # from .arrays import ...
    assert "generator.cluster.driver" not in graph["generator.build"], "an import inside a function is no edge"
    assert "generator.build" not in graph["generator.progress"], "nor one under TYPE_CHECKING"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"b2"}, "b2": {"b"}}, ["b", "b2", "b"]),
        ({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}, None),
        ({"a": {"a"}}, ["a", "a"]),
    ],
)
def test_get_cycle_names_the_cycle(graph, expected):
    assert get_cycle(graph) == expected
