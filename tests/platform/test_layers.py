"""Imports point down: every import of a pdvault module, at the top of a file or inside a
function, goes to its own layer or one below (CONTRIBUTING.md, "Layers"), and no two units
import each other, directly or round a longer circle.

A unit is a top-level module or package of ``pdvault``, except three kinds of module that
sit apart from their package: every ``models.py`` (the tables), every router (``router.py``,
``*_router.py``) and every ``ops.py`` (command-line steps).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Bottom to top: a unit may import its own layer and those before it, never one after it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pdvault", "errors", "observability"),
    ("db", "pagination"),
    ("config", "config_reference"),
    ("crypto", "policy", "openapi_docs", "middleware", "docs_pages"),
    ("tables",),
    ("upgrades", "migrate", "auth"),
    ("audit",),
    ("runtime", "jobs"),
    ("deps", "idempotency"),
    (
        "notifications",
        "principals",
        "partners",
        "governance",
        "customers",
        "subjects",
        "erasure",
        "documents",
        "judicial",
        "keys",
        "public",
    ),
    ("export", "console"),
    ("routers",),
    ("commands",),
    ("models", "main"),
    ("cli",),
    ("__main__",),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((SRC / "pdvault").rglob("*.py"))}


def unit_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2:
        if parts[-1].endswith("router"):
            return "routers"
        if parts[-1] == "models":
            return "tables"
        if parts[-1] == "ops":
            return "commands"
    return parts[1] if len(parts) > 1 else parts[0]


def imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every pdvault module ``module`` imports, wherever in the file the import stands."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                stem = package[: len(package) - node.level + 1]
                base = ".".join([*stem, base] if base else stem)
            if base not in known:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def _edges() -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the imports that make the edge, as 'module -> module'."""
    known = _modules()
    edges: dict[str, dict[str, set[str]]] = {}
    for module, path in known.items():
        source = unit_of(module)
        for target in imported(module, path, known):
            if unit_of(target) != source:
                edges.setdefault(source, {}).setdefault(unit_of(target), set()).add(
                    f"{module} -> {target}"
                )
    return edges


def _layer() -> dict[str, int]:
    return {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _circles(edges: dict[str, dict[str, set[str]]]) -> list[set[str]]:
    """The strongly connected sets of more than one unit (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for target in edges.get(unit, {}):
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            members: set[str] = set()
            while True:
                member = stack.pop()
                members.add(member)
                if member == unit:
                    break
            if len(members) > 1:
                found.append(members)

    for unit in sorted(edges):
        if unit not in index:
            visit(unit)
    return found


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module) for module in _modules()}
    layer = _layer()
    assert units - set(layer) == set(), "add the new module or package to LAYERS"
    assert set(layer) - units == set(), "LAYERS names a unit that no longer exists"
    assert len(layer) == sum(len(units) for units in LAYERS), "a unit is in two layers"


def test_imports_point_down() -> None:
    layer = _layer()
    upward = sorted(
        how
        for source, targets in _edges().items()
        for target, hows in targets.items()
        if layer[target] > layer[source]
        for how in hows
    )
    assert upward == [], "imports of a higher layer (CONTRIBUTING.md, Layers)"


def test_no_circle_between_units() -> None:
    circles = [sorted(circle) for circle in _circles(_edges())]
    assert circles == [], "units that import one another round a circle"


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def late():\n    from pdvault.audit.slots import SLOT_KEY\n")
    known = {"pdvault.audit.slots": sample, "pdvault.audit": sample}
    assert list(imported("pdvault.db", sample, known)) == ["pdvault.audit.slots"]
