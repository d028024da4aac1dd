"""`measure_drift`: a slice's predictions against its baseline's, feature by feature."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path

import pandas as pd

from precalc_assets.models.spec import OutputColumn
from precalc_assets.quality.drift.distances import feature_scores
from precalc_assets.quality.drift.evidently_report import ReportWriter
from precalc_assets.quality.drift.features import (
    drift_features,
    feature_sources,
    select_vector_dims,
)
from precalc_assets.quality.drift.policy import DriftPolicy, feature_threshold, severity_for
from precalc_assets.quality.drift.verdicts import DriftResult, FeatureDrift
from precalc_assets.quality.outcome import PASS

# The rows of a side are shuffled with this seed when `sample_rows` caps them, so a re-run
# of the check gives the same verdict.
SAMPLE_SEED = 0
# When `measure_drift` writes the HTML report it is given a path for.
REPORT_WHEN = ("always", "failing")


def measure_drift(
    columns: Sequence[OutputColumn],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    policy: DriftPolicy,
    html_path: str | Path | None = None,
    html_when: str = "always",
    reports: ReportWriter | None = None,
) -> DriftResult:
    """Compare a slice's predictions (current) with the baseline slice's (reference).

    Each feature with values on both sides is scored as Evidently's `ValueDrift` scores
    it (`feature_scores`); a feature with no values on a side is decided here, because
    Evidently raises on an empty column. The Evidently HTML report (`ValueDrift` per
    feature) is written to `html_path` when given: always, or with `html_when="failing"`
    only when the slice WARNs or ERRORs, by `reports` when given (one process for many
    reports). The verdict is the same whether or not it is.
    """
    _check_arguments(reference, current, html_when)
    reference = _sample(reference, policy.sample_rows)
    current = _sample(current, policy.sample_rows)
    if min(len(current), len(reference)) < policy.min_rows:  # a PASS
        return _too_few_rows(
            reference, current, policy, html_path if html_when == "always" else None
        )
    dims = select_vector_dims(columns, reference, policy)
    ref_features, kinds = drift_features(columns, reference, policy, dims)
    cur_features, _ = drift_features(columns, current, policy, dims)
    thresholds = _thresholds(policy, kinds, ref_features, cur_features)
    unscored = _unscored(kinds, ref_features, cur_features)
    to_measure = [name for name in kinds if name not in unscored]
    scores = feature_scores(to_measure, kinds, ref_features, cur_features, thresholds)
    sources = feature_sources(columns, dims)
    features = [
        _verdict(name, sources[name], kind, thresholds[name], scores, unscored)
        for name, kind in kinds.items()
    ]
    share = sum(f.drifted for f in features) / len(features) if features else 0.0
    result = DriftResult(
        features=tuple(features),
        drifted_share=share,
        severity=severity_for(share, policy),
        reference_rows=len(reference),
        current_rows=len(current),
        policy=policy,
    )
    if html_path is not None and (html_when == "always" or result.severity != PASS):
        with nullcontext(reports) if reports is not None else ReportWriter() as writer:
            writer.write(to_measure, kinds, ref_features, cur_features, thresholds, html_path)
    return result


def _check_arguments(reference: pd.DataFrame, current: pd.DataFrame, html_when: str) -> None:
    """A ValueError that says what to do, before any work."""
    if html_when not in REPORT_WHEN:
        raise ValueError(f"html_when is {html_when!r}; use one of {', '.join(REPORT_WHEN)}")
    if len(reference) == 0 or len(current) == 0:
        side = "reference (baseline)" if len(reference) == 0 else "current"
        raise ValueError(
            f"the {side} predictions have no rows; drift needs rows on both sides "
            "(materialize the baseline slice's validated predictions, or skip empty slices)"
        )


def _sample(frame: pd.DataFrame, rows: int | None) -> pd.DataFrame:
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=SAMPLE_SEED)


def _thresholds(
    policy: DriftPolicy,
    kinds: Mapping[str, str],
    reference: pd.DataFrame,
    current: pd.DataFrame,
) -> dict[str, tuple[str, float]]:
    """{feature: (method, threshold)}, each from the feature's own row counts (nulls are
    dropped per feature, so one sparse output does not widen the others' thresholds)."""
    in_current, in_reference = current.notna().sum(), reference.notna().sum()
    return {
        name: feature_threshold(policy, kind, int(in_current[name]), int(in_reference[name]))
        for name, kind in kinds.items()
    }


def _unscored(
    kinds: Mapping[str, str], reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, tuple[str, bool]]:
    """{feature: (note, drifted)} of the features with no values on a side, which
    Evidently cannot score: null on both sides is no evidence of drift; values appearing
    or disappearing entirely is the largest drift there is."""
    unscored: dict[str, tuple[str, bool]] = {}
    any_in_reference, any_in_current = reference.notna().any(), current.notna().any()
    for name in kinds:
        in_ref, in_cur = bool(any_in_reference[name]), bool(any_in_current[name])
        if not (in_ref and in_cur):
            unscored[name] = (
                "no values on either side"
                if not (in_ref or in_cur)
                else ("no values in current" if in_ref else "no values in reference"),
                in_ref or in_cur,
            )
    return unscored


def _verdict(
    name: str,
    column: str,
    kind: str,
    threshold: tuple[str, float],
    scores: Mapping[str, tuple[float, bool]],
    unscored: Mapping[str, tuple[str, bool]],
) -> FeatureDrift:
    """One feature's verdict: its score, or why it has none."""
    method, value = threshold
    if name in unscored:
        note, drifted = unscored[name]
        return FeatureDrift(name, column, kind, method, value, None, drifted, note)
    score, drifted = scores[name]
    return FeatureDrift(name, column, kind, method, value, score, drifted, "")


def _too_few_rows(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    policy: DriftPolicy,
    html_path: str | Path | None,
) -> DriftResult:
    """PASS without a verdict: a side has fewer than `policy.min_rows` rows."""
    if len(current) < policy.min_rows:
        note = (
            f"too few rows ({len(current):,}) to judge drift; at least {policy.min_rows:,} needed"
        )
    else:
        note = (
            f"too few baseline rows ({len(reference):,}) to judge drift; "
            f"at least {policy.min_rows:,} needed"
        )
    if html_path is not None:  # the check links a report whatever the verdict
        _write_not_judged_page(Path(html_path), note)
    return DriftResult(
        features=(),
        drifted_share=0.0,
        severity=PASS,
        reference_rows=len(reference),
        current_rows=len(current),
        policy=policy,
        note=note,
    )


def _write_not_judged_page(path: Path, note: str) -> None:
    """The report of a slice that was not judged: one line saying why."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Drift not judged'
        f"</title></head><body><p>{html.escape(note)} (checks.drift.min_rows).</p>"
        "</body></html>\n"
    )
