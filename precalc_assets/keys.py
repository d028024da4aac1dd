"""The names code and tools join on, each defined once: partition dimensions and keys,
run tags, asset keys and the run size. Free of Dagster.

Dagster joins the dimensions of a multi-partition key sorted by name, so a model x
slice partition reads `"<model>|<slice>"` (see `docs/contracts.md`).
"""

from __future__ import annotations

from precalc_assets.ids import InvalidIdError, validate_id

MODEL = "model"
SLICE = "slice"
SEPARATOR = "|"

# Dagster's own run tags: one partition, or the first and last key of a ranged run.
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
LIBRARY_FILE_TAG = "precalc/library_file"
# The partition or range a run covers, as people read it (`partition_span`). Dagster
# gives a run's tags back sorted by key and the UI's runs list hides the `dagster/` ones
# above, so this name sorts before the process tags (`processes.HOST_TAG` and the rest):
# the first tag the list shows is what the run covers.
COVERS_TAG = "precalc/covers"
# The directory where a run of `precalc run` tells its progress (orchestration.progress).
PROGRESS_TAG = "precalc/progress"

# Job names.
PRECALCULATE_JOB = "precalculate"
CHECK_PARTITIONS_JOB = "check_partitions"
LEDGER_JOB = "refresh_ledger"

# Asset keys.
LIBRARY_SLICES = "library_slices"
PREDICTIONS = "predictions"
VALIDATED_PREDICTIONS = "validated_predictions"
PUBLISHED_PREDICTIONS = "published_predictions"
LEDGER = "precalc_ledger"

# Asset check names, and the checks of each asset (the check definitions use them).
COMPLETENESS = "completeness"  # blocks publication
OUTPUT_SANITY = "output_sanity"
REPRODUCIBILITY = "reproducibility"
PREDICTION_DRIFT = "prediction_drift"
SERVING_READBACK = "serving_readback"
CHECKS_OF = {
    VALIDATED_PREDICTIONS: (COMPLETENESS,),
    PREDICTIONS: (OUTPUT_SANITY, REPRODUCIBILITY),
    PUBLISHED_PREDICTIONS: (PREDICTION_DRIFT, SERVING_READBACK),
}

# Dagster metadata names other code reads back (the ledger, the UI tests): defined once.
CODE_VERSION = "code_version"
TARGET = "target"  # the storage + serving table a publication went to
TAKEN_OVER = "taken_over"  # "<later slice>@<its run id>" -> its items an earlier slice took
ROWS_IN = "rows_in"
MOLECULES_PER_SECOND = "molecules_per_second"
MODEL_EXAMPLES = "model_examples"  # how served/repository models did on their examples
MODEL_INTERPRETERS = "model_interpreters"  # the environment each repository model ran in
# (rows out, rejected) labels of each asset's step metadata.
MOLECULES, REJECTED_ROWS = "molecules", "rejected_rows"  # library_slices
ROWS, REJECTED = "rows", "rejected"  # predictions
VALID_ROWS, QUARANTINED_ROWS = "valid_rows", "quarantined_rows"  # validated_predictions
ITEMS_PUBLISHED, NOT_PUBLISHED = "items_published", "not_published"  # published_predictions
DETAIL_CHARS = 120  # of a reason's detail in a table cell
NULLED_VALUES = "nulled_values"  # nullable column -> floats beyond the serving table's range


# Model x slice partitions in one run: a run's start-up is paid once for all of them,
# and a slice is parsed once for every model of the run.
PARTITIONS_PER_RUN = 8
SLICES_PER_RUN = 4
# Runs a worker process of `precalc run --workers N` executes before a fresh one takes its
# place: what a long-lived process keeps (caches, fragmented heap) is let go, so a
# worker's memory does not grow with the library.
RUNS_PER_WORKER = 8
# Partitions named in one query to Dagster's storage (SQL parameter limits).
PARTITIONS_PER_QUERY = 5_000


# A slice key is `<library-name>-<NNNN>`. Four digits up to this many slices, so keys of
# one library sort by position as strings (the serving table's first-slice-wins rule).
MAX_SLICES_PER_LIBRARY = 10_000
SLICE_INDEX_DIGITS = 4


def slice_key(name: str, index: int) -> str:
    return f"{name}-{index:0{SLICE_INDEX_DIGITS}d}"


def slice_position(key: str) -> tuple[str, int] | None:
    """(library name, index) of a `<library-name>-<NNNN>` slice key; None for other keys."""
    name, sep, number = key.rpartition("-")
    if not sep or not name or not number.isdigit():
        return None
    return name, int(number)


def library_of(slice_key: str) -> str:
    """The library of a `<library-name>-<NNNN>` slice key; the key itself for any other."""
    position = slice_position(slice_key)
    return position[0] if position else slice_key


def partition_id(model_id: str, slice_key: str) -> str:
    """The string form of a model x slice partition key: `"<model>|<slice>"`."""
    return f"{model_id}{SEPARATOR}{slice_key}"


def partition_span(start: str, end: str | None = None) -> str:
    """What a run covers, as people read it: `first .. last`, or its one partition."""
    return start if end is None or end == start else f"{start} .. {end}"


def run_tags(start: str, end: str | None = None) -> dict[str, str]:
    """A run's partition tags, `COVERS_TAG` among them: with Dagster's range tags when
    `end` is given, else `COVERS_TAG` alone (Dagster adds its own partition tag to a
    run given `partition_key`)."""
    tags = {COVERS_TAG: partition_span(start, end)}
    if end is not None:
        tags |= {RANGE_START_TAG: start, RANGE_END_TAG: end}
    return tags


def split_partition_id(key: str) -> tuple[str, str]:
    """(model, slice) of `"<model>|<slice>"`, both checked against the ID rules."""
    model_id, sep, slice_key = str(key).partition(SEPARATOR)
    if not sep or SEPARATOR in slice_key:
        raise InvalidIdError(
            f"partition key {key!r} is not of the form '<model>|<slice>' (e.g. 'eos3b5e|lib-0000')"
        )
    return validate_id(model_id, "model ID"), validate_id(slice_key, "slice key")


# The Dagster concurrency pool of the steps that write the serving table (deploy/dagster.yaml).
SERVING_POOL = "serving_table"
