"""Prediction drift of one model x slice against the model's baseline slice (pure).

A model's validated predictions become *features* (`features`: one per scalar output, a
vector's per-row mean and a few of its dimensions), each feature is scored as Evidently
0.7's `ValueDrift` scores it (`distances`), and the *share* of drifted features decides
the severity (`policy`); `measure` does it for one slice, `verdicts` says it for the UI,
`evidently_report` writes Evidently's HTML report. Only that module imports Evidently,
on first use (~3.5 s), so a check that writes no report never does.

Distances with a fixed threshold (normed Wasserstein, Jensen-Shannon), not p-value tests:
with 10,000 rows a p-value test (K-S, chi-square) calls shifts nobody cares about drift,
while a distance says how much a distribution moved, so its verdict does not tighten as
slices grow. Its sampling noise grows as a slice shrinks, hence the small-slice bound of
`policy` (measured in `benchmarks/drift_false_alarms.py`).
"""
