"""Bulk reads of the Parquet files: Athena (Glue) table DDL and DuckDB queries.

The files are `<dataset>/model=<m>/slice=<s>.parquet` (`layout`). The model is a
folder, but the slice is a *file name*, and Athena partitions are folders: a partition's
location, projected or not, must be a prefix ending in `/`, never an object. So there is
no `slice` partition (partition projection would point at `slice=<s>/` folders that do
not exist and return no rows, without an error). Each model x dataset is instead an
unpartitioned table over the model's folder: Athena lists the folder on every query, so
a newly published slice is read at once, with no `MSCK REPAIR` or projection to keep up
to date. The slice of a row comes from its file name (`"$path"` in Athena, `filename` in
DuckDB). Models get a table each because their output columns differ.

Column types mirror what `models.tables.predictions_to_arrow` writes (float64, int64,
bool, string, fixed-size lists of them); the tests compare them with real files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from precalc_assets import layout
from precalc_assets.models.published_columns import served_columns
from precalc_assets.models.spec import DETAIL_COLUMN, KEY_COLUMNS, REASON_COLUMN, OutputColumn
from precalc_assets.serving.lookup import check_models, registered_models
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.urls import path_from_url, split_url

VALIDATED = "validated"
PREDICTIONS = "predictions"
DATASETS = (VALIDATED, PREDICTIONS)
# Each dataset's file key, from the layout contract (the only place that spells it).
_FILES: dict[str, Callable[[str, str], str]] = {
    VALIDATED: layout.validated,
    PREDICTIONS: layout.predictions,
}
DATASET_DESCRIPTIONS = {
    VALIDATED: "rows that passed validation (what is served)",
    PREDICTIONS: "every row the model answered, before validation",
}

# Athena's types of what Parquet holds for each declared dtype (float64, int64, ...).
HIVE_TYPES = {"float": "double", "int": "bigint", "bool": "boolean", "str": "string"}
_KEY_TYPES = {"row": "bigint", "inchikey": "string", "smiles": "string"}
DEFAULT_DATABASE = "precalc"
# Athena lower-cases names; these are the characters a table name keeps.
_UNSAFE_IN_NAMES = re.compile(r"[^a-z0-9_]")
_DATABASE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NOT_IN_LOCATIONS = re.compile(r"['\\*?\[\]\s]")


class LakeError(ValueError):
    """DDL that cannot be generated as asked; the message says why and what to do."""


@dataclass(frozen=True)
class LakeTable:
    """One Athena table: a model's files of one dataset."""

    model_id: str
    dataset: str
    name: str
    columns: tuple[tuple[str, str], ...]  # (column name, Athena type), in file order
    location: str  # s3://.../<dataset>/model=<m>/


def file_pattern(dataset: str, model_id: str = "*") -> str:
    """The key glob of a dataset's files (of one model, or of all with `*`)."""
    return _FILES[dataset](model_id, "*")


def model_folder(dataset: str, model_id: str) -> str:
    key = _FILES[dataset](model_id, "s")
    return key[: key.rindex("/") + 1]


def slice_pattern(dataset: str = VALIDATED) -> str:
    """A regular expression whose group 1 is the slice key in a file's path or URL."""
    name = _FILES[dataset]("m", "\0").rpartition("/")[2]
    before, _, after = name.partition("\0")
    return f"{re.escape(before)}([^/]+){re.escape(after)}$"


def table_name(dataset: str, model_id: str) -> str:
    """`validated_eos3b5e`: the model ID with what Athena does not keep in names as `_`."""
    return f"{dataset}_{_UNSAFE_IN_NAMES.sub('_', model_id.lower())}"


def check_table_names(model_ids: Iterable[str]) -> None:
    """Two models whose tables would share a name are refused: with `IF NOT EXISTS`,
    the second model's DDL would silently keep the first model's table."""
    seen: dict[str, str] = {}
    for model_id in sorted(set(model_ids)):
        name = table_name(VALIDATED, model_id)
        if name in seen:
            raise LakeError(
                f"models {seen[name]!r} and {model_id!r} would both be the Athena tables "
                f"{name!r} and {table_name(PREDICTIONS, model_id)!r} (names keep only a-z, 0-9 "
                "and _); put their tables in different databases (--database) by hand, or "
                "register one of the models under another ID"
            )
        seen[name] = model_id


def check_database(name: str) -> str:
    if not isinstance(name, str) or not _DATABASE_NAME.fullmatch(name):
        raise LakeError(
            f"Athena database name {name!r}: use 1-255 lower-case letters, digits or _ "
            f"(e.g. {DEFAULT_DATABASE!r})"
        )
    return name


def quote(identifier: str) -> str:
    """A backtick-quoted name for Athena DDL (`row`, a reserved word, needs it too)."""
    if "`" in identifier or any(ord(ch) < 32 for ch in identifier):
        raise LakeError(
            f"column {identifier!r} cannot be named in Athena DDL (a backtick or a control "
            "character); rename the model's output column"
        )
    return f"`{identifier}`"


def hive_type(column: OutputColumn) -> str:
    element = HIVE_TYPES[column.dtype]
    return f"array<{element}>" if column.length else element


def table_columns(
    model_id: str, dataset: str, outputs: Sequence[OutputColumn]
) -> tuple[tuple[str, str], ...]:
    """Keys, the declared outputs in order, and for predictions `reason` and `detail`
    (null where the model answered; absent from the files of models that cannot fail per molecule,
    which Athena reads as null). Athena lower-cases column names and matches Parquet
    columns by name whatever their case, so two names equal but for case are refused."""
    columns = [(name, _KEY_TYPES[name]) for name in KEY_COLUMNS]
    columns += [(c.name.lower(), hive_type(c)) for c in outputs]
    if dataset == PREDICTIONS:
        columns += [(REASON_COLUMN, "string"), (DETAIL_COLUMN, "string")]
    names = [name for name, _ in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise LakeError(
            f"model {model_id!r}: the columns {twice} are one column to Athena (names are "
            "not case-sensitive, and the key columns row, inchikey, smiles come first); "
            "rename the model's output columns"
        )
    return tuple(columns)


def s3_root(url: str) -> str:
    """`s3://bucket[/prefix]`, without a trailing `/`: where the layout's keys start."""
    scheme, rest = split_url(url.strip()) if isinstance(url, str) else ("", "")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    parts = prefix.split("/") if prefix else []
    if (
        scheme != "s3"
        or not _BUCKET.fullmatch(bucket)
        or any(p in ("", ".", "..") for p in parts)
        or _NOT_IN_LOCATIONS.search(prefix)
    ):
        raise LakeError(
            f"{url!r} is not an S3 location Athena can read: use s3://bucket or "
            "s3://bucket/prefix (no empty parts, quotes, spaces or wildcards)"
        )
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def storage_root(store: ObjectStore) -> str:
    """Where the layout's keys start, as DuckDB names it: `s3://bucket/prefix` or a
    plain local path (DuckDB does not percent-decode `file://` URLs)."""
    scheme, rest = split_url(store.url)
    if scheme == "file":
        return str(path_from_url(rest))
    if scheme == "s3":
        return store.url.rstrip("/")
    raise LakeError(f"storage {store.url}: only file:// and s3:// storage can be read in bulk")


def lake_tables(
    store: ObjectStore,
    model_ids: Sequence[str] = (),
    datasets: Sequence[str] = DATASETS,
    location: str | None = None,
) -> tuple[list[LakeTable], list[str]]:
    """(tables, models skipped because they have published nothing yet).

    Without `model_ids`: every registered model with a columns document. A named model
    must be registered and have published. `location` is the S3 root the tables read
    (default: the storage URL, which must then be `s3://`).
    """
    if location is None and split_url(store.url)[0] != "s3":
        raise LakeError(
            f"storage {store.url} is not in S3, and Athena reads S3 only; pass "
            "--location s3://bucket/prefix naming where this storage's files are copied "
            "(e.g. with `aws s3 sync`), or use --duckdb to query the files where they are"
        )
    root = s3_root(location if location is not None else store.url)
    registered = registered_models(store)
    chosen = check_models(store, model_ids) if model_ids else registered
    check_table_names([*registered, *chosen])
    tables, skipped = [], []
    for model_id in chosen:
        outputs = served_columns(store, model_id)
        if not outputs:
            if model_ids:
                raise LakeError(
                    f"model {model_id!r} has published nothing yet (no "
                    f"{store.uri(layout.served_columns(model_id))}), so its columns are not "
                    "known; run it first (`precalc run`)"
                )
            skipped.append(model_id)
            continue
        for dataset in datasets:
            tables.append(
                LakeTable(
                    model_id=model_id,
                    dataset=dataset,
                    name=table_name(dataset, model_id),
                    columns=table_columns(model_id, dataset, outputs),
                    location=f"{root}/{model_folder(dataset, model_id)}",
                )
            )
    return tables, skipped


def create_table(table: LakeTable, database: str) -> str:
    """`CREATE EXTERNAL TABLE IF NOT EXISTS` over the model's folder, with comments on
    reading the slice from each row's file."""
    columns = ",\n".join(f"  {quote(name)} {kind}" for name, kind in table.columns)
    return (
        f"-- {table.model_id}: {table.dataset}, {DATASET_DESCRIPTIONS[table.dataset]}; one "
        "file per slice.\n"
        f"-- Slice of a row: regexp_extract(\"$path\", '{slice_pattern(table.dataset)}', 1)\n"
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {quote(database)}.{quote(table.name)} (\n"
        f"{columns}\n"
        ")\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{table.location}';"
    )


def athena_ddl(tables: Sequence[LakeTable], database: str = DEFAULT_DATABASE) -> str:
    """The database and every table, one statement each (Athena runs one at a time)."""
    check_database(database)
    header = (
        "-- Athena / Glue DDL for precalc's Parquet files: run each statement on its own.\n"
        "-- Tables are not partitioned (a slice is a file, not a folder): new slices are\n"
        "-- read at once, no MSCK REPAIR. After a model's columns change, DROP its tables\n"
        "-- and create them again (IF NOT EXISTS keeps an existing table as it is).\n"
        f"CREATE DATABASE IF NOT EXISTS {quote(database)};"
    )
    return "\n\n".join([header, *(create_table(t, database) for t in tables)]) + "\n"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_query(root: str, dataset: str = VALIDATED, model_ids: Sequence[str] = ()) -> str:
    """A DuckDB query over a dataset's files under `root` (a local path or s3://):
    `model` from the folder names (kept as text: autocast would turn a model `1234`
    into a number), `slice` from the file names, columns of all models by name."""
    base = root.rstrip("/")
    patterns = [f"{base}/{file_pattern(dataset, m)}" for m in model_ids] or [
        f"{base}/{file_pattern(dataset)}"
    ]
    files = (
        _sql_string(patterns[0])
        if len(patterns) == 1
        else "[" + ", ".join(_sql_string(p) for p in patterns) + "]"
    )
    lines = [f"-- {dataset}: {DATASET_DESCRIPTIONS[dataset]}"]
    if base.startswith("s3://"):
        lines += [
            "-- S3: INSTALL httpfs; LOAD httpfs; and credentials, e.g.",
            "-- CREATE SECRET (TYPE s3, PROVIDER credential_chain);  (needs the aws extension)",
        ]
    lines += [
        "SELECT",
        "    model,",
        f"    regexp_extract(filename, {_sql_string(slice_pattern(dataset))}, 1) AS slice,",
        "    * EXCLUDE (model, filename)",
        "FROM read_parquet(",
        f"    {files},",
        "    hive_partitioning = true,",
        "    hive_types = {'model': 'VARCHAR'},",
        "    union_by_name = true,",
        "    filename = true",
        ")",
    ]
    return "\n".join(lines)
