"""The realtime wing's shape (issue 21): small modules, no import circle at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import sayna._realtime

WING = Path(sayna._realtime.__file__).parent
PACKAGE = "sayna._realtime"
# The issue says "no module over ~500 lines"; every one is now at or under 500.
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(WING.glob("*.py")) if path.stem != "__init__"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST, names: set[str]) -> set[str]:
    """The wing's modules ``tree`` imports outside ``if TYPE_CHECKING:`` blocks."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module == PACKAGE:
                found.update(alias.name for alias in node.names if alias.name in names)
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name.split(".")[2])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> None:
        for target in sorted(graph.get(name, ())):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif target not in done:
                walk(target, [*path, target])
        done.add(name)

    for name in sorted(graph):
        walk(name, [name])
    return cycles


def test_no_realtime_module_is_past_about_500_lines() -> None:
    """Every module of sayna/_realtime/ stays at 500 lines or under."""
    lengths = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_the_core_and_the_session_are_under_500_lines() -> None:
    """core.py and session.py, the two that grew past it, are under 500 lines."""
    modules = _modules()
    lengths = {name: len(modules[name].read_text().splitlines()) for name in ("core", "session")}
    assert all(n < 500 for n in lengths.values()), lengths


def test_no_import_circle_at_run_time() -> None:
    """The wing's modules import each other in one direction; circles are type-only."""
    modules = _modules()
    names = set(modules)
    graph = {
        name: _runtime_imports(ast.parse(path.read_text()), names) for name, path in modules.items()
    }
    assert _cycles(graph) == []


def test_the_circle_check_sees_a_circle() -> None:
    """The check above finds a circle when there is one, and ignores type-only imports."""
    names = {"a", "b"}
    a = ast.parse("from sayna._realtime.b import x\n")
    b = ast.parse("from sayna._realtime import a\n")
    b_typed = ast.parse("if TYPE_CHECKING:\n    from sayna._realtime import a\n")
    assert _cycles({"a": _runtime_imports(a, names), "b": _runtime_imports(b, names)}) != []
    assert _cycles({"a": _runtime_imports(a, names), "b": _runtime_imports(b_typed, names)}) == []
