"""Object-storage keys: the layout other tools rely on (`docs/contracts.md`).

Hive-style `model=<m>/slice=<s>` folders so Athena, DuckDB or Spark can read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from precalc_assets.ids import ID_PATTERN

LIBRARY_INPUTS = "inputs/library/"
MODEL_REQUESTS = "inputs/models/"


def library_input(name: str, suffix: str) -> str:
    return f"{LIBRARY_INPUTS}{name}.{suffix}"


def model_request(model_id: str) -> str:
    return f"{MODEL_REQUESTS}{model_id}.json"


def model_request_id(key: str) -> str | None:
    """The model ID a request key names (`inputs/models/<id>.json`), else None."""
    if not key.startswith(MODEL_REQUESTS) or not key.endswith(".json"):
        return None
    return key[len(MODEL_REQUESTS) : -len(".json")]


def model_card(model_id: str) -> str:
    """What a served model or a repository last said of itself, and its examples' check."""
    return f"models/cards/{model_id}.json"


def registered_model_ids(listed: Iterable[str]) -> list[str]:
    """The valid model IDs among listed keys that are model requests."""
    found = (model_request_id(key) for key in listed)
    return sorted(m for m in found if m is not None and ID_PATTERN.fullmatch(m))


def served_columns(model_id: str) -> str:
    """The output columns (names, types, vector lengths) of what is published for a model:
    what a lookup needs to name each value of an item's `Precalculation`."""
    return f"models/columns/{model_id}.json"


def computed_folder(model_id: str) -> str:
    return f"computed/model={model_id}/"


def computed_predictions(model_id: str, name: str, rows: int) -> str:
    """Predictions a lookup computed for molecules the serving table did not hold; the
    name says how many, so counting them needs a listing only."""
    return f"{computed_folder(model_id)}{name}-n{rows}.parquet"


def computed_rows_of(key: str) -> int:
    """The rows a `computed_predictions` key says it holds (0 for any other key)."""
    match = re.search(r"-n(\d+)\.parquet$", key)
    return int(match.group(1)) if match else 0


LIBRARY_MANIFESTS = "library/manifests/"


def library_manifest(name: str) -> str:
    return f"{LIBRARY_MANIFESTS}{name}.json"


def raw_slice(slice_key: str) -> str:
    """The slice's raw input rows, cut from the library file at registration."""
    return f"library/raw/{slice_key}.parquet"


def library_slice(slice_key: str) -> str:
    return f"library/{slice_key}.parquet"


def rejected_library_rows(slice_key: str) -> str:
    return f"rejected/library/{slice_key}.parquet"


def predictions(model_id: str, slice_key: str) -> str:
    return f"predictions/model={model_id}/slice={slice_key}.parquet"


def validated(model_id: str, slice_key: str) -> str:
    return f"validated/model={model_id}/slice={slice_key}.parquet"


def quarantined(model_id: str, slice_key: str) -> str:
    return f"rejected/predictions/model={model_id}/slice={slice_key}.parquet"


LEDGER_PARTITIONS_PARQUET = "ledger/partitions.parquet"
LEDGER_PARTITIONS_CSV = "ledger/partitions.csv"
LEDGER_MODELS_JSON = "ledger/models.json"
REJECTED_INPUTS_JSON = "ledger/rejected_inputs.json"


def ledger_cache(instance_id: str) -> str:
    """The ledger's cache of materialisation facts, one per Dagster instance."""
    return f"ledger/cache/instance={instance_id}.parquet"


def previous_predictions(model_id: str, slice_key: str) -> str:
    """The predictions a re-materialisation replaced (for the reproducibility check)."""
    return f"history/predictions/model={model_id}/slice={slice_key}.parquet"


def drift_report(model_id: str, slice_key: str) -> str:
    """Evidently's HTML report of a slice's drift against the model's baseline."""
    return f"drift/reports/model={model_id}/slice={slice_key}.html"


def drift_baselines(model_id: str) -> str:
    """The folder of a model's pinned drift baselines, one per library."""
    return f"drift/baselines/model={model_id}/"


def drift_baseline(model_id: str, library: str) -> str:
    """Which slice is the model's drift baseline for a library, pinned on first use."""
    return f"{drift_baselines(model_id)}library={library}.json"


CODE_VERSION_KEY = b"precalc.code_version"  # in the Parquet schema metadata
