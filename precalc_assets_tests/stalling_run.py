"""`precalc` with one step made to stall at a chosen point, for the kill tests.

    python -m precalc_assets_tests.stalling_run POINT MARKER precalc-args...

POINT is `prepare` (while a slice is canonicalised), `publish` (half of a slice's items
written) or `checks` (in the drift check). When the point is reached, the process writes
its pid to MARKER and sleeps, so the test can SIGKILL it there.

`precalc run` runs in this process (`--workers 1`) unless `--workers` is given; its
worker processes then import this module as `__mp_main__` (spawn) and stall the same
way, this process does not, and only the first worker process to reach the point stalls
(it creates MARKER), so the test can kill that one worker while the others go on.
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
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # another process stalled there first
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
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


if __name__ == "__mp_main__":  # a worker process of `precalc run --workers N`
    install(sys.argv[1], Path(sys.argv[2]))

if __name__ == "__main__":
    args = sys.argv[3:]
    in_this_process = args[:1] != ["run"] or "--workers" not in args
    if in_this_process:
        install(sys.argv[1], Path(sys.argv[2]))
    main([*args, "--workers", "1"] if args[:1] == ["run"] and in_this_process else args)
