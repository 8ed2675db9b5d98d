"""Imports run one way: ``server → schema → resolvers → subscriptions → cache``.

The import graph of ``src/fullon_cache_api`` is read with ``ast`` (runtime imports only:
those under ``if TYPE_CHECKING:`` do not run). No module may import a layer above its own,
the shared root modules (settings, errors, ...) import only the data layer, the client
imports no server-side package, the server never imports the simulator (the only code that
writes to Redis), and there is no cycle between packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fullon_cache_api

PACKAGE = Path(fullon_cache_api.__file__).parent
LAYERS = {"cache": 1, "subscriptions": 2, "resolvers": 3, "schema": 4, "server": 5}
SHARED = {"settings", "errors", "auth", "context", "cooperative", "version"}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> set[str]:
    """``fullon_cache_api.*`` modules ``path`` imports when it runs."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name.startswith("fullon_cache_api")}


def _graph() -> dict[str, set[str]]:
    modules = {_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {
            target for target in _runtime_imports(path) if target in modules and target != name
        }
    return graph


def _part(module: str) -> str:
    """The top-level part of the package a module belongs to (``server``, ``settings``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_run_one_way() -> None:
    wrong = []
    for module, targets in _graph().items():
        own = _part(module)
        for target in targets:
            other = _part(target)
            if own in LAYERS and other in LAYERS and LAYERS[other] > LAYERS[own]:
                wrong.append(f"{module} imports {target} (a layer above)")
            if own in SHARED and other in LAYERS and other != "cache":
                wrong.append(f"{module} (shared) imports {target}")
            if own == "client" and other in LAYERS:
                wrong.append(f"{module} (client) imports {target}")
            if own in LAYERS and other == "simulator":
                wrong.append(f"{module} imports the simulator")
    assert wrong == []


def test_no_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        for target in targets:
            if _part(module) != _part(target):
                edges.setdefault(_part(module), set()).add(_part(target))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    cycles = sorted(part for part in edges if reaches(part, part, set()))
    assert cycles == [], {part: sorted(edges[part]) for part in cycles}


def test_the_graph_is_read() -> None:
    """The walk sees real imports (so the checks above cannot pass on an empty graph)."""
    graph = _graph()
    assert "fullon_cache_api.subscriptions.stream" in graph["fullon_cache_api.server.delivery"]
    assert "fullon_cache_api.resolvers.fields" in graph["fullon_cache_api.schema.roots"]
