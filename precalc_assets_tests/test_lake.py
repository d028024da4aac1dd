"""Bulk reads of the lake: the documented DuckDB query over a real run's files, and the
Athena DDL checked against the Parquet schemas that run wrote, so the writer and the DDL
cannot drift apart."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from precalc_assets import layout
from precalc_assets.cli import main
from precalc_assets.cli.lake import lake_ddl
from precalc_assets.lake import (
    PREDICTIONS,
    VALIDATED,
    LakeError,
    athena_ddl,
    duckdb_query,
    lake_tables,
    quote,
    s3_root,
    storage_root,
    table_columns,
    table_name,
)
from precalc_assets.models.builtin import BUILTIN_SPECS
from precalc_assets.models.published_columns import columns_document
from precalc_assets.models.spec import OutputColumn
from precalc_assets.stores.factory import open_object_store
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library

DOCS = Path(__file__).resolve().parents[1] / "docs" / "lake.md"
DOC_ROOT = "/path/to/storage"
SLICES = ["lib-0000", "lib-0001", "lib-0002"]
TYPES_MODEL = "all.types-1"  # a `.` and a `-`: both unsafe in table names
TYPES_SPEC = {
    "runner": "python",
    "callable": "precalc_assets_tests.test_lake:all_types",
    "columns": [
        {"name": "score", "dtype": "float"},
        {"name": "count", "dtype": "int"},  # a reserved word
        {"name": "flag", "dtype": "bool"},
        {"name": "label", "dtype": "str"},
        {"name": "log-p", "dtype": "float"},  # needs quoting
        {"name": "embedding", "dtype": "float", "length": 3},
        {"name": "mask", "dtype": "bool", "length": 4},
    ],
}


def all_types(smiles: list[str]) -> dict[str, list]:
    """One output of every dtype, scalar and vector: what the DDL must type."""
    return {
        "score": [len(s) / 2 for s in smiles],
        "count": [len(s) for s in smiles],
        "flag": ["N" in s for s in smiles],
        "label": [s[:3] for s in smiles],
        "log-p": [len(s) / 10 for s in smiles],
        "embedding": [[1.0, 2.0, float(len(s))] for s in smiles],
        "mask": [[True, False, "O" in s, "C" in s] for s in smiles],
    }


def precalc(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def lake(*args: str, ok: bool = True):
    result = CliRunner().invoke(lake_ddl, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def documented_query() -> str:
    """The DuckDB query of docs/lake.md (its first sql block)."""
    return re.search(r"```sql\n(.*?)```", DOCS.read_text(), re.S).group(1).strip()


# Athena's type for each Arrow type a Parquet file can hold (Athena reads Parquet int32 as
# int, float32 as float, ...): the files, not the writer's code, say what the DDL must be.
ATHENA_OF_ARROW = {
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.string(): "string",
    pa.large_string(): "string",
}


def athena_type(arrow: pa.DataType) -> str:
    if pa.types.is_list(arrow) or pa.types.is_fixed_size_list(arrow):
        return f"array<{athena_type(arrow.value_type)}>"
    return ATHENA_OF_ARROW[arrow]


def ddl_columns(ddl: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of one table's column list, parsed from the printed DDL."""
    body = re.search(rf"\.`{re.escape(table)}` \(\n(.*?)\n\)\nSTORED AS PARQUET", ddl, re.S)
    assert body, f"no CREATE TABLE of {table} in:\n{ddl}"
    return [re.fullmatch(r"  `([^`]+)` (\S+?),?", line).groups() for line in body[1].split("\n")]


def ddl_location(ddl: str, table: str) -> str:
    start = ddl.index(f".`{table}` (")
    return re.search(r"LOCATION '([^']+)';", ddl[start:])[1]


def test_documented_duckdb_query_and_athena_ddl_match_a_real_run(local_project, tmp_path):
    lines = nci_lines(60)
    library = write_library(tmp_path / "lib.smi", lines)
    precalc("add-library", str(library), "--slice-size", "20")
    precalc("add-model", "eos3b5e")
    precalc("add-model", "morgan-fp2048")
    spec_path = tmp_path / "types.json"
    spec_path.write_text(json.dumps(TYPES_SPEC))
    precalc("add-model", TYPES_MODEL, "--spec", str(spec_path))
    precalc("run", "--workers", "1")
    models = ["eos3b5e", "morgan-fp2048", TYPES_MODEL]
    store = local_project.store()
    root = storage_root(store)
    ledger = {(r.model, r.slice): r for r in local_project.ledger()}
    assert {key: r.status for key, r in ledger.items()} == {
        (m, s): "done" for m in models for s in SLICES
    }

    # The documented query is what `duckdb_query` prints, and it runs on the real files.
    assert documented_query() == duckdb_query(DOC_ROOT)
    relation = duckdb.sql(documented_query().replace(DOC_ROOT, root))
    assert relation.columns[:5] == ["model", "slice", "row", "inchikey", "smiles"]
    assert {"mol_weight", "bits", "score", "log-p", "embedding"} <= set(relation.columns)
    frame = relation.df()
    counts = Counter(zip(frame["model"], frame["slice"], strict=True))
    serving = local_project.serving()
    expected = expected_molecules(lines)
    for model_id in models:
        served = serving.get_many(model_id, list(expected))
        assert set(served) == set(expected)  # every molecule once: no slice took another's
        served_counts = Counter(item.slice_key for item in served.values())
        for slice_key in SLICES:
            rows = counts[(model_id, slice_key)]
            assert rows == ledger[(model_id, slice_key)].rows_published > 0
            assert rows == served_counts[slice_key]
            path = store.root / layout.validated(model_id, slice_key)
            assert rows == pq.read_metadata(path).num_rows

    weights = frame[frame["model"] == "eos3b5e"]
    served = serving.get_many("eos3b5e", list(weights["inchikey"]))
    assert len(weights) == len(expected)
    for key, weight, slice_key in zip(
        weights["inchikey"], weights["mol_weight"], weights["slice"], strict=True
    ):
        assert weight == served[key].outputs[0]  # the same float64, bit for bit
        assert slice_key == served[key].slice_key

    # One model, and the predictions dataset: lists stay lists, counts match the files.
    bits = duckdb.sql(duckdb_query(root, VALIDATED, ["morgan-fp2048"])).df()
    assert set(bits["model"]) == {"morgan-fp2048"} and "mol_weight" not in bits.columns
    served = serving.get_many("morgan-fp2048", list(bits["inchikey"]))
    for key, vector in zip(bits["inchikey"], bits["bits"], strict=True):
        assert list(vector) == list(served[key].outputs) and len(vector) == 2048
    predicted = duckdb.sql(duckdb_query(root, PREDICTIONS)).df()
    counts = Counter(zip(predicted["model"], predicted["slice"], strict=True))
    for model_id in models:
        for slice_key in SLICES:
            path = store.root / layout.predictions(model_id, slice_key)
            assert counts[(model_id, slice_key)] == pq.read_metadata(path).num_rows

    # The DDL's columns and types are those of the files the run wrote.
    tables, skipped = lake_tables(store, (), (VALIDATED, PREDICTIONS), "s3://lake-copy/precalc/")
    assert skipped == []
    ddl = athena_ddl(tables, "lab")
    assert {t.name for t in tables} == {
        f"{d}_{m}" for d in (VALIDATED, PREDICTIONS) for m in ("eos3b5e", "morgan_fp2048")
    } | {"validated_all_types_1", "predictions_all_types_1"}
    for model_id in models:
        for dataset, key in ((VALIDATED, layout.validated), (PREDICTIONS, layout.predictions)):
            schema = pq.read_schema(store.root / key(model_id, SLICES[1]))
            written = [(f.name.lower(), athena_type(f.type)) for f in schema]
            name = table_name(dataset, model_id)
            declared = ddl_columns(ddl, name)
            if dataset == PREDICTIONS:  # reasons: only http and command models write them
                assert declared[-2:] == [("reason", "string"), ("detail", "string")]
                declared = declared[:-2]
            assert declared == written, f"{name}: DDL {declared} != file {written}"
            assert ddl_location(ddl, name) == (
                f"s3://lake-copy/precalc/{dataset}/model={model_id}/"
            )
    assert ("bits", "array<bigint>") in ddl_columns(ddl, "validated_morgan_fp2048")
    assert ddl_columns(ddl, "validated_all_types_1")[3:] == [
        ("score", "double"),
        ("count", "bigint"),
        ("flag", "boolean"),
        ("label", "string"),
        ("log-p", "double"),
        ("embedding", "array<double>"),
        ("mask", "array<boolean>"),
    ]


def write_published(store, model_ids: list[str]) -> None:
    """Registered models with the columns document a first publish writes (no run)."""
    for model_id in model_ids:
        store.put_bytes(layout.model_request(model_id), b"{}")
        spec = BUILTIN_SPECS[model_id]
        document = columns_document(model_id, spec.code_version, spec.columns)
        store.put_bytes(layout.served_columns(model_id), document)


def test_lake_ddl_command_on_s3_storage(aws_project):
    storage_url = os.environ["PRECALC_STORAGE_URL"]
    store = open_object_store(storage_url)
    write_published(store, ["eos3b5e", "morgan-fp2048"])
    store.put_bytes(layout.model_request("rdkit-physchem"), b"{}")  # nothing published

    result = lake()
    ddl = result.stdout
    assert "skipped (nothing published yet, columns unknown): rdkit-physchem" in result.stderr
    assert ddl.count("CREATE EXTERNAL TABLE IF NOT EXISTS") == 2
    assert "CREATE DATABASE IF NOT EXISTS `precalc`;" in ddl
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `precalc`.`validated_morgan_fp2048` (" in ddl
    assert ddl_columns(ddl, "validated_morgan_fp2048") == [
        ("row", "bigint"),
        ("inchikey", "string"),
        ("smiles", "string"),
        ("bits", "array<bigint>"),
    ]
    assert ddl_columns(ddl, "validated_eos3b5e")[3:] == [("mol_weight", "double")]
    assert ddl_location(ddl, "validated_morgan_fp2048") == (
        f"{storage_url}/validated/model=morgan-fp2048/"
    )
    assert storage_url.startswith("s3://") and storage_url.endswith("/precalc")
    assert "PARTITIONED BY" not in ddl and "MSCK" in ddl  # the header says why not needed

    both = lake("--model", "morgan-fp2048", "--dataset", "both", "--database", "lab").stdout
    assert both.count("CREATE EXTERNAL TABLE") == 2 and "eos3b5e" not in both
    assert ddl_columns(both, "predictions_morgan_fp2048")[-2:] == [
        ("reason", "string"),
        ("detail", "string"),
    ]
    assert ddl_location(both, "predictions_morgan_fp2048") == (
        f"{storage_url}/predictions/model=morgan-fp2048/"
    )
    assert "`lab`.`predictions_morgan_fp2048`" in both

    query = lake("--duckdb").stdout
    assert f"'{storage_url}/validated/model=*/slice=*.parquet'" in query
    assert "INSTALL httpfs; LOAD httpfs;" in query

    named = lake("--model", "rdkit-physchem", ok=False)
    assert named.exit_code == 1 and "'rdkit-physchem' has published nothing yet" in named.output
    unknown = lake("--model", "eos9zzz", ok=False)
    assert unknown.exit_code == 1 and "registered models: eos3b5e, morgan-fp2048" in unknown.output
    bad = lake("--database", "Lab-1", ok=False)
    assert bad.exit_code == 1 and "Athena database name 'Lab-1'" in bad.output


def test_lake_ddl_on_local_storage_needs_an_s3_location(local_project):
    store = local_project.store()
    write_published(store, ["eos3b5e"])
    refused = lake(ok=False)
    assert refused.exit_code == 1
    assert "Athena reads S3 only" in refused.output and "--location" in refused.output
    ddl = lake("--location", "s3://lake-copy/runs/2026/").stdout
    assert ddl_location(ddl, "validated_eos3b5e") == (
        "s3://lake-copy/runs/2026/validated/model=eos3b5e/"
    )
    query = lake("--duckdb", "--dataset", "both").stdout
    root = storage_root(store)
    assert root == str(store.root) and not root.startswith("file:")
    assert f"'{root}/validated/model=*/slice=*.parquet'" in query
    assert f"'{root}/predictions/model=*/slice=*.parquet'" in query
    assert "httpfs" not in query
    bad = lake("--location", "s3://lake-copy/a//b", ok=False)
    assert bad.exit_code == 1 and "not an S3 location Athena can read" in bad.output


def test_models_whose_table_names_collide_are_refused(local_project):
    store = local_project.store()
    write_published(store, ["eos3b5e"])
    for model_id in ("fp-2", "fp.2"):
        store.put_bytes(layout.model_request(model_id), b"{}")
    with pytest.raises(LakeError, match="'fp-2' and 'fp.2' would both be the Athena tables"):
        lake_tables(store, ["eos3b5e"], location="s3://b-1/p")


def test_identifiers_and_locations():
    assert table_name(VALIDATED, "morgan-fp2048") == "validated_morgan_fp2048"
    assert table_name(PREDICTIONS, "a.b_c-1") == "predictions_a_b_c_1"
    assert quote("row") == "`row`"
    with pytest.raises(LakeError, match="backtick"):
        quote("a`b")
    with pytest.raises(LakeError, match=r"\['score'\] are one column to Athena"):
        table_columns("m", VALIDATED, [OutputColumn("score"), OutputColumn("Score")])
    with pytest.raises(LakeError, match=r"\['row'\]"):
        table_columns("m", VALIDATED, [OutputColumn("ROW")])
    assert s3_root("s3://bucket/a/b/") == "s3://bucket/a/b"
    assert s3_root("s3://bucket") == "s3://bucket"
    for bad in ("file:///tmp/x", "s3://", "s3://Bucket/x", "s3://b-1/x*", "s3://b-1/it's"):
        with pytest.raises(LakeError, match="not an S3 location"):
            s3_root(bad)
