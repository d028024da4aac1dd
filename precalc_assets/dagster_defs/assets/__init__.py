"""The asset graph: library slices -> predictions -> validated -> published -> ledger."""

from precalc_assets.dagster_defs.assets.ledger import precalc_ledger
from precalc_assets.dagster_defs.assets.library import library_slices
from precalc_assets.dagster_defs.assets.predictions import predictions
from precalc_assets.dagster_defs.assets.publication import published_predictions
from precalc_assets.dagster_defs.assets.validation import validated_predictions

MODEL_ASSETS = [predictions, validated_predictions, published_predictions]
ALL_ASSETS = [library_slices, *MODEL_ASSETS, precalc_ledger]
