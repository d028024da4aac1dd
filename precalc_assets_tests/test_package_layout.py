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
DAGSTER_PARTS = ("dagster_defs/", "orchestration/", "definitions.py")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
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


# The package's layers, lowest first (docs/architecture.md): a module imports only from its
# own layer or the layers below it, so the way of the data never steps back up.
LAYERS = (
    ("ids", "keys", "layout", "chem", "batches", "processes"),
    ("stores",),
    ("models",),
    ("settings", "deployment"),
    ("quality",),
    ("inputs",),
    ("steps",),
    ("ledger",),
    ("alerts",),
    ("serving",),
    ("lake",),
    ("orchestration",),
    ("dagster_defs", "definitions"),
    ("cli", "__init__"),
)
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """The top-level package or module of `precalc_assets.<part>...`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(paths: list[Path], root: Path = REPO) -> list[str]:
    """Each import of a higher layer, as `<file>:<line> (<part>) imports <module>`."""
    found = []
    for path in paths:
        own = part_of(module_name(path, root))
        for imported, line in imports_of(path):
            if not imported.startswith("precalc_assets."):
                continue
            target = part_of(imported)
            if target in LAYER_OF and LAYER_OF[target] > LAYER_OF[own]:
                where = path.relative_to(root / PACKAGE.name)
                found.append(f"{where}:{line} ({own}) imports {imported}")
    return found


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(module_name(path)) for path in MODULES}
    assert parts - set(LAYER_OF) == set()


def test_each_layer_imports_only_from_itself_and_the_layers_below():
    assert upward_imports(MODULES) == []


def test_an_import_from_a_higher_layer_is_caught(tmp_path):
    """The check itself: a models module importing quality (the loop of issue 20)."""
    module = tmp_path / PACKAGE.name / "models" / "catalog.py"
    module.parent.mkdir(parents=True)
    module.write_text("from precalc_assets.quality.outcome import WARN\n")
    assert upward_imports([module], tmp_path) == [
        "models/catalog.py:1 (models) imports precalc_assets.quality.outcome",
        "models/catalog.py:1 (models) imports precalc_assets.quality.outcome.WARN",
    ]
