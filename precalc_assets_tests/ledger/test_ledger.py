"""The ledger, read from Dagster's materialisation history, drives `precalc run`."""

from __future__ import annotations

import json

import dagster as dg
from click.testing import CliRunner

from precalc_assets import layout
from precalc_assets.cli import main
from precalc_assets.dagster_defs.assets import precalc_ledger, publication
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.ledger.summary import other_target_lines, work_to_do
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.orchestration.ledger_reads import build_ledger
from precalc_assets.stores.urls import history_target
from precalc_assets_tests.faulty_models import FAIL_SWITCH
from precalc_assets_tests.molecules import nci_lines, write_library

WEIGHT = "precalc_assets_tests.faulty_models:weight_or_crash"


def precalc(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def ledger_json() -> dict:
    return {
        m["model"]: m for m in json.loads(precalc("ledger", "--format", "json").output)["models"]
    }


def write_spec(tmp_path, name: str, **extra) -> str:
    spec = {"runner": "python", "callable": WEIGHT, "columns": ["mol_weight"], **extra}
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def test_ledger_reports_missing_then_complete(local_project, tmp_path):
    precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(40))), "--slice-size", "20"
    )
    precalc("add-model", "eos3b5e")
    before = ledger_json()["eos3b5e"]
    assert before["missing"] == ["lib-0000", "lib-0001"] and not before["complete"]
    precalc("run")
    after = ledger_json()["eos3b5e"]
    assert after["done"] == ["lib-0000", "lib-0001"] and after["complete"]
    assert after["rows_published"] + after["rows_rejected"] == 40
    assert after["last_run_id"]
    csv_out = precalc("ledger", "--format", "csv").output.splitlines()
    assert csv_out[0].startswith("model,slice,status") and len(csv_out) == 3
    assert "| eos3b5e | yes | 2/2 |" in precalc("ledger").output


def test_spec_change_makes_partitions_stale_and_run_redoes_only_those(local_project, tmp_path):
    precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(40))), "--slice-size", "20"
    )
    precalc("add-model", "eos3b5e")
    precalc("add-model", "weights", "--spec", write_spec(tmp_path, "v1.json"))
    precalc("run")
    assert all(m["complete"] for m in ledger_json().values())

    precalc("add-model", "weights", "--spec", write_spec(tmp_path, "v2.json", version="2"))
    state = ledger_json()
    assert (
        state["weights"]["stale"] == ["lib-0000", "lib-0001"] and not state["weights"]["complete"]
    )
    assert state["eos3b5e"]["complete"]

    out = precalc("run").output
    assert "2 partition(s) missing, stale or failed" in out
    assert "weights|lib-0000" in out and "eos3b5e|" not in out
    assert ledger_json()["weights"]["complete"]


def test_failed_partition_is_reported_and_rerun(local_project, tmp_path, monkeypatch):
    precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(20))), "--slice-size", "20"
    )
    precalc("add-model", "weights", "--spec", write_spec(tmp_path, "v1.json"))
    monkeypatch.setenv(FAIL_SWITCH, "1")
    precalc("run", ok=False)
    assert ledger_json()["weights"]["failed"] == ["lib-0000"]
    monkeypatch.delenv(FAIL_SWITCH)
    assert "1 partition(s) missing, stale or failed" in precalc("run").output
    assert ledger_json()["weights"]["done"] == ["lib-0000"]


def test_precalc_ledger_asset_writes_the_ledger(local_project, tmp_path):
    precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(30))), "--slice-size", "10"
    )
    precalc("add-model", "eos3b5e")
    precalc("run", "--slice", "lib-0000")
    result = dg.materialize(
        [precalc_ledger], instance=local_project.instance, resources=local_project.defs.resources
    )
    assert result.success
    store = local_project.store()
    table = store.read_parquet(layout.LEDGER_PARTITIONS_PARQUET).to_pandas()
    assert dict(zip(table["slice"], table["status"], strict=True)) == {
        "lib-0000": "done",
        "lib-0001": "missing",
        "lib-0002": "missing",
    }
    assert store.exists(layout.LEDGER_PARTITIONS_CSV)
    meta = result.asset_materializations_for_node("precalc_ledger")[0].metadata
    assert meta["partitions_to_do"].value == 2
    assert "| eos3b5e | no | 1/3 |" in meta["models"].value


def test_ledger_of_one_model_reads_only_its_partitions(local_project, tmp_path):
    lib = write_library(tmp_path / "lib.smi", nci_lines(40))
    precalc("add-library", str(lib), "--slice-size", "20")
    precalc("add-model", "eos3b5e")
    precalc("add-model", "weights", "--spec", write_spec(tmp_path, "v1.json"))
    precalc("run", "--model", "eos3b5e")
    out = json.loads(precalc("ledger", "--model", "eos3b5e", "--format", "json").output)
    (model,) = out["models"]
    assert model["model"] == "eos3b5e" and model["complete"]
    assert model["rows_published"] + model["rows_rejected"] == 40
    assert ledger_json()["weights"]["missing"] == ["lib-0000", "lib-0001"]


# Events recorded without a target (as before targets were recorded) count for any table.
ANY_TABLE = "sqlite:///anywhere/serving.db"


def _publish_event(instance, key: str, version: str, items: int, target: str = "") -> None:
    metadata = {"items_published": items, "not_published": 0, "code_version": version}
    if target:
        metadata["target"] = target
    instance.report_runless_asset_event(
        dg.AssetMaterialization("published_predictions", partition=key, metadata=metadata)
    )


def test_a_partition_is_done_only_for_the_target_it_was_published_to(local_project, tmp_path):
    """One home read against another storage or serving table never says "done": the
    partitions published elsewhere are missing there, and say where they went."""
    project = local_project
    instance, store = project.instance, project.store()
    project.add_model("eos3b5e")
    version = load_model_spec(store, "eos3b5e", ModelPolicy()).code_version
    instance.add_dynamic_partitions("slice", ["lib-0000", "lib-0001", "lib-0002"])
    here = project.serving().url
    there = "s3://bucket/precalc + dynamodb://serving"
    _publish_event(instance, "eos3b5e|lib-0000", version, 10, history_target(store.url, here))
    _publish_event(instance, "eos3b5e|lib-0001", version, 10, there)
    _publish_event(instance, "eos3b5e|lib-0002", version, 10)  # recorded before targets

    rows = {r.slice: r for r in build_ledger(instance, store, ModelPolicy(), here)}
    assert [rows[s].status for s in sorted(rows)] == ["done", "missing", "done"]
    assert (rows["lib-0001"].other_target, rows["lib-0001"].rows_published) == (there, 0)
    assert work_to_do(list(rows.values())) == {"lib-0001": ["eos3b5e"]}
    (line,) = other_target_lines(list(rows.values()), history_target(store.url, here))
    assert line.startswith(f"1 partition(s) of this home's history were published to {there}")

    elsewhere = build_ledger(instance, store, ModelPolicy(), "dynamodb://another")
    assert [r.status for r in elsewhere] == ["missing", "missing", "done"]


def _count_decoded(instance, monkeypatch) -> list[int]:
    """Storage ids of the events the ledger decodes (the expensive part at scale)."""
    decoded: list[int] = []
    fetch = instance.fetch_materializations

    def spy(records_filter, *args, **kwargs):
        decoded.extend(records_filter.storage_ids or [])
        return fetch(records_filter, *args, **kwargs)

    monkeypatch.setattr(instance, "fetch_materializations", spy)
    return decoded


def test_ledger_decodes_only_events_it_has_not_seen(local_project, tmp_path, monkeypatch):
    project = local_project
    instance, store = project.instance, project.store()
    project.add_model("eos3b5e")
    version = load_model_spec(store, "eos3b5e", ModelPolicy()).code_version
    slices = [f"lib-{i:04d}" for i in range(30)]
    instance.add_dynamic_partitions("slice", slices)
    for slice_key in slices:
        _publish_event(instance, f"eos3b5e|{slice_key}", version, 10)
    decoded = _count_decoded(instance, monkeypatch)

    first = build_ledger(instance, store, ModelPolicy(), ANY_TABLE)
    assert len(decoded) == 30 and {r.status for r in first} == {"done"}
    cache_keys = [o.key for o in store.list("ledger/cache/")]
    assert len(cache_keys) == 1 and cache_keys[0].endswith(".parquet")

    decoded.clear()
    assert build_ledger(instance, store, ModelPolicy(), ANY_TABLE) == first
    assert decoded == []  # warm: nothing decoded again

    _publish_event(instance, "eos3b5e|lib-0007", "eos3b5e-v1-old", 12)
    rows = {r.slice: r for r in build_ledger(instance, store, ModelPolicy(), ANY_TABLE)}
    assert len(decoded) == 1
    assert rows["lib-0007"].status == "stale" and rows["lib-0007"].rows_published == 12
    assert rows["lib-0008"].status == "done"


def test_ledger_cache_follows_a_wipe_and_a_new_instance(local_project, tmp_path, monkeypatch):
    project = local_project
    instance, store = project.instance, project.store()
    project.add_model("eos3b5e")
    version = load_model_spec(store, "eos3b5e", ModelPolicy()).code_version
    instance.add_dynamic_partitions("slice", ["lib-0000", "lib-0001"])
    for slice_key in ("lib-0000", "lib-0001"):
        _publish_event(instance, f"eos3b5e|{slice_key}", version, 10)
    assert {r.status for r in build_ledger(instance, store, ModelPolicy(), ANY_TABLE)} == {"done"}

    instance.wipe_assets([dg.AssetKey("published_predictions")])
    assert {r.status for r in build_ledger(instance, store, ModelPolicy(), ANY_TABLE)} == {
        "missing"
    }

    # A fresh instance (new DAGSTER_HOME) over the same storage does not reuse the facts.
    _publish_event(instance, "eos3b5e|lib-0000", version, 10)
    build_ledger(instance, store, ModelPolicy(), ANY_TABLE)
    other_home = tmp_path / "other-dagster"
    other_home.mkdir()
    with dg.instance_for_test(temp_dir=str(other_home)) as fresh:
        fresh.add_dynamic_partitions("model", ["eos3b5e"])
        fresh.add_dynamic_partitions("slice", ["lib-0000", "lib-0001"])
        assert {r.status for r in build_ledger(fresh, store, ModelPolicy(), ANY_TABLE)} == {
            "missing"
        }
    assert build_ledger(instance, store, ModelPolicy(), ANY_TABLE)[0].status == "done"


def test_unreadable_ledger_cache_is_rebuilt_from_history(local_project):
    project = local_project
    instance, store = project.instance, project.store()
    project.add_model("eos3b5e")
    version = load_model_spec(store, "eos3b5e", ModelPolicy()).code_version
    instance.add_dynamic_partitions("slice", ["lib-0000"])
    _publish_event(instance, "eos3b5e|lib-0000", version, 10)
    build_ledger(instance, store, ModelPolicy(), ANY_TABLE)
    (cache,) = store.list("ledger/cache/")
    store.put_bytes(cache.key, b"not parquet")
    (row,) = build_ledger(instance, store, ModelPolicy(), ANY_TABLE)
    assert row.status == "done" and row.rows_published == 10
    assert store.read_parquet(cache.key).num_rows == 1


def test_a_broken_model_request_shows_its_error_in_the_ledger(local_project, tmp_path):
    precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(20))), "--slice-size", "20"
    )
    precalc("add-model", "eos3b5e")
    precalc("add-model", "weights", "--spec", write_spec(tmp_path, "w.json"))
    # The deployment declares `weights`: its request in storage may carry only checks.
    broken = json.dumps({"runner": "carrier-pigeon", "columns": ["x"]}).encode()
    local_project.store().put_bytes(layout.model_request("weights"), broken)

    models = ledger_json()
    assert models["eos3b5e"]["error"] == ""
    error = models["weights"]["error"]
    assert "inputs/models/weights.json" in error and "may only carry 'checks'" in error
    table = precalc("ledger").output
    assert "model 'weights' cannot be run:" in table and "may only carry 'checks'" in table
    rows = local_project.ledger(["weights"])
    assert [r.spec_error for r in rows] == [error]


def test_out_of_order_publication_is_counted_once(local_project, tmp_path):
    """2-hydroxypyridine (slice 0) and 2-pyridone (slice 1) share one InChIKey; slice 1
    published first, then slice 0 takes the item over: the ledger's published rows are
    the items served, and published + rejected are the library's rows."""
    lines = ["Oc1ccccn1", "CCO", "O=c1cccc[nH]1", "CCN"]
    local_project.add_library(write_library(tmp_path / "l.smi", lines), "lib", slice_size=2)
    local_project.add_model("eos3b5e")
    for slice_key in ("lib-0001", "lib-0000"):
        assert local_project.precalculate("eos3b5e", slice_key).success
    rows = local_project.ledger(["eos3b5e"])
    by_slice = {r.slice: r for r in rows}
    assert sum(r.rows_published for r in rows) == local_project.serving().count("eos3b5e") == 3
    assert sum(r.rows_published + r.rows_rejected for r in rows) == 4
    assert (by_slice["lib-0001"].rows_published, by_slice["lib-0001"].rows_rejected) == (1, 1)
    # Published again, the later slice skips the item itself: still counted once.
    assert local_project.precalculate("eos3b5e", "lib-0001").success
    rows = local_project.ledger(["eos3b5e"])
    assert sum(r.rows_published for r in rows) == 3


def test_a_deleted_request_blocks_its_model_instead_of_making_it_stale(local_project, tmp_path):
    precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(20))), "--slice-size", "20"
    )
    precalc("add-model", "eos3b5e")
    precalc("run")
    local_project.store().delete(layout.model_request("eos3b5e"))
    model = ledger_json()["eos3b5e"]
    assert model["blocked"] == ["lib-0000"] and model["stale"] == []
    assert "inputs/models/eos3b5e.json" in model["error"] and "precalc add-model" in model["error"]
    assert "0 partition(s) missing, stale or failed" in precalc("run").output


def test_takeover_is_counted_when_the_later_slice_is_recorded_after_it(
    project, tmp_path, monkeypatch
):
    """What two concurrent workers do: a ranged run writes the later slice's items, an
    earlier slice takes one over (first row wins) and is recorded, and only then does
    the ranged run's step end and record the later slice. The takeover still counts:
    rows published are the items served."""
    lines = ["Oc1ccccn1", "CCO", "O=c1cccc[nH]1", "CCN", "CCC", "CCCl"]
    project.add_library(write_library(tmp_path / "l.smi", lines), "lib", slice_size=2)
    project.add_model("eos3b5e")
    publish = publication.publish_predictions

    def publish_then_earlier_slice(store, table, spec, slice_key, run_id):
        result = publish(store, table, spec, slice_key, run_id)
        if slice_key == "lib-0001":  # written, not recorded yet: the other worker goes
            assert project.precalculate("eos3b5e", "lib-0000").success
        return result

    monkeypatch.setattr(publication, "publish_predictions", publish_then_earlier_slice)
    ranged = {"dagster/asset_partition_range_start": "eos3b5e|lib-0001",
              "dagster/asset_partition_range_end": "eos3b5e|lib-0002"}  # fmt: skip
    job = project.defs.resolve_job_def("precalculate")
    assert job.execute_in_process(instance=project.instance, tags=ranged).success

    records = project.instance.fetch_materializations(
        dg.AssetKey("published_predictions"), limit=10
    ).records
    newest_first = [r.partition_key for r in records]
    assert newest_first.index("eos3b5e|lib-0001") < newest_first.index("eos3b5e|lib-0000")
    rows = {r.slice: r for r in project.ledger(["eos3b5e"])}
    served = project.serving().count("eos3b5e")
    assert served == 5
    assert sum(r.rows_published for r in rows.values()) == served
    assert (rows["lib-0001"].rows_published, rows["lib-0001"].rows_rejected) == (1, 1)
    assert sum(r.rows_published + r.rows_rejected for r in rows.values()) == len(lines)
