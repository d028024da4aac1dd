"""Publication's read-back: every key, unless the table counted in its own committed
write that it stored every item (SQLite), where a sample is enough."""

from __future__ import annotations

import pytest

from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.steps import publish
from precalc_assets.steps.publish import publish_predictions
from precalc_assets.stores.serving_table import ServingTable
from precalc_assets_tests.ledger.test_publication_counts import validated
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library


def keys_asked(table: ServingTable, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many keys each `get_many` of `table` is asked for, in order."""
    asked: list[int] = []
    get_many = table.get_many

    def counted(model_id, inchikeys, **options):
        asked.append(len(inchikeys))
        return get_many(model_id, inchikeys, **options)

    monkeypatch.setattr(table, "get_many", counted)
    return asked


def test_a_write_that_stored_every_item_is_read_back_in_a_sample(project, tmp_path, monkeypatch):
    lines = nci_lines(30)
    project.add_library(write_library(tmp_path / "l.smi", lines), "lib", slice_size=30)
    project.add_model("eos3b5e")
    validated(project, "lib-0000")
    store, table = project.store(), project.serving()
    spec = load_model_spec(store, "eos3b5e", project.policy())
    monkeypatch.setattr(publish, "READ_BACK_SAMPLE", 5)
    asked = keys_asked(table, monkeypatch)
    result = publish_predictions(store, table, spec, "lib-0000", "run-1")
    molecules = len(expected_molecules(lines))
    assert result.rows_out == molecules
    assert asked == [molecules, 5 if table.counts_what_it_stores else molecules]  # look, back


def test_an_earlier_slice_s_item_left_by_the_write_is_found_by_reading_every_key(
    project, tmp_path, monkeypatch
):
    """A look that missed the earlier slice's item (another machine wrote it after the
    look): the write leaves it, counts one item fewer, and every key is read back."""
    lines = nci_lines(12)
    project.add_library(
        write_library(tmp_path / "l.smi", [*lines[:6], *lines[:6]]), "lib", slice_size=6
    )
    project.add_model("eos3b5e")
    store, table = project.store(), project.serving()
    spec = load_model_spec(store, "eos3b5e", project.policy())
    for slice_key in ("lib-0000", "lib-0001"):
        validated(project, slice_key)
    publish_predictions(store, table, spec, "lib-0000", "run-0")
    monkeypatch.setattr(publish, "READ_BACK_SAMPLE", 2)
    monkeypatch.setattr(publish, "served_by_other_slices", lambda *_: (set(), {}))
    asked = keys_asked(table, monkeypatch)
    result = publish_predictions(store, table, spec, "lib-0001", "run-1")
    assert result.rows_out == 0 and result.rejected == 6  # all six held by slice 0
    assert asked == [6]  # the look is skipped here: the read-back asks for every key
    held = table.get_many("eos3b5e", list(expected_molecules(lines[:6])))
    assert {item.run_id for item in held.values()} == {"run-0"}
