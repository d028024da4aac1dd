"""What the asset checks decide, as pure functions of one partition's data (no Dagster).

Each function takes the frames/counts of one model x slice and returns an `Outcome`:
passed or not, a severity, the score and threshold an alert quotes, and a markdown
table for the UI. `checks.py` turns outcomes into Dagster check evaluations.

Per-model settings live in the model request's `"checks"` object, e.g.
`{"sanity": {"warn_share": 0.0, "error_share": 0.05}, "reproducibility": {"rtol": 1e-6},
"readback": {"sample": 100}, "drift": {"warn_share": 0.25, "baseline_slice": "lib-0000"}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from precalc_assets.drift import DriftPolicy
from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn

PASS, WARN, ERROR = "PASS", "WARN", "ERROR"
SECTIONS = ("sanity", "reproducibility", "readback", "drift")


@dataclass(frozen=True)
class Outcome:
    passed: bool
    severity: str  # WARN or ERROR: what a failure means (kept when it passes, for the UI)
    score: float
    threshold: float
    description: str
    table: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SanitySettings:
    """Share of a column's rows that are null/NaN (where not nullable) or out of range."""

    warn_share: float = 0.0
    error_share: float = 0.05


@dataclass(frozen=True)
class ReproSettings:
    rtol: float = 1e-6
    atol: float = 1e-9
    severity: str = ERROR


@dataclass(frozen=True)
class ReadbackSettings:
    sample: int = 100
    rtol: float = 1e-6


@dataclass(frozen=True)
class CheckSettings:
    sanity: SanitySettings = SanitySettings()
    reproducibility: ReproSettings = ReproSettings()
    readback: ReadbackSettings = ReadbackSettings()
    drift: DriftPolicy = DriftPolicy()
    baseline_slice: str | None = None


def _section(cls: type, raw: Any, name: str, source: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        raise ModelError(f"{source}: checks.{name} must be an object, got {raw!r}")
    defaults = cls()
    unknown = set(raw) - set(defaults.__dataclass_fields__)
    if unknown:
        raise ModelError(
            f"{source}: checks.{name} has unknown keys {sorted(unknown)}; "
            f"known: {sorted(defaults.__dataclass_fields__)}"
        )
    values = {}
    for key, value in raw.items():
        default = getattr(defaults, key)
        if isinstance(default, str):
            if value not in (WARN, ERROR):
                raise ModelError(f"{source}: checks.{name}.{key} must be WARN or ERROR")
        elif not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ModelError(
                f"{source}: checks.{name}.{key} must be a non-negative number, got {value!r}"
            )
        values[key] = type(default)(value)
    return cls(**values)


def check_settings(spec: ModelSpec, source: str = "") -> CheckSettings:
    """The model's check settings; a bad value is a `ModelError` naming model and key."""
    source = source or f"model {spec.model_id!r}"
    raw = spec.checks or {}
    if not isinstance(raw, Mapping):
        raise ModelError(f"{source}: 'checks' must be an object, got {raw!r}")
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise ModelError(
            f"{source}: 'checks' has unknown sections {sorted(unknown)}; use {list(SECTIONS)}"
        )
    drift = dict(raw.get("drift") or {})
    baseline = drift.pop("baseline_slice", None)
    if baseline is not None and not isinstance(baseline, str):
        raise ModelError(f"{source}: checks.drift.baseline_slice must be a slice key")
    try:
        policy = DriftPolicy.from_dict(drift, f"{source}: checks.drift")
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    return CheckSettings(
        sanity=_section(SanitySettings, raw.get("sanity"), "sanity", source),
        reproducibility=_section(
            ReproSettings, raw.get("reproducibility"), "reproducibility", source
        ),
        readback=_section(ReadbackSettings, raw.get("readback"), "readback", source),
        drift=policy,
        baseline_slice=baseline,
    )


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def completeness(library_rows: int, predicted: int, valid: int, quarantined: int) -> Outcome:
    """Every valid library row of the slice is predicted, and every prediction is either
    validated (to be published) or in the quarantine file: nothing vanished silently."""
    missing = (library_rows - predicted) + (predicted - valid - quarantined)
    passed = predicted == library_rows and valid + quarantined == predicted
    table = _table(
        ["stage", "rows"],
        [
            ["valid library rows", f"{library_rows:,}"],
            ["predicted", f"{predicted:,}"],
            ["validated", f"{valid:,}"],
            ["quarantined (in rejected/predictions/)", f"{quarantined:,}"],
            ["unaccounted for", f"{missing:,}"],
        ],
    )
    description = (
        "every valid library row is validated or quarantined"
        if passed
        else f"{missing} row(s) of the slice are neither validated nor quarantined; "
        "re-run the partition (publication is blocked until then)"
    )
    return Outcome(
        passed, ERROR, float(abs(missing)), 0.0, description, table,
        {"library_rows": library_rows, "predicted": predicted, "validated": valid,
         "quarantined": quarantined},
    )  # fmt: skip


def _bad_rows(values: pd.Series, column: OutputColumn) -> tuple[int, int]:
    """(null or NaN where not allowed, out of the declared range) row counts."""
    if column.length:
        cells = [None if v is None else np.asarray(v, dtype=float) for v in values]
        whole = [c is not None and c.shape == (column.length,) for c in cells]
        nulls = sum(not ok or bool(np.isnan(c).any()) for c, ok in zip(cells, whole, strict=True))
        low = -np.inf if column.min is None else column.min
        high = np.inf if column.max is None else column.max
        out = sum(
            ok and bool(((c < low) | (c > high)).any()) for c, ok in zip(cells, whole, strict=True)
        )
        return (0 if column.nullable else nulls), out
    if column.dtype in ("str", "bool"):
        return (0 if column.nullable else int(values.isna().sum())), 0
    numbers = pd.to_numeric(values, errors="coerce")
    nulls = 0 if column.nullable else int(numbers.isna().sum())
    out = 0
    if column.min is not None:
        out += int((numbers < column.min).sum())
    if column.max is not None:
        out += int((numbers > column.max).sum())
    return nulls, out


def output_sanity(frame: pd.DataFrame, spec: ModelSpec, settings: SanitySettings) -> Outcome:
    """Per output column, the share of rows with a forbidden null/NaN or out of range."""
    rows = len(frame)
    table_rows, worst = [], 0.0
    for column in spec.columns:
        nulls, out = _bad_rows(frame[column.name], column)
        share = (nulls + out) / rows if rows else 0.0
        worst = max(worst, share)
        low, high = ("" if b is None else b for b in (column.min, column.max))
        bounds = f"[{low}, {high}]"
        table_rows.append([column.name, f"{nulls:,}", f"{out:,}", bounds, f"{share:.4f}"])
    severity = ERROR if worst > settings.error_share else WARN
    passed = worst <= settings.warn_share
    table = _table(
        ["column", "null/NaN", "out of range", "declared range", "bad share"], table_rows
    )
    description = (
        f"worst column bad share {worst:.4f} <= {settings.warn_share}"
        if passed
        else f"worst column bad share {worst:.4f} > {settings.warn_share} (ERROR above "
        f"{settings.error_share}); bad rows are quarantined, see rejected/predictions/"
    )
    return Outcome(passed, severity, worst, settings.warn_share, description, table, {"rows": rows})


def _by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop_duplicates("inchikey").set_index("inchikey")


def _values_match(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str | bool) or isinstance(b, str | bool):
        return a == b
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def compare_outputs(
    before: pd.DataFrame, after: pd.DataFrame, spec: ModelSpec, rtol: float, atol: float
) -> tuple[int, dict[str, int], list[str]]:
    """(keys compared, differing rows per column, example differing keys), by InChIKey."""
    left, right = _by_key(before), _by_key(after)
    keys = left.index.intersection(right.index)
    differing: dict[str, int] = {}
    examples: list[str] = []
    for column in spec.columns:
        bad = [
            k
            for k, a, b in zip(
                keys, left.loc[keys, column.name], right.loc[keys, column.name], strict=True
            )
            if not _values_match(a, b, rtol, atol)
        ]
        differing[column.name] = len(bad)
        examples += [k for k in bad[:3] if k not in examples]
    return len(keys), differing, examples[:3]


def reproducibility(
    previous: pd.DataFrame, current: pd.DataFrame, spec: ModelSpec, settings: ReproSettings
) -> Outcome:
    """A re-materialisation under the same code version gives the same predictions."""
    compared, differing, examples = compare_outputs(
        previous, current, spec, settings.rtol, settings.atol
    )
    rows = max(differing.values(), default=0)
    share = rows / compared if compared else 0.0
    table = _table(
        ["column", "rows compared", "rows differing"],
        [[name, f"{compared:,}", f"{n:,}"] for name, n in differing.items()],
    )
    description = (
        f"{compared:,} predictions equal the previous run's (rtol {settings.rtol})"
        if rows == 0
        else f"{rows:,} of {compared:,} predictions differ from the previous materialisation "
        f"under the same code version (e.g. {examples}): the model is not deterministic"
    )
    return Outcome(rows == 0, settings.severity, share, 0.0, description, table,
                   {"compared": compared})  # fmt: skip


def serving_readback(
    validated: pd.DataFrame, served: Mapping[str, list], spec: ModelSpec, rtol: float
) -> Outcome:
    """Items read back from the serving table hold the validated values, in order."""
    from precalc_assets.tables import outputs_as_lists

    expected = dict(zip(validated["inchikey"], outputs_as_lists(validated, spec), strict=True))
    missing = [k for k in expected if k not in served]
    wrong = [
        k for k in expected if k in served and not _values_match(expected[k], served[k], rtol, 0.0)
    ]
    bad = len(missing) + len(wrong)
    table = _table(
        ["sampled", "found", "missing", "values differ"],
        [[len(expected), len(expected) - len(missing), len(missing), len(wrong)]],
    )
    description = (
        f"{len(expected)} sampled items match the validated values"
        if bad == 0
        else f"{bad} of {len(expected)} sampled items are missing or differ "
        f"(e.g. {(missing + wrong)[:3]}); re-publish the partition"
    )
    return Outcome(bad == 0, ERROR, bad / len(expected) if expected else 0.0, 0.0, description,
                   table, {"sampled": len(expected)})  # fmt: skip
