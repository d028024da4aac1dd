"""How drift is judged: the policy (a model request's `checks.drift`), each feature's
method and threshold, and the severity of a share of drifted features.

The policy is a pydantic dataclass: an unknown key or a bad value fails by itself, where
the policy is built, and `from_dict` says which key and what it allows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from precalc_assets.quality.outcome import ERROR, PASS, WARN
from precalc_assets.quality.settings_errors import settings_error

# The two kinds of feature; each has its own method and threshold.
NUMERIC = "numeric"
CATEGORICAL = "categorical"

# Evidently 0.7's stat-test names (evidently.legacy.calculations.stattests), by feature kind.
NumericMethod = Literal[
    "anderson",
    "cramer_von_mises",
    "ed",
    "empirical_mmd",
    "es",
    "hellinger",
    "jensenshannon",
    "kl_div",
    "ks",
    "mannw",
    "psi",
    "t_test",
    "wasserstein",
]
CategoricalMethod = Literal[
    "TVD", "chisquare", "g_test", "hellinger", "jensenshannon", "kl_div", "psi", "z"
]
NUMERIC_METHODS = frozenset(get_args(NumericMethod))
CATEGORICAL_METHODS = frozenset(get_args(CategoricalMethod))
# The distances whose sampling noise was measured to scale as sqrt(1/n + 1/m); only they
# get the small-slice bound (a p-value accounts for the sample sizes itself).
NOISE_SCALED_METHODS = frozenset({"wasserstein", "jensenshannon"})

# A field's description is what its key allows, as an error message says it.
Share = Annotated[float, Field(strict=True, ge=0, le=1, description="a number between 0 and 1")]
Threshold = Annotated[
    float, Field(strict=True, gt=0, le=1, description="a number greater than 0 and at most 1")
]
PositiveInt = Annotated[int, Field(strict=True, ge=1, description="a positive integer")]
NoiseFactor = Annotated[
    float,
    Field(
        strict=True,
        ge=0,
        allow_inf_nan=False,
        description="a number >= 0 (0 keeps the fixed threshold at every slice size)",
    ),
]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class DriftPolicy:
    """How drift is measured and when it is a WARN or an ERROR.

    - `warn_share`, `error_share`: a slice WARNs when its share of drifted features
      exceeds `warn_share` (0.25, what the droughtwatch system alerted on), ERRORs above
      `error_share`. 1.0 never errors: a one-output model's share is 0 or 1, and a new
      chemical space is news (WARN), not a broken model.
    - `numeric_*`, `categorical_*`: normed Wasserstein distance (in standard deviations
      of the baseline) from 0.5 on, Jensen-Shannon distance from 0.1 on. Another method
      is Evidently's own stat test; for a p-value method the threshold is a p-value, and
      drift means *below* it.
    - `vector_dims`: the dimensions of a vector output compared one by one (plus its
      per-row mean): enough to see a fingerprint move, few enough for a small report.
    - `sample_rows`: a seeded sample per side; None compares every row.
    - `*_noise_factor`, `min_rows`: small slices (`feature_threshold`); a side with fewer
      than `min_rows` rows is not judged.

    Why these figures: docs/operations.md ("Checks and alerts"), benchmarks/README.md.
    """

    warn_share: Share = 0.25
    error_share: Share = 1.0
    numeric_method: Annotated[
        NumericMethod, Field(description="one of " + ", ".join(sorted(NUMERIC_METHODS)))
    ] = "wasserstein"
    numeric_threshold: Threshold = 0.5
    categorical_method: Annotated[
        CategoricalMethod, Field(description="one of " + ", ".join(sorted(CATEGORICAL_METHODS)))
    ] = "jensenshannon"
    categorical_threshold: Threshold = 0.1
    vector_dims: PositiveInt = 32
    sample_rows: Annotated[
        int | None, Field(strict=True, ge=1, description="a positive integer or null")
    ] = None
    numeric_noise_factor: NoiseFactor = 2.6
    categorical_noise_factor: NoiseFactor = 0.8
    min_rows: PositiveInt = 10

    @model_validator(mode="after")
    def _warn_at_most_error(self) -> DriftPolicy:
        """A WARN bound above the ERROR bound would never WARN."""
        if self.warn_share > self.error_share:
            raise ValueError(
                f"'warn_share' ({self.warn_share}) is greater than 'error_share' "
                f"({self.error_share}); make warn_share <= error_share"
            )
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str) -> DriftPolicy:
        """A policy from user config (e.g. a benchmark's `--policy`); None is the default.

        A bad one is a `ModelError` (a ValueError) naming `source` and the key, so a user
        can fix the file without reading code."""
        try:
            return TypeAdapter(cls).validate_python({} if data is None else data)
        except ValidationError as exc:
            raise settings_error(exc, cls, source, whole="the drift policy") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fixed_threshold(policy: DriftPolicy, kind: str) -> tuple[str, float]:
    """(method, fixed threshold) of a feature kind."""
    if kind == NUMERIC:
        return policy.numeric_method, policy.numeric_threshold
    return policy.categorical_method, policy.categorical_threshold


def feature_threshold(
    policy: DriftPolicy, kind: str, current_rows: int, reference_rows: int
) -> tuple[str, float]:
    """(method, threshold) of a feature with values in `current_rows` rows of the slice
    and `reference_rows` of the baseline.

    A distance between two samples of one library is not zero: measured, it scales as
    sqrt(1/n + 1/m) from 5 to 10,000 rows. So a noise-scaled distance drifts above
    max(fixed, k * sqrt(1/n + 1/m)), k the policy's noise factor of the kind: the fixed
    threshold from a few dozen rows on, the noise bound below. Other methods, or k = 0,
    keep the fixed threshold."""
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
