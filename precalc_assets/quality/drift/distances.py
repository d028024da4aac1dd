"""Each feature's drift score as Evidently 0.7's `ValueDrift` computes it.

The two default methods, normed Wasserstein and Jensen-Shannon distance, are computed
here with Evidently 0.7.23's formulas (its binning; scipy 1.17's `wasserstein_distance`
and `jensenshannon`, written out with numpy because importing `scipy.stats` takes ~1 s)
on the values Evidently would clean, so a check imports neither Evidently (~3.5 s) nor
builds its report's widgets (0.07-0.13 s a feature); `test_drift.py` asserts scipy's
results and Evidently's scores and verdicts on real outputs. Any other method is
Evidently's own stat test, still without a report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from precalc_assets.quality.drift.evidently_report import evidently_stattest, quiet
from precalc_assets.quality.drift.policy import NUMERIC

# Features measured together by `wasserstein_distances`: 128 features of two 10,000-row
# sides sort in ~40 MB.
WASSERSTEIN_AT_ONCE = 128


def wasserstein_distance(u_values: Any, v_values: Any) -> float:
    """`scipy.stats.wasserstein_distance(u, v)` of two 1-D samples, scipy 1.17's
    `_cdf_distance(1, u, v)` line by line: the area between the two empirical CDFs.
    Written out because importing `scipy.stats` takes ~1 s, once per run process."""
    u = np.asarray(u_values, dtype=float)
    v = np.asarray(v_values, dtype=float)
    if len(u) == 0 or len(v) == 0:
        raise ValueError("Distribution can't be empty.")
    all_values = np.concatenate((u, v))
    all_values.sort(kind="mergesort")
    deltas = np.diff(all_values)
    # scipy sorts by `u[np.argsort(u)]`; `np.sort(u)` is the same values in the same
    # order (-0.0 and 0.0 may swap, which `searchsorted` cannot tell apart), in a third
    # of the time on a fingerprint's many equal counts.
    u_cdf = np.sort(u).searchsorted(all_values[:-1], "right") / u.size
    v_cdf = np.sort(v).searchsorted(all_values[:-1], "right") / v.size
    return float(_vecdot(np.abs(u_cdf - v_cdf), deltas))


def wasserstein_distances(u: np.ndarray, v: np.ndarray) -> list[float]:
    """`wasserstein_distance(u[i], v[i])` of each row of two 2-D arrays of finite
    samples (a feature a row), with one sort for all of them.

    The two CDFs are counted by position in the sorted union rather than by
    `searchsorted`: they differ only inside a run of equal values, where the step to the
    next value (the weight) is 0. So every term of the dot product is the same, and so
    is the distance, to the last bit."""
    both = np.concatenate((u, v), axis=1)
    order = np.argsort(both, axis=1, kind="stable")
    all_values = np.take_along_axis(both, order, axis=1)
    from_u = order < u.shape[1]
    u_cdf = np.cumsum(from_u[:, :-1], axis=1) / u.shape[1]
    v_cdf = np.cumsum(~from_u[:, :-1], axis=1) / v.shape[1]
    deltas = np.diff(all_values, axis=1)
    return [float(_vecdot(np.abs(u_cdf[i] - v_cdf[i]), deltas[i])) for i in range(len(u))]


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
    return _normed(wasserstein_distance(reference, current), reference, threshold)


def _normed(distance: float, reference: pd.Series, threshold: float) -> tuple[float, bool]:
    """Evidently's norm of a Wasserstein distance: over the reference's standard
    deviation, at least 0.001; drift from `threshold` on."""
    value = distance / max(float(np.std(reference)), 0.001)
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
    registered stat test (Evidently is then imported, once per process). Wasserstein
    features with every value finite on both sides (a wide model's usual case) are
    measured together, `WASSERSTEIN_AT_ONCE` at a time."""
    together = _finite_wasserstein(names, reference, current, thresholds)
    scores = _wasserstein_together(together, reference, current, thresholds)
    for name in names:
        if name in scores:
            continue
        method, threshold = thresholds[name]
        direct = DIRECT_METHODS.get(method)
        exact = direct is None  # Evidently's function gets exactly what it would get
        ref = _cleaned(reference[name], "reference", exact)
        cur = _cleaned(current[name], "current", exact)
        if direct is not None:
            score, drifted = direct(ref, cur, kinds[name], threshold)
        else:
            score, drifted = evidently_stattest(method, ref, cur, kinds[name], threshold)
        scores[name] = (float(score), bool(drifted))
    return scores


def _finite_wasserstein(
    names: Sequence[str],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: Mapping[str, tuple[str, float]],
) -> list[str]:
    """The features scored by Wasserstein whose values are all finite numbers on both
    sides (so cleaning drops nothing)."""
    kinds = {"reference": reference.dtypes, "current": current.dtypes}
    numeric = [
        name
        for name in names
        if thresholds[name][0] == "wasserstein"
        and kinds["reference"][name].kind == "f"
        and kinds["current"][name].kind == "f"
    ]
    if not numeric:
        return []
    finite = np.isfinite(reference[numeric].to_numpy()).all(axis=0) & np.isfinite(
        current[numeric].to_numpy()
    ).all(axis=0)
    return [name for name, ok in zip(numeric, finite, strict=True) if ok]


def _wasserstein_together(
    names: list[str],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: Mapping[str, tuple[str, float]],
) -> dict[str, tuple[float, bool]]:
    """`_wasserstein` of each of `names`, the distances of a block of features at once."""
    scores: dict[str, tuple[float, bool]] = {}
    for start in range(0, len(names), WASSERSTEIN_AT_ONCE):
        block = names[start : start + WASSERSTEIN_AT_ONCE]
        distances = wasserstein_distances(
            np.ascontiguousarray(reference[block].to_numpy(dtype=float).T),
            np.ascontiguousarray(current[block].to_numpy(dtype=float).T),
        )
        for name, distance in zip(block, distances, strict=True):
            value, drifted = _normed(distance, reference[name], thresholds[name][1])
            scores[name] = (float(value), bool(drifted))
    return scores


def _cleaned(values: pd.Series, side: str, exact: bool = True) -> pd.Series:
    """Evidently's cleaning of a column before its stat test (`get_one_column_drift`):
    infinities and nulls dropped. On an object column pandas then converts the rest
    (ints to int64 or float64); `exact=False` skips that conversion, which only changes
    the type of the categories, not their counts (what `_jensenshannon` uses), and is
    most of the cost of a fingerprint bit."""
    if values.dtype.kind in "iuf":  # numbers: the same Series, by one mask
        cleaned = values[np.isfinite(values.to_numpy(dtype=float))]
    elif exact:
        with quiet():  # pandas' FutureWarning on that conversion, as in Evidently
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
