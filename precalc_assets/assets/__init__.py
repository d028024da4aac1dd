"""The asset graph: library slices -> predictions -> validated -> published."""

from precalc_assets.assets.ledger import precalc_ledger
from precalc_assets.assets.library import library_slices
from precalc_assets.assets.predictions import predictions
from precalc_assets.assets.publication import published_predictions
from precalc_assets.assets.validation import validated_predictions

MODEL_ASSETS = [predictions, validated_predictions, published_predictions]
ALL_ASSETS = [library_slices, *MODEL_ASSETS, precalc_ledger]

__all__ = [
    "ALL_ASSETS",
    "MODEL_ASSETS",
    "library_slices",
    "precalc_ledger",
    "predictions",
    "published_predictions",
    "validated_predictions",
]
