"""A module that leaves a mark when it is imported: the trust-boundary tests check
that a request file in storage naming it never gets it imported."""

from __future__ import annotations

import os
from pathlib import Path

MARKER_ENV = "PRECALC_TEST_IMPORT_MARKER"

if os.environ.get(MARKER_ENV):
    Path(os.environ[MARKER_ENV]).write_text("imported")


def score(smiles: list[str]) -> dict[str, list[float]]:
    return {"score": [1.0] * len(smiles)}
