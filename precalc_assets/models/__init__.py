"""Model catalog, specs and runners."""

from precalc_assets.models.catalog import builtin_ids, parse_request, resolve_spec
from precalc_assets.models.runners import Runner, run_model, runner_for
from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn

__all__ = [
    "ModelError",
    "ModelSpec",
    "OutputColumn",
    "Runner",
    "builtin_ids",
    "parse_request",
    "resolve_spec",
    "run_model",
    "runner_for",
]
