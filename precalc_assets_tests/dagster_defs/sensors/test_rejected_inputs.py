"""`ledger/rejected_inputs.json` follows storage: the first tick after a rejected file is
deleted drops its entry; the entries of files still there stay."""

from __future__ import annotations

from precalc_assets.dagster_defs.sensors.library_files import library_files_sensor
from precalc_assets.dagster_defs.sensors.model_requests import model_requests_sensor
from precalc_assets.inputs.rejected import load_rejected_inputs
from precalc_assets_tests.dagster_defs.sensors.ticks import tick


def test_a_deleted_model_request_leaves_the_rejected_inputs(project):
    store = project.store()
    store.put_bytes("inputs/models/broken.json", b"{not json")
    store.put_bytes("inputs/models/robot.json", b'{"runner": "teleport"}')
    first = tick(project, None, model_requests_sensor)
    assert set(load_rejected_inputs(store)) == {
        "inputs/models/broken.json",
        "inputs/models/robot.json",
    }

    store.delete("inputs/models/broken.json")
    tick(project, first.cursor, model_requests_sensor)
    assert set(load_rejected_inputs(store)) == {"inputs/models/robot.json"}


def test_a_deleted_library_file_leaves_the_rejected_inputs(project):
    store = project.store()
    store.put_bytes("inputs/library/notes.pdf", b"%PDF")
    store.put_bytes("inputs/library/scan.docx", b"PK")
    store.put_bytes("inputs/models/broken.json", b"{not json")
    tick(project, None, model_requests_sensor)
    first = tick(project, None, library_files_sensor)
    assert set(load_rejected_inputs(store)) == {
        "inputs/library/notes.pdf",
        "inputs/library/scan.docx",
        "inputs/models/broken.json",
    }

    store.delete("inputs/library/notes.pdf")
    tick(project, first.cursor, library_files_sensor)
    # The library sensor lists inputs/library/ only: a model request's entry is not its own.
    assert set(load_rejected_inputs(store)) == {
        "inputs/library/scan.docx",
        "inputs/models/broken.json",
    }
