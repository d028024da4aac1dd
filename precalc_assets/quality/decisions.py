"""What the asset checks decide, as pure functions of one partition's data.

Each function takes the frames/counts of one model x slice and returns an `Outcome`:
passed or not, a severity, the score and threshold an alert quotes, and a markdown
table for the UI. `dagster_defs/checks.py` turns outcomes into Dagster check evaluations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from precalc_assets.models.schema import outside_bounds, unstorable
from precalc_assets.models.spec import REASON_COLUMN, ModelSpec, OutputColumn
from precalc_assets.models.tables import outputs_as_lists
from precalc_assets.quality.check_settings import ReproSettings, SanitySettings
from precalc_assets.quality.outcome import ERROR, WARN, Outcome, markdown_table


def completeness(library_rows: int, predicted: int, valid: int, quarantined: int) -> Outcome:
    """Every valid library row of the slice is predicted, and every prediction is either
    validated (to be published) or in the quarantine file: nothing vanished silently."""
    missing = (library_rows - predicted) + (predicted - valid - quarantined)
    passed = predicted == library_rows and valid + quarantined == predicted
    table = markdown_table(
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


# Rows of a vector column stacked at a time (a 1,000 x 2,048 float block is 16 MB).
VECTOR_CHUNK = 1000


def _whole_vectors(cells: Sequence[Any], length: int) -> bool:
    """Whether every cell is a numpy vector of `length` values (as `frames.to_frame`
    reads them), so the cells can be stacked into one matrix."""
    return all(isinstance(c, np.ndarray) and c.shape == (length,) for c in cells)


def _bad_vector_rows(values: pd.Series, column: OutputColumn) -> tuple[int, int]:
    """`_bad_rows` of a vector column: a chunk of whole vectors is judged as one matrix,
    any other chunk row by row (the same counts)."""
    low = -np.inf if column.min is None else column.min
    high = np.inf if column.max is None else column.max
    items = list(values)
    nulls = out = 0
    for start in range(0, len(items), VECTOR_CHUNK):
        part = items[start : start + VECTOR_CHUNK]
        if _whole_vectors(part, column.length or 0):
            block = np.array(part, dtype=float)
            nulls += int(np.isnan(block).any(axis=1).sum())
            out += int(((block < low) | (block > high)).any(axis=1).sum())
            continue
        cells = [None if v is None else np.asarray(v, dtype=float) for v in part]
        whole = [c is not None and c.shape == (column.length,) for c in cells]
        nulls += sum(not ok or bool(np.isnan(c).any()) for c, ok in zip(cells, whole, strict=True))
        out += sum(
            ok and bool(((c < low) | (c > high)).any()) for c, ok in zip(cells, whole, strict=True)
        )
    return nulls, out


def _bad_number_rows(
    frame: pd.DataFrame, columns: Sequence[OutputColumn]
) -> dict[str, tuple[int, int]]:
    """`_bad_rows` of every scalar number column already held as numbers, counted in one
    pass over them all (a wide model's 2,048 columns)."""
    dtypes = frame.dtypes
    counts = {}
    for dtype in ("int", "float"):
        held = [
            c for c in columns if not c.length and c.dtype == dtype and dtypes[c.name].kind in "iuf"
        ]
        if not held:
            continue
        numbers = frame[[c.name for c in held]].to_numpy(dtype=float, na_value=np.nan)
        nulls = np.isnan(numbers).sum(axis=0)
        bad = outside_bounds(numbers, held)
        if dtype == "float":  # an integer is always within the serving range
            bad |= unstorable(numbers)
        out = bad.sum(axis=0)
        counts |= {c.name: (int(n), int(o)) for c, n, o in zip(held, nulls, out, strict=True)}
    return counts


def _bad_rows(values: pd.Series, column: OutputColumn) -> tuple[int, int]:
    """(null or NaN, out of the declared range) row counts."""
    if column.length:
        return _bad_vector_rows(values, column)
    if column.dtype in ("str", "bool"):
        return int(values.isna().sum()), 0
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    nulls = int(np.isnan(numbers).sum())
    # Beyond the serving table's number range: as bad as beyond the declared one.
    out = unstorable(numbers)
    if column.min is not None:
        out |= numbers < column.min
    if column.max is not None:
        out |= numbers > column.max
    return nulls, int(out.sum())


def output_sanity(frame: pd.DataFrame, spec: ModelSpec, settings: SanitySettings) -> Outcome:
    """Per output column, the share of rows that are bad (null or NaN where the column is
    not nullable, or out of range) and, for a nullable column, its null share (a hub
    model's "could not compute"); rows the model failed on count as bad as a whole."""
    rows = len(frame)
    marked = frame[REASON_COLUMN].notna() if REASON_COLUMN in frame.columns else None
    failed = int(marked.sum()) if marked is not None else 0
    answered = frame[~marked] if marked is not None else frame
    table_rows, worst_bad, worst_null = [], failed / rows if rows else 0.0, 0.0
    counted = _bad_number_rows(answered, spec.columns)
    for column in spec.columns:
        nulls, out = counted.get(column.name) or _bad_rows(answered[column.name], column)
        bad = (0 if column.nullable else nulls) + out
        bad_share = bad / rows if rows else 0.0
        null_share = nulls / len(answered) if len(answered) and column.nullable else 0.0
        worst_bad, worst_null = max(worst_bad, bad_share), max(worst_null, null_share)
        low, high = ("" if b is None else b for b in (column.min, column.max))
        table_rows.append(
            [
                column.name,
                f"{nulls:,}" + ("" if column.nullable else " (not nullable)"),
                f"{null_share:.4f}" if column.nullable else "",
                f"{out:,}",
                f"[{low}, {high}]",
                f"{bad_share:.4f}",
            ]
        )
    if failed:
        share = f"{failed / rows:.4f}"
        table_rows.append(["(rows the model failed on)", f"{failed:,}", "", "", "", share])
    errors = worst_bad > settings.error_share or worst_null > settings.null_error_share
    passed = worst_bad <= settings.warn_share and worst_null <= settings.null_warn_share
    nulls_fail = worst_null > settings.null_warn_share and worst_bad <= settings.warn_share
    score, threshold = (
        (worst_null, settings.null_warn_share) if nulls_fail else (worst_bad, settings.warn_share)
    )
    table = markdown_table(
        ["column", "null/NaN", "null share", "out of range", "declared range", "bad share"],
        table_rows,
    )
    failures = f"; the model failed on {failed:,} row(s)" if failed else ""
    description = (
        f"worst column bad share {worst_bad:.4f} <= {settings.warn_share}, null share "
        f"{worst_null:.4f} <= {settings.null_warn_share}"
        if passed
        else f"worst column bad share {worst_bad:.4f} (WARN above {settings.warn_share}, ERROR "
        f"above {settings.error_share}), null share {worst_null:.4f} (WARN above "
        f"{settings.null_warn_share}, ERROR above {settings.null_error_share}){failures}; bad "
        "rows are quarantined, see rejected/predictions/"
    )
    return Outcome(
        passed,
        ERROR if errors else WARN,
        score,
        threshold,
        description,
        table,
        {"rows": rows, "model_failed": failed},
    )


def _by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop_duplicates("inchikey").set_index("inchikey")


def _values_match(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str | bool) or isinstance(b, str | bool):
        return a == b
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _matching(
    before: np.ndarray, after: np.ndarray, column: OutputColumn, rtol: float, atol: float
) -> np.ndarray:
    """Per row, `_values_match` of the two columns' values, as whole arrays where the
    values allow it: numbers (and bools) at once, whole vectors a chunk at a time."""
    if before.dtype.kind in "biuf" and after.dtype.kind in "biuf":
        return np.isclose(
            before.astype(float), after.astype(float), rtol=rtol, atol=atol, equal_nan=True
        )
    matches = np.zeros(len(before), dtype=bool)
    for start in range(0, len(before), VECTOR_CHUNK):
        a, b = before[start : start + VECTOR_CHUNK], after[start : start + VECTOR_CHUNK]
        if column.length and _whole_vectors(a, column.length) and _whole_vectors(b, column.length):
            left, right = np.array(list(a)), np.array(list(b))
            if left.dtype.kind in "biu" and right.dtype.kind in "biu":
                same = bool(np.array_equal(left, right))
            else:
                same = bool(np.array_equal(left, right, equal_nan=True))
            if same:  # equal values are close (a re-run of a deterministic model)
                matches[start : start + len(a)] = True
                continue
            close = np.isclose(
                left.astype(float), right.astype(float), rtol=rtol, atol=atol, equal_nan=True
            )
            matches[start : start + len(a)] = close.all(axis=1)
        else:
            matches[start : start + len(a)] = [
                _values_match(x, y, rtol, atol) for x, y in zip(a, b, strict=True)
            ]
    return matches


def compare_outputs(
    before: pd.DataFrame, after: pd.DataFrame, spec: ModelSpec, rtol: float, atol: float
) -> tuple[int, dict[str, int], list[str]]:
    """(keys compared, differing rows per column, example differing keys), by InChIKey."""
    left, right = _by_key(before), _by_key(after)
    keys = left.index.intersection(right.index)
    differing: dict[str, int] = {}
    examples: list[str] = []
    for column in spec.columns:
        matches = _matching(
            left.loc[keys, column.name].to_numpy(),
            right.loc[keys, column.name].to_numpy(),
            column,
            rtol,
            atol,
        )
        bad = list(keys[~matches])
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
    table = markdown_table(
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
    expected = dict(zip(validated["inchikey"], outputs_as_lists(validated, spec), strict=True))
    missing = [k for k in expected if k not in served]
    wrong = [
        k for k in expected if k in served and not _values_match(expected[k], served[k], rtol, 0.0)
    ]
    bad = len(missing) + len(wrong)
    table = markdown_table(
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
