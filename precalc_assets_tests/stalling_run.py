"""`precalc` with one step made to stall at a chosen point, for the kill tests.

    python -m precalc_assets_tests.stalling_run POINT MARKER precalc-args...

POINT is `prepare` (while a slice is canonicalised), `publish` (half of a slice's items
written) or `checks` (in the drift check). When the point is reached, the process writes
its pid to MARKER and sleeps, so the test can SIGKILL it there.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import precalc_assets.dagster_defs.checks as checks
import precalc_assets.steps.prepare as prepare
from precalc_assets.cli import main
from precalc_assets.stores.sqlite import SqliteServingTable


def stall(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    time.sleep(600)


def install(point: str, marker: Path) -> None:
    calls = {"n": 0}
    if point == "prepare":
        original = prepare.canonicalize_rows

        def canonicalize_rows(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:  # the second slice, the first one done
                stall(marker)
            return original(*args, **kwargs)

        prepare.canonicalize_rows = canonicalize_rows
    elif point == "publish":
        original_upsert = SqliteServingTable.upsert

        def upsert(self, items):
            items = list(items)
            calls["n"] += 1
            if calls["n"] == 2:  # a later publication, half written
                original_upsert(self, items[: len(items) // 2])
                stall(marker)
            return original_upsert(self, items)

        SqliteServingTable.upsert = upsert
    elif point == "checks":
        original_drift = checks.evaluate_drift

        def evaluate_drift(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                stall(marker)
            return original_drift(*args, **kwargs)

        checks.evaluate_drift = evaluate_drift
    else:
        raise SystemExit(f"unknown stall point {point!r}")


if __name__ == "__main__":
    install(sys.argv[1], Path(sys.argv[2]))
    args = sys.argv[3:]
    # The stall is patched into this process: `precalc run` must run here, not in workers.
    main([*args, "--workers", "1"] if args[:1] == ["run"] else args)
