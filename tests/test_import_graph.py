"""No import cycles among genrelab's modules, counting imports inside functions too.

A function-local import hides a cycle from Python at import time but not from the design: two
modules that need each other cannot be understood, tested or moved apart. Dependencies flow
one way (audio -> features -> models -> pipeline -> surfaces). Only ``typing.TYPE_CHECKING``
blocks are left out (they never run), and a package's ``__init__`` importing its own
children (re-exports) is allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import genrelab

SRC = Path(genrelab.__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (SRC / "genrelab").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest genrelab module ``name`` lies in (``genrelab.a.b.func`` -> ``genrelab.a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules ``module`` imports anywhere in its body, except under ``if TYPE_CHECKING:``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(filter(None, (_known(a.name, modules) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                target = _known(f"{base}.{alias.name}", modules) or _known(base, modules)
                if target:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    if path.name == "__init__.py":  # a package re-exporting its children
        found = {m for m in found if not m.startswith(module + ".")}
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_local_imports_and_skips_type_checking(tmp_path) -> None:
    modules = {"genrelab.a": tmp_path / "a.py", "genrelab.b": tmp_path / "b.py"}
    modules["genrelab.a"].write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from genrelab.b import B\n"
        "def f():\n    from . import b\n"
    )
    assert _imports("genrelab.a", modules["genrelab.a"], modules) == {"genrelab.b"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    assert len(graph) > 50 and graph["genrelab.training"]  # the walk found the package
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)
