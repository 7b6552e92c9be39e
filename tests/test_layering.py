"""The package's layering, checked on the source (every import, also inside functions; type-checking-only imports
excepted, they never run): a module imports only
from its own layer or below, the top-level packages import each other without cycles, every top-level module is
placed, and the toy-world generator is used by the CLI (and tests) only.

cli -> reproduce -> facade -> leaderboard/compare/export -> tasks -> training/engine/cache -> adapters/models ->
geometry/metrics/data -> results (reproduce above the facade: it runs evaluations through it)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "msxr_bench"
LAYERS: dict[str, int] = {
    # results: records and their reading/writing, no model code
    "results": 0, "hashing": 0, "run_manifest": 0, "table": 0,
    # data, geometry, metrics (and the toy world beside data)
    "geometry": 1, "metrics": 1, "data": 1, "toyworld": 1, "viz": 1, "published": 1,
    # models and their adapters
    "models": 2, "adapters": 2,
    # running models: engine, caches, single-image inference, training
    "engine": 3, "cache": 3, "inference": 3, "training": 3, "remote": 3,
    "tasks": 4,
    "leaderboard": 5, "compare": 5, "learning": 5, "export": 5,
    "preflight": 6, "evaluation": 6,
    # reproduce runs whole evaluations through the facade (one definition of a run), so it sits above it
    "reproduce": 7,
    "cli": 8, "__main__": 8, "__init__": 8,
}
TOYWORLD_USERS = {"cli", "toyworld"}


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "msxr_bench" and len(parts) > 1 else None


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:`."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            guarded = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            if not guarded:
                todo.append(child)


def _imports() -> list[tuple[str, str, str]]:
    """(importing file, its top-level package, imported top-level package) for every msxr_bench import."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        here = rel.parts[0].removesuffix(".py")
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "msxr_bench"
                                         else [])
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                top = _top(name)
                if top is not None and top != here:
                    out.append((str(rel), here, top))
    return out


def test_every_top_level_module_is_placed() -> None:
    tops = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert tops <= set(LAYERS), f"place these in LAYERS: {sorted(tops - set(LAYERS))}"


def test_imports_go_down_or_sideways_only() -> None:
    upward = [f"{f}: {here} ({LAYERS[here]}) imports {top} ({LAYERS[top]})" for f, here, top in _imports()
              if LAYERS[top] > LAYERS[here]]
    assert not upward, "\n".join(upward)


def test_no_cycles_between_top_level_packages() -> None:
    edges: dict[str, set[str]] = {}
    for _, here, top in _imports():
        edges.setdefault(here, set()).add(top)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(p for p in edges if p in reach(p))
    assert not cycles, f"packages on an import cycle: {cycles} ({ {p: sorted(edges[p]) for p in cycles} })"


def test_toyworld_is_used_by_the_cli_only() -> None:
    users = {here for _, here, top in _imports() if top == "toyworld"}
    assert users <= TOYWORLD_USERS, users
