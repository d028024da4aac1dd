"""precalc_assets: precalculated model predictions over a molecule library, on Dagster.

`defs` is resolved lazily so that the pure modules (chem, library, ids, schemas, ...)
and the `precalc` CLI do not pay for loading every asset; Dagster's module loader
(`-m precalc_assets`) finds it through `dir()` like any module attribute.
"""

from __future__ import annotations

import warnings

# Multi-partition backfill policies are what keeps backfills cheap; Dagster still
# flags the parameter as beta at every load, which would drown the CLI's output.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`")

__all__ = ["defs"]


def __getattr__(name: str):
    if name == "defs":
        from precalc_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'precalc_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
