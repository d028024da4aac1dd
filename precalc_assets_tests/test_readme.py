"""The README's table of bad input and faults names a test for every row: each exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "precalc_assets_tests"


def test_every_row_of_the_faults_table_names_a_test_that_exists():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Bad input and faults") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "::" in line]
    assert len(rows) >= 30
    for row in rows:
        refs = re.findall(r"`([a-z0-9_/]+\.py)::([a-z0-9_]+)`", row)
        assert refs, row
        for path, name in refs:
            tree = ast.parse((TESTS / path).read_text())
            names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            assert name in names, f"{path}::{name} (README row: {row[:60]})"
