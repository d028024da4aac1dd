"""Rows published are counted once when two slices of one library holding the same
molecule publish at the same moment: whoever holds the item counts it, the other one
counts it as taken over or not published, whatever the interleaving."""

from __future__ import annotations

import json
import threading
from collections import Counter

import dagster as dg

from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.orchestration.partitions import partition_key
from precalc_assets.steps import publish
from precalc_assets.steps.publish import publish_predictions, split_taken_over_key
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import precalc

# 2-hydroxypyridine (slice 0) and 2-pyridone (slice 1) share one InChIKey.
LINES = ["Oc1ccccn1", "CCO", "O=c1cccc[nH]1", "CCN"]


def validated(project, slice_key: str) -> None:
    """The slice computed and validated, not published."""
    job = project.defs.resolve_job_def("precalculate")
    result = job.execute_in_process(
        partition_key=partition_key("eos3b5e", slice_key),
        asset_selection=[dg.AssetKey("predictions"), dg.AssetKey("validated_predictions")],
        instance=project.instance,
    )
    assert result.success


def test_a_later_slice_publishing_between_the_look_and_the_write_is_counted_once(
    project, tmp_path, monkeypatch
):
    project.add_library(write_library(tmp_path / "l.smi", LINES), "lib", slice_size=2)
    project.add_model("eos3b5e")
    for slice_key in ("lib-0000", "lib-0001"):
        validated(project, slice_key)
    store, table = project.store(), project.serving()
    spec = load_model_spec(store, "eos3b5e", project.policy())
    later: dict = {}

    def publish_later_slice() -> None:
        later["result"] = publish_predictions(store, table, spec, "lib-0001", "run-later")

    look = publish.served_by_other_slices

    def look_then_let_the_later_slice_publish(serving, model_id, slice_key, *rest):
        seen = look(serving, model_id, slice_key, *rest)
        if slice_key == "lib-0000":  # the earlier slice has looked: the later one goes
            thread = threading.Thread(target=publish_later_slice)
            thread.start()
            thread.join(timeout=1)  # it finishes unless it waits for the earlier one
            later["thread"] = thread
        return seen

    monkeypatch.setattr(publish, "served_by_other_slices", look_then_let_the_later_slice_publish)
    earlier = publish_predictions(store, table, spec, "lib-0000", "run-earlier")
    later["thread"].join(timeout=30)

    items = table.get_many("eos3b5e", list(expected_molecules(LINES)))
    held = Counter(item.slice_key for item in items.values())
    assert held == {"lib-0000": 2, "lib-0001": 1}  # the first row won
    taken = sum(
        n
        for key, n in earlier.taken_over.items()
        if split_taken_over_key(key) == ("lib-0001", "run-later")
    )
    # What the ledger counts for each slice is what it holds in the table.
    assert earlier.rows_out == held["lib-0000"]
    assert later["result"].rows_out - taken == held["lib-0001"]


def test_overlapping_libraries_count_what_the_table_holds_and_the_first_registered_wins(
    project, tmp_path
):
    """Per model, rows published equal the items served across libraries; a molecule in
    two libraries is served from the one registered first (not the first by name), in
    whichever order their slices are published."""
    lines = nci_lines(90)
    project.add_library(write_library(tmp_path / "z.smi", lines[:60]), "zeta", slice_size=20)
    project.add_library(write_library(tmp_path / "a.smi", lines[30:]), "alpha", slice_size=20)
    project.add_model("eos3b5e")
    precalc(
        "run",
        "--workers",
        "1",
        "--slice",
        "alpha-0000",
        "--slice",
        "alpha-0001",
        "--slice",
        "alpha-0002",
    )
    precalc("run", "--workers", "1")  # zeta's slices take over the molecules both libraries hold

    expected = expected_molecules([line.split()[0] for line in lines])
    table = project.serving()
    assert table.count("eos3b5e") == len(expected)
    (summary,) = json.loads(precalc("ledger", "--format", "json").output)["models"]
    assert summary["rows_published"] == len(expected)
    shared = set(expected_molecules([line.split()[0] for line in lines[30:60]]))
    served = table.get_many("eos3b5e", sorted(shared))
    assert {item.slice_key.rsplit("-", 1)[0] for item in served.values()} == {"zeta"}
