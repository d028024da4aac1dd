"""Per-model check settings: the `"checks"` object of a model request, e.g.
`{"sanity": {"warn_share": 0.0, "error_share": 0.05, "null_warn_share": 0.25},
"reproducibility": {"rtol": 1e-6},
"readback": {"sample": 100}, "drift": {"warn_share": 0.25, "baseline_slice": "lib-0000",
"report": "failing"}}`.

Each section is a pydantic dataclass, so an unknown section or key, or a bad value, fails
by itself when the model is registered, never later in a check; `check_settings` turns
the failure into a `ModelError` naming the source, the key and what the key allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as settings_dataclass

from precalc_assets.models.spec import ModelSpec
from precalc_assets.quality.drift.policy import DriftPolicy
from precalc_assets.quality.settings_errors import settings_error

# When the drift check writes its Evidently HTML report (`checks.drift.report`).
DriftReport = Literal["always", "failing", "never"]
DEFAULT_DRIFT_REPORT: DriftReport = "failing"
# Unknown keys are refused, not ignored: a typo must not silently keep a default.
SETTINGS = ConfigDict(extra="forbid")

NonNegative = Annotated[float, Field(strict=True, ge=0, description="a non-negative number")]


def _made_whole(value: Any) -> Any:
    """`readback.sample` may be any number >= 0: a finite one is made an integer."""
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    return value


def _null_is_default(value: Any) -> Any:
    """A section given as null keeps its defaults."""
    return {} if value is None else value


@settings_dataclass(frozen=True, config=SETTINGS)
class SanitySettings:
    """Share of a column's rows that are null/NaN (where not nullable) or out of range;
    share of a nullable column's rows that are null (the model could not compute them)."""

    warn_share: NonNegative = 0.0
    error_share: NonNegative = 0.05
    null_warn_share: NonNegative = 0.25
    null_error_share: NonNegative = 0.95


@settings_dataclass(frozen=True, config=SETTINGS)
class ReproSettings:
    rtol: NonNegative = 1e-6
    atol: NonNegative = 1e-9
    severity: Annotated[Literal["WARN", "ERROR"], Field(description="WARN or ERROR")] = "ERROR"


@settings_dataclass(frozen=True, config=SETTINGS)
class ReadbackSettings:
    sample: Annotated[
        int,
        Field(strict=True, ge=0, description="a non-negative number (made an integer)"),
        BeforeValidator(_made_whole),
    ] = 100
    rtol: NonNegative = 1e-6


@settings_dataclass(frozen=True, config=SETTINGS)
class DriftSettings(DriftPolicy):
    """The `drift` section: the policy, plus the baseline slice and when the Evidently HTML
    report is written (for every partition, only a failing one, or never: building it is
    most of what a failing partition's checks cost, benchmarks/README.md)."""

    baseline_slice: Annotated[str | None, Field(strict=True, description="a slice key")] = None
    report: Annotated[
        DriftReport,
        Field(
            description='one of "always", "failing", "never" '
            "(when the Evidently HTML report is written)"
        ),
    ] = DEFAULT_DRIFT_REPORT

    def policy(self) -> DriftPolicy:
        return DriftPolicy(**{f.name: getattr(self, f.name) for f in fields(DriftPolicy)})


@settings_dataclass(frozen=True, config=SETTINGS)
class ChecksRequest:
    """The `"checks"` object as a model request writes it: every section optional."""

    sanity: Annotated[SanitySettings, BeforeValidator(_null_is_default)] = field(
        default_factory=SanitySettings
    )
    reproducibility: Annotated[ReproSettings, BeforeValidator(_null_is_default)] = field(
        default_factory=ReproSettings
    )
    readback: Annotated[ReadbackSettings, BeforeValidator(_null_is_default)] = field(
        default_factory=ReadbackSettings
    )
    drift: Annotated[DriftSettings, BeforeValidator(_null_is_default)] = field(
        default_factory=DriftSettings
    )


@dataclass(frozen=True)
class CheckSettings:
    """The settings each check reads."""

    sanity: SanitySettings = SanitySettings()
    reproducibility: ReproSettings = ReproSettings()
    readback: ReadbackSettings = ReadbackSettings()
    drift: DriftPolicy = DriftPolicy()
    baseline_slice: str | None = None
    drift_report: str = DEFAULT_DRIFT_REPORT


_CHECKS = TypeAdapter(ChecksRequest)


def check_settings(spec: ModelSpec, source: str = "") -> CheckSettings:
    """The model's check settings; a bad value is a `ModelError` naming model and key."""
    source = source or f"model {spec.model_id!r}"
    try:
        checks = _CHECKS.validate_python(spec.checks or {})
    except ValidationError as exc:
        raise settings_error(exc, ChecksRequest, source, name="checks") from None
    return CheckSettings(
        sanity=checks.sanity,
        reproducibility=checks.reproducibility,
        readback=checks.readback,
        drift=checks.drift.policy(),
        baseline_slice=checks.drift.baseline_slice,
        drift_report=checks.drift.report,
    )
