"""`ledger/rejected_inputs.json` follows storage: the first tick after a rejected file is
deleted drops its entry; the entries of files still there stay."""

from __future__ import annotations

import dagster as dg

from precalc_assets.dagster_defs.sensors.library_files import library_files_sensor
from precalc_assets.dagster_defs.sensors.model_requests import model_requests_sensor
from precalc_assets.inputs.rejected import load_rejected_inputs


def tick(project, sensor: dg.SensorDefinition, cursor: str | None) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=project.instance,
        cursor=cursor,
        definitions=project.defs,
        resources=project.defs.resources,
    ) as context:
        return sensor(context)


def test_a_deleted_model_request_leaves_the_rejected_inputs(project):
    store = project.store()
    store.put_bytes("inputs/models/broken.json", b"{not json")
    store.put_bytes("inputs/models/robot.json", b'{"runner": "teleport"}')
    first = tick(project, model_requests_sensor, None)
    assert set(load_rejected_inputs(store)) == {
        "inputs/models/broken.json",
        "inputs/models/robot.json",
    }

    store.delete("inputs/models/broken.json")
    tick(project, model_requests_sensor, first.cursor)
    assert set(load_rejected_inputs(store)) == {"inputs/models/robot.json"}


def test_a_deleted_library_file_leaves_the_rejected_inputs(project):
    store = project.store()
    store.put_bytes("inputs/library/notes.pdf", b"%PDF")
    store.put_bytes("inputs/library/scan.docx", b"PK")
    store.put_bytes("inputs/models/broken.json", b"{not json")
    tick(project, model_requests_sensor, None)
    first = tick(project, library_files_sensor, None)
    assert set(load_rejected_inputs(store)) == {
        "inputs/library/notes.pdf",
        "inputs/library/scan.docx",
        "inputs/models/broken.json",
    }

    store.delete("inputs/library/notes.pdf")
    tick(project, library_files_sensor, first.cursor)
    # The library sensor lists inputs/library/ only: a model request's entry is not its own.
    assert set(load_rejected_inputs(store)) == {
        "inputs/library/scan.docx",
        "inputs/models/broken.json",
    }
