"""The structure: imports between the project's modules point one way (no circle, imports inside functions counted).

The graph is read from the source with ``ast``, not by importing anything, so an import hidden inside a function
counts exactly like one at the top. A module importing ``pkg.sub`` from outside ``pkg`` also runs ``pkg/__init__.py``
first, so that edge is counted too: a circle through a package's face is a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("visualizer", "zoo")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _targets(node: ast.AST, importer: str, modules: dict[str, Path]) -> set[str]:
    """The project modules an import statement loads (``from a import b`` loads ``a``, and ``a.b`` if a module)."""
    names: set[str] = set()
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the importer's package
            base = importer.split(".")
            if not _is_package(importer, modules):
                base = base[:-1]
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        names = {source} | {f"{source}.{alias.name}" for alias in node.names}
    loaded = set()
    for name in names:
        parts = name.split(".")
        # the module itself, and every package face on the way to it
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in modules:
                loaded.add(prefix)
    return loaded


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        own_package = name if _is_package(name, modules) else name.rpartition(".")[0]
        for node in ast.walk(tree):  # top-level and inside functions alike
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, name, modules):
                # A package's own face is already running when its modules import each other's siblings.
                inside = own_package == target or own_package.startswith(target + ".")
                if target != name and not (inside and _is_package(target, modules)):
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a list of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_reader_sees_what_python_runs():
    # The graph reader itself: in-function imports count, package faces count, siblings do not loop via the face.
    graph = import_graph()
    assert "visualizer.records" in graph["visualizer.diagram.graph"]
    assert "visualizer.analysis" in graph["visualizer.diagram.cli"]  # a face: `from visualizer.analysis import …`
    assert "visualizer.analysis" not in graph["visualizer.analysis.collect"]  # a sibling inside the package
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(toy) == [["a", "b", "c"]]


def test_no_import_circles_in_the_project():
    found = circles(import_graph())
    assert not found, "import circles (A imports B … imports A): " + "; ".join(" ↔ ".join(c) for c in found)


def test_records_and_presentation_sit_below_views_and_ui():
    # Imports point one way: records ← presentation ← views ← ui; the core never imports the page.
    graph = import_graph()

    def reaches(start: str, target_prefix: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            v = todo.pop()
            if v.startswith(target_prefix):
                return True
            if v not in seen:
                seen.add(v)
                todo += graph[v]
        return False

    for low in ("visualizer.records", "visualizer.receptive_field", "visualizer.kinds", "visualizer.numbers"):
        for high in ("visualizer.report", "visualizer.diagram", "visualizer.views", "visualizer.ui"):
            assert not reaches(low, high), f"{low} imports {high}"
    entry_points = {"visualizer.app_cli", "visualizer.cli", "visualizer.__main__", "visualizer.show_page"}
    for core in graph:
        if not core.startswith("visualizer.ui") and core not in entry_points:
            assert not reaches(core, "visualizer.ui"), f"{core} imports the page"
    assert not reaches("visualizer.report", "visualizer.views")
    assert not reaches("visualizer.weight_sources", "visualizer.background")  # loading weights needs no trainer
