"""What the drift check found: every feature's verdict and the slice's, and how they
read in the Dagster UI (a one-line summary, a markdown table) and as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from precalc_assets.quality.drift.policy import DriftPolicy, fixed_threshold


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
