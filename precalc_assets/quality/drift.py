"""Prediction drift of one model x slice against the model's baseline slice (pure).

A model's validated predictions are flattened into *features* (one per scalar output; a
vector output becomes a per-row summary plus a few deterministically chosen dimensions),
each feature is compared as Evidently 0.7's `ValueDrift` compares it, and the *share* of
drifted features decides the severity, as the old droughtwatch alert did (share > 0.25).

Cost (`benchmarks/checks_cost.py`): the two default methods (normed Wasserstein,
Jensen-Shannon) are computed here with Evidently's own formulas on the same cleaned
values (Evidently's binning; scipy's `wasserstein_distance` and `jensenshannon`, written
out with numpy, as importing `scipy.stats` takes ~1 s), so a check neither imports
Evidently (~3.5 s) nor builds the plotly widgets of its report (0.07-0.13 s per feature);
`test_drift.py` asserts the same results as scipy's functions and the same scores and
verdicts as Evidently's on real outputs. Any other method is Evidently's own stat test,
still without a report. The report is built only when its HTML is written
(`measure_drift(html_path=...)`).

Why these methods (measured in `benchmarks/drift_false_alarms.py`, see its README
section): p-value tests (K-S, chi-square, z) answer "are these two samples from exactly
the same distribution?", and with 10,000 rows per slice they say "no" to shifts nobody
cares about. Distances with a fixed threshold (normed Wasserstein, Jensen-Shannon) measure
*how much* the distribution moved, so their verdict does not tighten as slices grow.

A distance between two *samples* is not zero even when both come from one library: it
has sampling noise, which grows as a slice shrinks (20 random rows of a library move a
fingerprint bit's Jensen-Shannon distance from its 1,000-row baseline past 0.1 in about
one bit of five, so 20 % of such slices WARNed). That noise was measured to scale as
sqrt(1/n + 1/m) for n current and m baseline rows, from 5 to 10,000 rows, so a
feature's threshold is max(fixed threshold, k * sqrt(1/n + 1/m)): the fixed distance from
a few dozen rows on, the noise bound below that (`DriftPolicy`); and a slice of fewer
than `min_rows` rows is not judged.
"""

from __future__ import annotations

import contextlib
import functools
import html
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from precalc_assets.models.spec import OutputColumn
from precalc_assets.quality.outcome import ERROR, PASS, WARN

NUMERIC = "numeric"
CATEGORICAL = "categorical"

# Evidently 0.7 stat-test names (evidently.legacy.calculations.stattests), by feature kind.
NUMERIC_METHODS = frozenset(
    {
        "wasserstein",
        "ks",
        "psi",
        "kl_div",
        "jensenshannon",
        "hellinger",
        "anderson",
        "cramer_von_mises",
        "ed",
        "es",
        "mannw",
        "t_test",
        "empirical_mmd",
    }
)
CATEGORICAL_METHODS = frozenset(
    {"jensenshannon", "psi", "kl_div", "hellinger", "TVD", "chisquare", "z", "g_test"}
)
# Distances whose sampling noise between two samples of one distribution was measured to
# scale as sqrt(1/n + 1/m) (benchmarks/drift_false_alarms.py); only these get the noise
# bound. A p-value already accounts for the sample sizes, so p-value methods keep their
# threshold as it is.
NOISE_SCALED_METHODS = frozenset({"wasserstein", "jensenshannon"})
# The rows of one slice are shuffled with this seed when `sample_rows` caps them, so a
# re-run of the check gives the same verdict.
SAMPLE_SEED = 0


@dataclass(frozen=True)
class DriftPolicy:
    """How drift is measured and when it is a WARN or an ERROR.

    Severity comes from the share of drifted features: WARN when it exceeds `warn_share`
    (0.25, the threshold the droughtwatch system alerted on), ERROR when it exceeds
    `error_share`. The default 1.0 never errors: a one-output model (eos3b5e) has a share
    of 0 or 1, and a slice from a different chemical space is legitimate news (WARN), not
    a broken model; multi-output models can set e.g. 0.75.
    """

    warn_share: float = 0.25
    error_share: float = 1.0
    # Normed Wasserstein (distance / std of the reference), not K-S: a K-S p-value on
    # 10,000 rows flags shifts of a few hundredths of a standard deviation, so every
    # slice of a real library would "drift". 0.5 std (a "medium" effect), not Evidently's
    # default 0.1, measured (benchmarks/README.md): random 1,000-row slices of one
    # library move <= 0.08 (but 0.1 false-alarmed 22 % for one unlucky baseline in ten);
    # slices of one library *in file order* move up to 0.34 (NCI's first 5K, ordered by
    # NSC number: MolWt), which is the library, not drift; a different chemical space
    # moves 0.6 (BRICS fragments of NCI) to 3.7 (of MOSES). Lower it per model to see
    # moderate shifts (`checks.drift.numeric_threshold`).
    # A p-value method (ks, chisquare, z, ...) may be chosen instead; its threshold is
    # then a p-value and drift means *below* it (Evidently's test status handles both).
    numeric_method: str = "wasserstein"
    numeric_threshold: float = 0.5
    # Jensen-Shannon distance rather than Evidently's default chi-square p-value, which
    # over-flags categorical drift on large slices for the same reason as K-S.
    categorical_method: str = "jensenshannon"
    categorical_threshold: float = 0.1
    # Dimensions of a vector output compared one by one (plus its per-row mean): the most
    # variable ones of the baseline (`select_vector_dims`); enough to see a fingerprint
    # move, few enough to keep the report and its HTML small.
    vector_dims: int = 32
    # Cap on rows per side (a seeded sample), None = all rows of the slice.
    sample_rows: int | None = None
    # Small slices (a library's last slice): a feature drifts when its distance exceeds
    # max(threshold, k * sqrt(1/n + 1/m)), n and m the current and baseline rows with a
    # value, k the factor of its kind (for `NOISE_SCALED_METHODS`; 0 = the fixed threshold
    # at every n). Measured on random slices of MOSES (benchmarks/README.md): the distance
    # between two samples of one library, divided by sqrt(1/n + 1/m), has the same
    # spread at n = 20, 100, 1,000 and 10,000: 99th percentile 2.7-2.8 for normed
    # Wasserstein, 95th 0.70-0.78 and 99th 0.90-1.10 for a fingerprint bit's
    # Jensen-Shannon. 2.6, about that 99th percentile, holds a one-output model to 1-3 %
    # false alarms from 5 to 20 rows (eos3b5e; the fixed 0.5 alone: 39 % at 5 rows, 14 %
    # at 10) while rdkit-physchem still sees 19 fragment-like molecules against NCI;
    # 0.8 suffices for bits because a WARN needs a quarter of the features to drift:
    # morgan-fp2048 went from 20 of 100 false alarms at 20 rows to 0, and every built-in
    # model still flagged every slice of 20 BRICS fragments. Against a 1,000-row baseline
    # the fixed thresholds apply from 28 (numeric) and 69 (categorical) rows on, so larger
    # slices are judged exactly as before. The categorical factor is set for binary
    # features; a string output with many categories is noisier: raise it there.
    numeric_noise_factor: float = 2.6
    categorical_noise_factor: float = 0.8
    # Fewer rows than this on a side: drift is not judged (PASS, and the description
    # says so). 10 is the smallest slice at which every built-in model still flagged
    # BRICS fragments (morgan-fp2048: 0 of 20 five-row slices, 20 of 20 ten-row ones);
    # below it a verdict is about single molecules, not a distribution.
    min_rows: int = 10

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str) -> DriftPolicy:
        """Build a policy from user config (e.g. a model request's `"drift"` object).

        Errors name `source` and the key, so a user can fix the file without reading code.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError(
                f"{source}: the drift policy must be an object like "
                f'{{"warn_share": 0.25}}, got {type(data).__name__}'
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{source}: unknown drift policy key(s) {unknown}; use only {sorted(known)}"
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = _checked(key, value, source)
        policy = cls(**values)
        if policy.warn_share > policy.error_share:
            raise ValueError(
                f"{source}: drift policy 'warn_share' ({policy.warn_share}) is greater than "
                f"'error_share' ({policy.error_share}); make warn_share <= error_share"
            )
        return policy

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _checked(key: str, value: Any, source: str) -> Any:
    """One validated policy value; raises ValueError naming source and key."""
    where = f"{source}: drift policy {key!r}"
    if key in {"numeric_method", "categorical_method"}:
        allowed = NUMERIC_METHODS if key == "numeric_method" else CATEGORICAL_METHODS
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{where} is {value!r}; use one of {', '.join(sorted(allowed))}")
        return value
    if key.endswith("_noise_factor"):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(
                f"{where} must be a number >= 0 (0 keeps the fixed threshold at every "
                f"slice size), got {value!r}"
            )
        return float(value)
    if key in {"vector_dims", "sample_rows", "min_rows"}:
        if value is None and key == "sample_rows":
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{where} must be a positive integer, got {value!r}")
        return value
    # warn_share, error_share, numeric_threshold, categorical_threshold
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{where} must be a number between 0 and 1, got {value!r}")
    low_ok = value >= 0 if key.endswith("_share") else value > 0
    if not low_ok or value > 1:
        bounds = "between 0 and 1" if key.endswith("_share") else "greater than 0 and at most 1"
        raise ValueError(f"{where} must be {bounds}, got {value!r}")
    return float(value)


def fixed_threshold(policy: DriftPolicy, kind: str) -> tuple[str, float]:
    """(method, fixed threshold) of a feature kind."""
    if kind == NUMERIC:
        return policy.numeric_method, policy.numeric_threshold
    return policy.categorical_method, policy.categorical_threshold


def feature_threshold(
    policy: DriftPolicy, kind: str, current_rows: int, reference_rows: int
) -> tuple[str, float]:
    """(method, threshold) of a feature with values in `current_rows` rows of the slice
    and `reference_rows` of the baseline: max(fixed, k * sqrt(1/n + 1/m)) for a
    noise-scaled distance, the fixed threshold otherwise."""
    method, threshold = fixed_threshold(policy, kind)
    factor = policy.numeric_noise_factor if kind == NUMERIC else policy.categorical_noise_factor
    if method not in NOISE_SCALED_METHODS or factor <= 0 or min(current_rows, reference_rows) < 1:
        return method, threshold
    return method, max(threshold, factor * math.sqrt(1 / current_rows + 1 / reference_rows))


def severity_for(share: float, policy: DriftPolicy) -> str:
    """PASS, WARN or ERROR for a drifted share; bounds are strict (exactly 0.25 passes)."""
    if share > policy.error_share:
        return ERROR
    if share > policy.warn_share:
        return WARN
    return PASS


@dataclass(frozen=True)
class FeatureDrift:
    """One compared feature. `score` is None when Evidently could not be asked (no values
    on a side); `note` then says why and `drifted` whether that is itself a drift."""

    feature: str
    column: str
    kind: str
    method: str
    threshold: float
    score: float | None
    drifted: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Every feature's verdict plus the slice-level severity the asset check reports.

    `note` is set when drift was not judged (too few rows): no features, PASS."""

    features: tuple[FeatureDrift, ...]
    drifted_share: float
    severity: str
    reference_rows: int
    current_rows: int
    policy: DriftPolicy = field(default_factory=DriftPolicy)
    note: str = ""

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "drifted_share": self.drifted_share,
            "drifted_features": self.drifted_features,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "policy": self.policy.to_dict(),
            "features": [f.to_dict() for f in self.features],
            "note": self.note,
        }

    def widened(self) -> dict[str, tuple[float, float]]:
        """{kind: (largest threshold applied, fixed threshold)} for the kinds whose
        threshold the small-sample noise bound raised."""
        out: dict[str, tuple[float, float]] = {}
        for f in self.features:
            _, fixed = fixed_threshold(self.policy, f.kind)
            if f.threshold > fixed:
                out[f.kind] = (max(f.threshold, out.get(f.kind, (0.0, fixed))[0]), fixed)
        return out

    def summary(self) -> str:
        rows = f"{self.current_rows:,} rows vs {self.reference_rows:,} baseline rows"
        if self.note:
            return f"{self.severity}: {self.note}; {rows}"
        drifted = sum(f.drifted for f in self.features)
        text = (
            f"{self.severity}: {drifted} of {len(self.features)} features drifted "
            f"(share {self.drifted_share:.2f}; WARN above {self.policy.warn_share:g}, "
            f"ERROR above {self.policy.error_share:g}); {rows}"
        )
        widened = self.widened()
        if widened:
            text += "; thresholds widened for the small slice: " + ", ".join(
                f"{kind} {applied:.3g} (fixed {fixed:g})"
                for kind, (applied, fixed) in sorted(widened.items(), reverse=True)
            )
        return text

    def markdown(self) -> str:
        """A table for the Dagster UI (asset check metadata renders markdown)."""
        if self.note:
            return (
                f"**{self.summary()}**\n\nDrift is judged from `min_rows` "
                f"({self.policy.min_rows:,}) rows on each side "
                "(the model request's `checks.drift.min_rows`).\n"
            )
        lines = [
            "| feature | kind | method | score | threshold | drifted |",
            "|---|---|---|---:|---:|---|",
        ]
        for f in self.features:
            score = "n/a" if f.score is None else f"{f.score:.4f}"
            if f.note:
                score = f"{score} ({f.note})"
            _, fixed = fixed_threshold(self.policy, f.kind)
            threshold = (
                f"{f.threshold:.4f} (widened from {fixed:g})"
                if f.threshold > fixed
                else f"{f.threshold:g}"
            )
            lines.append(
                f"| {f.feature.replace('|', '&#124;')} | {f.kind} | {f.method} | {score} | "
                f"{threshold} | {'**yes**' if f.drifted else 'no'} |"
            )
        text = "\n".join(lines) + f"\n\n**{self.summary()}**\n"
        if self.widened():
            text += (
                "\nA small slice's distances are noisy: a threshold is max(fixed, "
                "k * sqrt(1/n + 1/m)) for n rows here and m baseline rows with a value, "
                f"k = {self.policy.numeric_noise_factor:g} (numeric) or "
                f"{self.policy.categorical_noise_factor:g} (categorical), "
                "`checks.drift.*_noise_factor`.\n"
            )
        return text


def _is_binary(column: OutputColumn) -> bool:
    return column.dtype == "bool" or (column.dtype == "int" and column.min == 0 and column.max == 1)


def _scalar_kind(column: OutputColumn) -> str:
    if column.dtype in ("bool", "str") or _is_binary(column):
        return CATEGORICAL
    return NUMERIC


def _vector_rows(
    column: OutputColumn, values: pd.Series, chunk: int = 1000
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first row, float matrix) chunks of a vector column; a null row is all NaN.

    Chunks keep memory flat: a whole 10k x 2048 slice as float64 would be ~160 MB.
    """
    length = column.length or 0
    items = list(values)
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        if all(isinstance(v, np.ndarray) and v.shape == (length,) for v in part):
            # Every row a whole vector (what `frames.to_frame` gives): one copy, not a
            # conversion per row. The same values as the loop below.
            yield start, np.array(part, dtype=float).reshape(len(part), length)
            continue
        block = np.full((len(part), length), np.nan)
        for i, value in enumerate(part):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            row = np.asarray(value, dtype=float)
            if row.shape != (length,):
                raise ValueError(
                    f"output column {column.name!r}: row {start + i} holds {row.size} values, "
                    f"the model declares length {length}; re-run validation for this slice"
                )
            block[i] = row
        yield start, block


def select_vector_dims(
    columns: Sequence[OutputColumn], reference: pd.DataFrame, policy: DriftPolicy
) -> dict[str, list[int]]:
    """Which dimensions of each vector output are compared: the `policy.vector_dims` with
    the largest variance in the reference (ties to the lower index), in index order.

    Chosen from the baseline, so they are the same for every slice compared with it.
    Why not evenly spaced: most Morgan bits are set in < 1 % of molecules, and a rare
    bit barely moves even between unrelated chemical spaces (measured: 1 of 32 evenly
    spaced bits drifted for BRICS fragments, against 20 of the 32 most variable bits).
    """
    dims: dict[str, list[int]] = {}
    for column in columns:
        if column.length is None or column.name not in reference.columns:
            continue
        count = np.zeros(column.length)
        total = np.zeros(column.length)
        squares = np.zeros(column.length)
        shift: np.ndarray | None = None
        for _, block in _vector_rows(column, reference[column.name]):
            if shift is None:  # shifted sums keep E[x^2] - E[x]^2 accurate for large values
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    shift = np.nan_to_num(np.nanmean(block, axis=0))
            block = block - shift
            count += (~np.isnan(block)).sum(axis=0)
            total += np.nansum(block, axis=0)
            squares += np.nansum(block * block, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            # No values at all: -1 sorts after every real variance.
            variance = np.nan_to_num(squares / count - mean * mean, nan=-1.0)
        order = np.argsort(-variance, kind="stable")  # stable: ties keep the lower index
        dims[column.name] = sorted(int(i) for i in order[: policy.vector_dims])
    return dims


def drift_features(
    columns: Sequence[OutputColumn],
    frame: pd.DataFrame,
    policy: DriftPolicy,
    dims: Mapping[str, Sequence[int]] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Flatten predictions into comparable features: (frame, {feature: kind}).

    Scalars map one to one (float/int numeric; bool/str and 0/1 ints categorical).
    A vector becomes `<col>.mean` (numeric: e.g. fingerprint bit density) plus the
    dimensions `dims[col]` as `<col>[i]` (categorical when binary); pass the reference's
    `select_vector_dims` for both sides (default: chosen from `frame` itself). Nulls and
    infinities become NaN; they are dropped per feature when drift is measured, so one
    sparse output does not throw away the rows of the others.
    """
    if dims is None:
        dims = select_vector_dims(columns, frame, policy)
    data: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for column in columns:
        if column.name not in frame.columns:
            raise ValueError(
                f"predictions have no column {column.name!r} (columns: {list(frame.columns)}); "
                "the model's declared outputs and its stored predictions disagree"
            )
        values = frame[column.name]
        if column.length is None:
            data[column.name] = _scalar_feature(column, values)
            kinds[column.name] = _scalar_kind(column)
            continue
        indices = list(dims[column.name])
        means = np.full(len(frame), np.nan)
        picked = np.full((len(frame), len(indices)), np.nan)
        for start, block in _vector_rows(column, values):
            with warnings.catch_warnings():  # a null row's mean is NaN, as wanted
                warnings.simplefilter("ignore", RuntimeWarning)
                means[start : start + len(block)] = np.nanmean(block, axis=1)
            picked[start : start + len(block)] = block[:, indices]
        data[f"{column.name}.mean"] = means
        kinds[f"{column.name}.mean"] = NUMERIC
        kind = CATEGORICAL if _is_binary(column) else NUMERIC
        for j, index in enumerate(indices):
            name = f"{column.name}[{index}]"
            data[name] = _categories(picked[:, j]) if kind == CATEGORICAL else picked[:, j]
            kinds[name] = kind
    return pd.DataFrame(data, index=range(len(frame))), kinds


def _categories(values: np.ndarray) -> np.ndarray:
    """0/1 floats as integer categories (object array, NaN for null), so 1.0 == 1."""
    out = np.full(len(values), np.nan, dtype=object)
    present = ~np.isnan(values)
    out[present] = values[present].astype(np.int64)
    return out


def _scalar_feature(column: OutputColumn, values: pd.Series) -> np.ndarray:
    if _scalar_kind(column) == NUMERIC:
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        return numbers.replace([np.inf, -np.inf], np.nan).to_numpy()
    if column.dtype in ("int", "float"):
        return _categories(pd.to_numeric(values, errors="coerce").astype(float).to_numpy())
    out = values.astype(object).to_numpy(copy=True)
    out[pd.isna(values).to_numpy()] = np.nan
    return out


def _sample(frame: pd.DataFrame, rows: int | None) -> pd.DataFrame:
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=SAMPLE_SEED)


def measure_drift(
    columns: Sequence[OutputColumn],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    policy: DriftPolicy,
    html_path: str | Path | None = None,
    html_when: str = "always",
) -> DriftResult:
    """Compare a slice's predictions (current) with the baseline slice's (reference).

    Each feature with values on both sides is scored as Evidently's `ValueDrift` scores
    it (`feature_scores`); a feature with no values on a side is decided here, because
    Evidently raises on an empty column. The Evidently HTML report (`ValueDrift` per
    feature) is written to `html_path` when given: always, or with `html_when="failing"`
    only when the slice WARNs or ERRORs. The verdict is the same whether or not it is.
    """
    if html_when not in REPORT_WHEN:
        raise ValueError(f"html_when is {html_when!r}; use one of {', '.join(REPORT_WHEN)}")
    if len(reference) == 0 or len(current) == 0:
        side = "reference (baseline)" if len(reference) == 0 else "current"
        raise ValueError(
            f"the {side} predictions have no rows; drift needs rows on both sides "
            "(materialize the baseline slice's validated predictions, or skip empty slices)"
        )
    reference = _sample(reference, policy.sample_rows)
    current = _sample(current, policy.sample_rows)
    if min(len(current), len(reference)) < policy.min_rows:  # a PASS
        return _too_few_rows(
            reference, current, policy, html_path if html_when == "always" else None
        )
    dims = select_vector_dims(columns, reference, policy)
    ref_features, kinds = drift_features(columns, reference, policy, dims)
    cur_features, _ = drift_features(columns, current, policy, dims)
    sources = _feature_sources(columns, dims)

    # Each feature's threshold, from its own row counts (nulls are dropped per feature).
    thresholds = {
        name: feature_threshold(
            policy,
            kind,
            int(cur_features[name].notna().sum()),
            int(ref_features[name].notna().sum()),
        )
        for name, kind in kinds.items()
    }

    # A feature with no values on a side is decided here (Evidently raises on an empty
    # column): null on both sides is no evidence of drift; values appearing or
    # disappearing entirely is the largest drift there is.
    notes: dict[str, tuple[str, bool]] = {}
    for name in kinds:
        in_ref = bool(ref_features[name].notna().any())
        in_cur = bool(cur_features[name].notna().any())
        if not (in_ref and in_cur):
            notes[name] = (
                "no values on either side"
                if not (in_ref or in_cur)
                else ("no values in current" if in_ref else "no values in reference"),
                in_ref or in_cur,
            )
    to_measure = [name for name in kinds if name not in notes]
    scores = feature_scores(to_measure, kinds, ref_features, cur_features, thresholds)

    features = []
    for name, kind in kinds.items():
        method, threshold = thresholds[name]
        if name in notes:
            note, drifted = notes[name]
            score = None
        else:
            (score, drifted), note = scores[name], ""
        features.append(
            FeatureDrift(name, sources[name], kind, method, threshold, score, drifted, note)
        )
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
        evidently_scores(to_measure, kinds, ref_features, cur_features, thresholds, html_path)
    return result


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
        path = Path(html_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Drift not judged'
            f"</title></head><body><p>{html.escape(note)} (checks.drift.min_rows).</p>"
            "</body></html>\n"
        )
    return DriftResult(
        features=(),
        drifted_share=0.0,
        severity=PASS,
        reference_rows=len(reference),
        current_rows=len(current),
        policy=policy,
        note=note,
    )


def _feature_sources(
    columns: Sequence[OutputColumn], dims: Mapping[str, Sequence[int]]
) -> dict[str, str]:
    """{feature: output column it comes from}, in `drift_features`' naming."""
    sources: dict[str, str] = {}
    for column in columns:
        if column.length is None:
            sources[column.name] = column.name
            continue
        sources[f"{column.name}.mean"] = column.name
        for index in dims[column.name]:
            sources[f"{column.name}[{index}]"] = column.name
    return sources


def feature_scores(
    names: Sequence[str],
    kinds: Mapping[str, str],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: Mapping[str, tuple[str, float]],
) -> dict[str, tuple[float, bool]]:
    """{feature: (score, drifted)}, each as Evidently 0.7's `ValueDrift` decides it.

    As in Evidently, infinities and nulls are dropped first and the method gets the rest
    as pandas Series; `DIRECT_METHODS` are computed here, any other method is Evidently's
    registered stat test (Evidently is then imported, once per process)."""
    scores: dict[str, tuple[float, bool]] = {}
    for name in names:
        method, threshold = thresholds[name]
        direct = DIRECT_METHODS.get(method)
        exact = direct is None  # Evidently's function gets exactly what it would get
        ref = _cleaned(reference[name], "reference", exact)
        cur = _cleaned(current[name], "current", exact)
        if direct is not None:
            score, drifted = direct(ref, cur, kinds[name], threshold)
        else:
            score, drifted = _evidently_stattest(method, ref, cur, kinds[name], threshold)
        scores[name] = (float(score), bool(drifted))
    return scores


def _cleaned(values: pd.Series, side: str, exact: bool = True) -> pd.Series:
    """Evidently's cleaning of a column before its stat test (`get_one_column_drift`):
    infinities and nulls dropped. On an object column pandas then converts the rest
    (ints to int64 or float64); `exact=False` skips that conversion, which only changes
    the type of the categories, not their counts (what `_jensenshannon` uses), and is
    most of the cost of a fingerprint bit."""
    if exact:
        with _quiet():  # pandas' FutureWarning on that conversion, as in Evidently
            cleaned = values.replace([-np.inf, np.inf], np.nan).dropna()
    else:
        with _no_downcasting():
            cleaned = values.replace([-np.inf, np.inf], np.nan).dropna()
    if cleaned.empty:  # what Evidently raises (a feature of infinities only)
        raise ValueError(
            f"An empty column '{values.name}' was provided for drift calculation in the "
            f"{side} dataset."
        )
    return cleaned


def _no_downcasting() -> contextlib.AbstractContextManager:
    """pandas 2's opt-in to not converting an object column after `replace` (pandas 3
    never converts, and has no such option)."""
    try:
        pd.get_option("future.no_silent_downcasting")
    except (KeyError, pd.errors.OptionError):
        return contextlib.nullcontext()
    return pd.option_context("future.no_silent_downcasting", True)


def wasserstein_distance(u_values: Any, v_values: Any) -> float:
    """`scipy.stats.wasserstein_distance(u, v)` of two 1-D samples, scipy 1.17's
    `_cdf_distance(1, u, v)` line by line: the area between the two empirical CDFs.
    Written out because importing `scipy.stats` takes ~1 s, once per run process."""
    u = np.asarray(u_values, dtype=float)
    v = np.asarray(v_values, dtype=float)
    if len(u) == 0 or len(v) == 0:
        raise ValueError("Distribution can't be empty.")
    u_sorter = np.argsort(u)
    v_sorter = np.argsort(v)
    all_values = np.concatenate((u, v))
    all_values.sort(kind="mergesort")
    deltas = np.diff(all_values)
    u_cdf = u[u_sorter].searchsorted(all_values[:-1], "right") / u.size
    v_cdf = v[v_sorter].searchsorted(all_values[:-1], "right") / v.size
    return float(_vecdot(np.abs(u_cdf - v_cdf), deltas))


def _vecdot(x: np.ndarray, y: np.ndarray) -> Any:
    """scipy's `np_vecdot`: `np.vecdot` on numpy 2, a dot product before."""
    vecdot = getattr(np, "vecdot", None)
    return vecdot(x, y, axis=-1) if vecdot is not None else np.dot(x, y)


def jensenshannon_distance(p: Any, q: Any) -> float:
    """`scipy.spatial.distance.jensenshannon(p, q)` (natural log) of two 1-D shares,
    scipy's code line by line with its `scipy.special.rel_entr` (0.2 s to import, against
    0.5 s for `scipy.spatial`)."""
    from scipy.special import rel_entr

    p, q = np.asarray(p), np.asarray(q)
    p = p / np.sum(p, axis=0, keepdims=True)
    q = q / np.sum(q, axis=0, keepdims=True)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m), axis=0) + np.sum(rel_entr(q, m), axis=0)
    return float(np.sqrt(js / 2.0))


def _wasserstein(
    reference: pd.Series, current: pd.Series, kind: str, threshold: float
) -> tuple[float, bool]:
    """Evidently's "wasserstein" (`_wasserstein_distance_norm`): the Wasserstein distance
    divided by the reference's standard deviation (at least 0.001); drift from
    `threshold` on."""
    norm = max(float(np.std(reference)), 0.001)
    value = wasserstein_distance(reference, current) / norm
    return value, value >= threshold


def _jensenshannon(
    reference: pd.Series, current: pd.Series, kind: str, threshold: float
) -> tuple[float, bool]:
    """Evidently's "jensenshannon": scipy's Jensen-Shannon distance (natural log) of the
    two sides' shares, binned as `get_binned_data(..., n=30, feel_zeroes=False)` bins
    them: a numeric feature with more than 20 distinct reference values in Sturges bins
    of both sides together, anything else per distinct value; drift from `threshold` on."""
    if kind == NUMERIC and reference.nunique() > 20:
        combined = np.asarray(pd.concat([reference, current], axis=0).values)
        bins = np.histogram_bin_edges(combined, bins="sturges")
        ref_share = np.histogram(reference, bins)[0] / len(reference)
        cur_share = np.histogram(current, bins)[0] / len(current)
    else:
        keys = list(set(reference.unique()) | set(current.unique()))
        ref_counts = {**dict.fromkeys(keys, 0), **dict(reference.value_counts())}
        cur_counts = {**dict.fromkeys(keys, 0), **dict(current.value_counts())}
        ref_share = np.array([ref_counts[key] / len(reference) for key in keys])
        cur_share = np.array([cur_counts[key] / len(current) for key in keys])
    value = jensenshannon_distance(ref_share, cur_share)
    return value, value >= threshold


# Methods computed here, with Evidently 0.7.23's formulas (evidently.legacy.calculations.
# stattests: wasserstein_distance_norm.py, jensenshannon.py, utils.get_binned_data) and
# the scipy 1.17 functions they call.
DIRECT_METHODS: dict[str, Callable[[pd.Series, pd.Series, str, float], tuple[float, bool]]] = {
    "wasserstein": _wasserstein,
    "jensenshannon": _jensenshannon,
}
# When `measure_drift` writes the HTML report it is given a path for.
REPORT_WHEN = ("always", "failing")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Evidently's internals emit pandas FutureWarnings and its web UI's dependencies
    DeprecationWarnings on every run; a user cannot act on them, so they stay out of the
    asset check's logs. Our own warnings are not affected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@functools.cache
def _evidently() -> SimpleNamespace:
    """Evidently's classes, imported on first use, once per process: `import evidently`
    takes ~3.5 s, and Dagster loads definitions often; most checks never need it."""
    with _quiet():
        from evidently import DataDefinition, Dataset, Report
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType
        from evidently.metrics import ValueDrift

    return SimpleNamespace(
        DataDefinition=DataDefinition,
        Dataset=Dataset,
        Report=Report,
        ValueDrift=ValueDrift,
        get_stattest=get_stattest,
        ColumnType=ColumnType,
    )


def _evidently_stattest(
    method: str, reference: pd.Series, current: pd.Series, kind: str, threshold: float
) -> tuple[float, bool]:
    """Evidently's registered stat test `method`, called as `ValueDrift` calls it, without
    a report (so without its widgets)."""
    ev = _evidently()
    column_type = ev.ColumnType.Numerical if kind == NUMERIC else ev.ColumnType.Categorical
    with _quiet():
        test = ev.get_stattest(reference, current, column_type, method)
        result = test(reference, current, column_type, threshold)
    return result.drift_score, result.drifted


def evidently_scores(
    names: Sequence[str],
    kinds: Mapping[str, str],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: Mapping[str, tuple[str, float]],
    html_path: str | Path | None = None,
) -> dict[str, tuple[float, bool]]:
    """One Evidently report over `names` (`ValueDrift` per feature, widgets and all):
    {feature: (score, drifted)} from its tests; its HTML is saved to `html_path` if given.
    The check builds it only to write the HTML; its verdicts are `feature_scores`'."""
    ev = _evidently()
    names = list(names)
    with _quiet():
        definition = ev.DataDefinition(
            numerical_columns=[n for n in names if kinds[n] == NUMERIC],
            categorical_columns=[n for n in names if kinds[n] == CATEGORICAL],
        )
        metrics = []
        for name in names:
            method, threshold = thresholds[name]
            metrics.append(ev.ValueDrift(column=name, method=method, threshold=threshold))
        snapshot = ev.Report(metrics, include_tests=True).run(
            ev.Dataset.from_pandas(current[names], data_definition=definition),
            ev.Dataset.from_pandas(reference[names], data_definition=definition),
        )
        if html_path is not None:
            path = Path(html_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            snapshot.save_html(str(path))
    return _scores_from_snapshot(snapshot.dict())


def _scores_from_snapshot(data: Mapping[str, Any]) -> dict[str, tuple[float, bool]]:
    """Read {column: (score, drifted)} from `Snapshot.dict()`.

    Every ValueDrift test has the same id ("drift"); a test belongs to its metric through
    `metric_config.metric_id`. The status is a TestStatus enum in `dict()` and a string
    in `json()`; FAIL means drifted.
    """
    by_id = {m["id"]: m for m in data.get("metrics", [])}
    scores: dict[str, tuple[float, bool]] = {}
    for test in data.get("tests", []):
        metric = by_id.get(test["metric_config"]["metric_id"])
        if metric is None:
            continue
        column = metric["config"]["column"]
        status = getattr(test["status"], "value", test["status"])
        scores[column] = (float(metric["value"]), str(status).upper() == "FAIL")
    return scores
