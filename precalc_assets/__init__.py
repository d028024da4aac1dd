"""precalc_assets: precalculated model predictions over a molecule library, on Dagster.

`defs` is resolved on first use: the plain modules (chem, inputs, steps, stores, ...)
import no Dagster, so a tool that needs only them (a lookup, a benchmark) does not pay
for loading every asset. Dagster's module loader (`-m precalc_assets`) finds `defs`
through `dir()` like any module attribute.
"""

from __future__ import annotations

import warnings

# Multi-partition backfill policies are what keeps backfills cheap; Dagster still
# flags the parameter as beta at every load, which would drown the CLI's output.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`")

__all__ = ["defs"]


def __getattr__(name: str):
    if name == "defs":
        # Imported here, not at the top: Dagster and every asset are heavy, and only
        # Dagster's tools ask for `defs`.
        from precalc_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'precalc_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
