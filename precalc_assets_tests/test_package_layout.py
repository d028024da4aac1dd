"""The package's layout rules: Dagster only under `dagster_defs/` (and `definitions.py`, which
assembles them), only Dagster's public API, no import cycles, and no reference to any
document outside the repository."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "precalc_assets"
REPO = PACKAGE.parent
MODULES = sorted(PACKAGE.rglob("*.py"))
# The modules that may import Dagster: the definitions and the glue the CLI uses.
DAGSTER_PARTS = ("dagster_defs/", "definitions.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) of every import statement, top-level or not."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def test_only_the_dagster_parts_import_dagster():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in MODULES
        if not str(path.relative_to(PACKAGE)).startswith(DAGSTER_PARTS)
        for name, line in imports_of(path)
        if name.split(".")[0] in ("dagster", "dagster_aws")
    ]
    assert offenders == []


def test_no_private_dagster_import():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in MODULES
        for name, line in imports_of(path)
        if name.startswith("dagster._") or name.startswith("dagster_aws._")
    ]
    assert offenders == []


def test_no_import_cycle_between_modules():
    names = {module_name(p): p for p in MODULES}
    graph = {
        name: {
            target
            for imported, _ in imports_of(path)
            for target in (imported, imported.rpartition(".")[0])
            if target in names and target != name
        }
        for name, path in names.items()
    }
    # A package's __init__ importing its own modules is how a package is assembled.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = trail[trail.index(target) :] if target in trail else trail
                pytest.fail(f"import cycle: {' -> '.join([*cycle, target])}")
            if target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_reference_to_documents_outside_the_repository():
    texts = [*MODULES, *REPO.glob("precalc_assets_tests/**/*.py"), *REPO.glob("*.md")]
    texts += [*REPO.glob("docs/**/*.md"), *REPO.glob("benchmarks/*")]
    offenders = [
        str(path.relative_to(REPO))
        for path in texts
        if path.is_file() and path != Path(__file__) and "DESIGN" in path.read_text()
    ]
    assert offenders == []
