"""Per-model check settings: the `"checks"` object of a model request, e.g.
`{"sanity": {"warn_share": 0.0, "error_share": 0.05, "null_warn_share": 0.25},
"reproducibility": {"rtol": 1e-6},
"readback": {"sample": 100}, "drift": {"warn_share": 0.25, "baseline_slice": "lib-0000",
"report": "failing"}}`.
A bad value fails when the model is registered, never later in a check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from precalc_assets.models.spec import ModelError, ModelSpec
from precalc_assets.quality.drift import DriftPolicy
from precalc_assets.quality.outcome import ERROR, WARN

SECTIONS = ("sanity", "reproducibility", "readback", "drift")
# When the drift check writes its Evidently HTML report (`checks.drift.report`): for
# every partition, only for a failing one (WARN/ERROR), or never. Building the report is
# most of what a failing partition's checks cost (benchmarks/README.md).
DRIFT_REPORTS = ("always", "failing", "never")
DEFAULT_DRIFT_REPORT = "failing"


@dataclass(frozen=True)
class SanitySettings:
    """Share of a column's rows that are null/NaN (where not nullable) or out of range;
    share of a nullable column's rows that are null (the model could not compute them)."""

    warn_share: float = 0.0
    error_share: float = 0.05
    null_warn_share: float = 0.25
    null_error_share: float = 0.95


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
    drift_report: str = DEFAULT_DRIFT_REPORT


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
    report = drift.pop("report", DEFAULT_DRIFT_REPORT)
    if not isinstance(report, str) or report not in DRIFT_REPORTS:
        raise ModelError(
            f"{source}: checks.drift.report is {report!r}; use one of "
            + ", ".join(f'"{r}"' for r in DRIFT_REPORTS)
            + " (when the Evidently HTML report is written)"
        )
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
        drift_report=report,
    )
