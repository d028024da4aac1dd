"""Where a benchmark's result goes: printed as JSON, and kept under `benchmarks/out/`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def write_result(stem: str, result: dict[str, Any]) -> Path:
    """Print `result` and write it to `out/<stem>-<UTC time>.json`; return that path."""
    text = json.dumps(result, indent=2)
    print(text)
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{stem}-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(text)
    return path
