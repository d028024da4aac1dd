"""End to end through Dagster on both backends: slices -> predictions -> validated ->
published, with the storage layout and serving items of docs/contracts.md."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets import layout
from precalc_assets.chem import identify
from precalc_assets.ledger.summary import summarize, work_to_do
from precalc_assets.orchestration.execution import run_missing
from precalc_assets.steps import publish
from precalc_assets.stores.dynamodb import DynamoServingTable
from precalc_assets.stores.serving_table import ServingItem
from precalc_assets_tests.faulty_models import FAIL_SWITCH
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library

BAD_ROWS = ["", "   ", "not-a-smiles", "C1CC", "[H+]"]  # empty, blank, garbage, unclosed ring


def test_partition_computes_validates_and_publishes(project, tmp_path):
    lines = nci_lines(250) + BAD_ROWS
    project.add_library(write_library(tmp_path / "lib.smi", lines), "lib", slice_size=255)
    project.add_model("eos3b5e")

    result = project.precalculate("eos3b5e", "lib-0000")
    assert result.success

    store = project.store()
    for key in (
        layout.library_slice("lib-0000"),
        layout.rejected_library_rows("lib-0000"),
        layout.predictions("eos3b5e", "lib-0000"),
        layout.validated("eos3b5e", "lib-0000"),
    ):
        assert store.exists(key), key
    expected = expected_molecules(lines)
    served = project.serving().get_many("eos3b5e", list(expected))
    assert set(served) == set(expected)
    for key, item in served.items():
        assert item.smiles == expected[key]
        want = Descriptors.MolWt(Chem.MolFromSmiles(expected[key]))
        assert item.outputs[0] == pytest.approx(want, rel=1e-9)
    meta = project.latest_metadata("published_predictions", "eos3b5e|lib-0000")
    assert meta["items_published"] == len(expected)
    rejects = store.read_parquet(layout.rejected_library_rows("lib-0000")).to_pandas()
    assert set(rejects["reason"]) >= {"empty", "unparseable"}
    # The slice was prepared inside this run and recorded as a materialisation.
    library_meta = project.latest_metadata("library_slices", "lib-0000")
    assert library_meta["molecules"] + library_meta["rejected_rows"] == len(lines)


def test_rerun_is_idempotent(project, tmp_path):
    project.add_library(write_library(tmp_path / "lib.smi", nci_lines(120)), "lib", slice_size=60)
    project.add_model("eos3b5e")
    assert project.precalculate("eos3b5e", "lib-0001").success
    serving = project.serving()
    first = serving.count("eos3b5e")
    assert first == len(expected_molecules(nci_lines(60, start=60)))
    assert project.precalculate("eos3b5e", "lib-0001").success
    assert serving.count("eos3b5e") == first


def test_every_builtin_model_over_all_slices(local_project, tmp_path):
    lines = nci_lines(300)
    local_project.add_library(write_library(tmp_path / "lib.smi", lines), "lib", slice_size=100)
    for model_id in ("eos3b5e", "morgan-fp2048", "rdkit-physchem"):
        local_project.add_model(model_id)
    instance = local_project.instance
    plan = work_to_do(local_project.ledger())
    assert sum(len(m) for m in plan.values()) == 9
    summary = run_missing(local_project.defs, instance, plan, echo=lambda _: None)
    assert not summary.failures and len(summary.partitions_done) == 9
    assert work_to_do(local_project.ledger()) == {}
    assert all(s.complete for s in summarize(local_project.ledger()))

    serving = local_project.serving()
    expected = expected_molecules(lines)
    key = next(iter(expected))
    fingerprint = serving.get_many("morgan-fp2048", [key])[key].outputs
    assert len(fingerprint) == 2048 and set(fingerprint) <= {0, 1}
    physchem = serving.get_many("rdkit-physchem", [key])[key].outputs
    assert len(physchem) == 8
    frame = local_project.predictions_parquet("morgan-fp2048", "lib-0000")
    assert list(frame.columns) == ["row", "inchikey", "smiles", "bits"]


def test_each_partition_of_a_ranged_run_shows_its_own_figures(local_project, tmp_path):
    """One run over 2 models x 3 slices: each partition's page reads that partition's
    rows and reasons, not the run's totals (the UI shows a materialisation's metadata)."""
    lines = nci_lines(230) + BAD_ROWS  # slices of 100, 100 and 35 rows
    local_project.add_library(write_library(tmp_path / "lib.smi", lines), "lib", slice_size=100)
    for model_id in MODELS_OF_ONE_RUN:
        local_project.add_model(model_id)
    plan = work_to_do(local_project.ledger())
    summary = run_missing(local_project.defs, local_project.instance, plan, echo=lambda _: None)
    assert not summary.failures and len(summary.partitions_done) == 6
    assert len(local_project.instance.get_runs()) == 1  # one ranged run did all six
    for index in range(3):
        slice_key = f"lib-{index:04d}"
        rows = lines[index * 100 : (index + 1) * 100]
        molecules = len(expected_molecules(rows))
        library = local_project.latest_metadata("library_slices", slice_key)
        assert (library["rows_in"], library["molecules"]) == (len(rows), molecules)
        assert library["rejected_rows"] == len(rows) - molecules
        for model_id in MODELS_OF_ONE_RUN:
            meta = local_project.latest_metadata("published_predictions", f"{model_id}|{slice_key}")
            assert (meta["rows_in"], meta["items_published"]) == (molecules, molecules)
            assert meta["molecules_per_second"] > 0 and "partitions" not in meta
    bad = local_project.latest_metadata("library_slices", "lib-0002")
    assert "| empty | 2 |\n| unparseable | 2 |" in bad["rejected_rows_by_reason"]


MODELS_OF_ONE_RUN = ("eos3b5e", "rdkit-physchem")


def test_model_crash_publishes_nothing_and_rerun_completes(project, tmp_path, monkeypatch):
    project.add_library(write_library(tmp_path / "lib.smi", nci_lines(80)), "lib", slice_size=80)
    project.add_model(
        "crashy",
        {
            "runner": "python",
            "callable": "precalc_assets_tests.faulty_models:weight_or_crash",
            "columns": [{"name": "mol_weight", "dtype": "float"}],
        },
    )
    monkeypatch.setenv(FAIL_SWITCH, "1")
    result = project.precalculate("crashy", "lib-0000")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "crashy" in str(failure.step_failure_data.error)
    assert "crashed halfway" in str(failure.step_failure_data.error)
    serving = project.serving()
    serving.ensure_table()
    assert serving.count("crashy") == 0
    assert not project.store().exists(layout.predictions("crashy", "lib-0000"))

    monkeypatch.delenv(FAIL_SWITCH)
    assert project.precalculate("crashy", "lib-0000").success
    assert serving.count("crashy") == len(expected_molecules(nci_lines(80)))


def test_wrong_row_count_fails_naming_the_model(local_project, tmp_path):
    local_project.add_library(write_library(tmp_path / "l.smi", nci_lines(30)), "lib", 30)
    local_project.add_model(
        "short",
        {
            "runner": "python",
            "callable": "precalc_assets_tests.faulty_models:one_row_short",
            "columns": ["mol_weight"],
        },
    )
    result = local_project.precalculate("short", "lib-0000")
    assert not result.success
    message = str(next(e for e in result.all_events if e.is_step_failure).step_failure_data.error)
    assert "'short' returned 29 rows for 30 molecules" in message


def test_nan_rows_are_quarantined_not_published(project, tmp_path):
    lines = nci_lines(100)
    project.add_library(write_library(tmp_path / "l.smi", lines), "lib", 100)
    project.add_model(
        "nanny",
        {
            "runner": "python",
            "callable": "precalc_assets_tests.faulty_models:nan_for_nitrogen",
            "columns": [{"name": "score", "dtype": "float"}],
        },
    )
    assert project.precalculate("nanny", "lib-0000").success
    expected = expected_molecules(lines)
    with_n = {k for k, s in expected.items() if "N" in s.upper()}
    assert 0 < len(with_n) < len(expected)
    served = project.serving().get_many("nanny", list(expected))
    assert set(served) == set(expected) - with_n
    quarantined = project.store().read_parquet(layout.quarantined("nanny", "lib-0000")).to_pandas()
    assert len(quarantined) == len(with_n)
    assert set(quarantined["reason"]) == {"not_nullable"}
    assert set(quarantined["detail"]) == {"score: not_nullable"}
    meta = project.latest_metadata("validated_predictions", "nanny|lib-0000")
    assert meta["quarantined_rows"] == len(with_n)
    assert (
        f"| not_nullable | {len(with_n)} | score: not_nullable |"
        in (meta["quarantined_rows_by_reason"])
    )


def test_string_partition_key_is_accepted(local_project, tmp_path):
    """`dagster job execute --tags dagster/partition=m|s` hands assets a plain string."""
    local_project.add_library(write_library(tmp_path / "l.smi", nci_lines(20)), "lib", 20)
    local_project.add_model("eos3b5e")
    job = local_project.defs.resolve_job_def("precalculate")
    result = job.execute_in_process(
        instance=local_project.instance, tags={"dagster/partition": "eos3b5e|lib-0000"}
    )
    assert result.success
    assert local_project.serving().count("eos3b5e") == len(expected_molecules(nci_lines(20)))


def test_unregistered_model_partition_says_how_to_register(local_project, tmp_path):
    local_project.add_library(write_library(tmp_path / "l.smi", nci_lines(10)), "lib", 10)
    local_project.instance.add_dynamic_partitions("model", ["eos3b5e"])  # partition only
    result = local_project.precalculate("eos3b5e", "lib-0000")
    assert not result.success
    message = str(next(e for e in result.all_events if e.is_step_failure).step_failure_data.error)
    assert "precalc add-model eos3b5e" in message


def test_predictions_parquet_is_hive_readable(local_project, tmp_path):
    local_project.add_library(write_library(tmp_path / "l.smi", nci_lines(40)), "lib", 20)
    local_project.add_model("eos3b5e")
    for slice_key in ("lib-0000", "lib-0001"):
        assert local_project.precalculate("eos3b5e", slice_key).success
    root = local_project.home / "home" / "storage" / "predictions"
    frame = pd.read_parquet(root)  # pyarrow discovers the model=<m> folders
    assert set(frame["model"].astype(str)) == {"eos3b5e"}
    assert len(frame) == len(expected_molecules(nci_lines(20))) + len(
        expected_molecules(nci_lines(20, start=20))
    )
    assert sorted(p.name for p in (root / "model=eos3b5e").iterdir()) == [
        "slice=lib-0000.parquet",
        "slice=lib-0001.parquet",
    ]


def test_ranged_run_materialises_every_partition_from_one_parse(local_project, tmp_path):
    """What a backfill with the multi-run policy does: several partitions in one run."""
    lines = nci_lines(60)
    local_project.add_library(write_library(tmp_path / "l.smi", lines), "lib", 30)
    for model_id in ("eos3b5e", "rdkit-physchem"):
        local_project.add_model(model_id)
    job = local_project.defs.resolve_job_def("precalculate")
    result = job.execute_in_process(
        instance=local_project.instance,
        tags={
            "dagster/asset_partition_range_start": "eos3b5e|lib-0000",
            "dagster/asset_partition_range_end": "rdkit-physchem|lib-0001",
        },
    )
    assert result.success
    done = local_project.instance.get_materialized_partitions(dg.AssetKey("published_predictions"))
    assert done == {f"{m}|lib-000{i}" for m in ("eos3b5e", "rdkit-physchem") for i in (0, 1)}
    serving = local_project.serving()
    assert serving.count("eos3b5e") == serving.count("rdkit-physchem") > 0
    meta = local_project.latest_metadata("published_predictions", "eos3b5e|lib-0001")
    assert meta["items_published"] == len(expected_molecules(lines[30:]))  # its own figure


def test_persistent_throttling_fails_the_run_clearly_and_rerun_completes(
    aws_project, tmp_path, monkeypatch
):
    """DynamoDB keeps handing items back as UnprocessedItems: the run must fail saying
    so (never report success with items missing), and a later run completes."""
    aws_project.add_library(write_library(tmp_path / "l.smi", nci_lines(60)), "lib", 60)
    aws_project.add_model("eos3b5e")
    real_call = DynamoServingTable._call
    throttled = {"on": True, "calls": 0}

    def throttling_call(self, action, operation, **kwargs):
        response = real_call(self, action, operation, **kwargs)
        if operation == "batch_write_item" and throttled["on"]:
            throttled["calls"] += 1
            return {"UnprocessedItems": kwargs["RequestItems"]}  # nothing was taken
        return response

    monkeypatch.setattr(DynamoServingTable, "_call", throttling_call)
    monkeypatch.setattr(DynamoServingTable, "_backoff", lambda self, attempt: None)
    result = aws_project.precalculate("eos3b5e", "lib-0000")
    assert not result.success
    message = str(next(e for e in result.all_events if e.is_step_failure).step_failure_data.error)
    assert "UnprocessedItems" in message and "re-running is safe" in message
    assert throttled["calls"] >= 10  # re-sent with backoff before giving up
    done = aws_project.instance.get_materialized_partitions(dg.AssetKey("published_predictions"))
    assert "eos3b5e|lib-0000" not in done

    throttled["on"] = False
    assert aws_project.precalculate("eos3b5e", "lib-0000").success
    assert aws_project.serving().count("eos3b5e") == len(expected_molecules(nci_lines(60)))


@pytest.mark.parametrize("order", [("lib-0000", "lib-0001"), ("lib-0001", "lib-0000")])
def test_duplicate_key_across_slices_keeps_the_first_row(project, tmp_path, order):
    """2-hydroxypyridine (slice 0) and 2-pyridone (slice 1) share one standard InChIKey:
    the first row is served whichever slice is published first."""
    lines = ["Oc1ccccn1", "CCO", "O=c1cccc[nH]1", "CCN"]
    project.add_library(write_library(tmp_path / "l.smi", lines), "lib", slice_size=2)
    project.add_model("eos3b5e")
    for slice_key in order:
        assert project.precalculate("eos3b5e", slice_key).success
    key = identify("Oc1ccccn1")[2]
    assert key == identify("O=c1cccc[nH]1")[2]
    served = project.serving().get_many("eos3b5e", [key])[key]
    assert (served.smiles, served.slice_key) == ("Oc1ccccn1", "lib-0000")
    meta = project.latest_metadata("published_predictions", "eos3b5e|lib-0001")
    if order[0] == "lib-0000":
        assert (meta["items_published"], meta["not_published"]) == (1, 1)
    # Re-running the later slice never takes the item over.
    assert project.precalculate("eos3b5e", "lib-0001").success
    served = project.serving().get_many("eos3b5e", [key])[key]
    assert served.slice_key == "lib-0000"
    assert project.serving().count("eos3b5e") == 3


def test_an_earlier_slice_written_after_the_later_one_looked_still_wins(
    project, tmp_path, monkeypatch
):
    """Two runs at once: slice 0's item lands between slice 1's look at the table and its
    write. The store keeps slice 0's item, and slice 1 counts the row as not published."""
    lines = ["Oc1ccccn1", "CCO", "O=c1cccc[nH]1", "CCN"]
    project.add_library(write_library(tmp_path / "l.smi", lines), "lib", slice_size=2)
    project.add_model("eos3b5e")
    key = identify("Oc1ccccn1")[2]
    earlier = ServingItem(key, "eos3b5e", "Oc1ccccn1", (95.1,), "lib-0000", "run-0", "v", "t")
    look = publish.served_by_other_slices

    def look_then_race(serving, *args):
        seen = look(serving, *args)
        serving.upsert([earlier])  # the other run's write, just after this run looked
        return seen

    monkeypatch.setattr(publish, "served_by_other_slices", look_then_race)
    assert project.precalculate("eos3b5e", "lib-0001").success
    served = project.serving().get_many("eos3b5e", [key])[key]
    assert (served.smiles, served.slice_key, served.run_id) == ("Oc1ccccn1", "lib-0000", "run-0")
    meta = project.latest_metadata("published_predictions", "eos3b5e|lib-0001")
    assert (meta["items_published"], meta["not_published"]) == (1, 1)
