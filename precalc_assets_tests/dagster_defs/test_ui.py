"""The Dagster UI as users see it, in a real headless Chromium against `dagster dev`
(webserver and daemon) on a home prepared with the demo's data (`precalc demo`), plus
one library registered after it whose partitions are missing.

Two sensors that would fill those partitions on their own (the model requests and the
catch-up) are stopped with `dagster sensor stop` first, as a user would before working
by hand. Screenshots land in the test's tmp dir, or in docs/img/ for the README when
`PRECALC_UI_SCREENSHOTS=docs/img` (`make screenshots`).
"""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import rdkit
from playwright.sync_api import Browser, Page, expect, sync_playwright

from precalc_assets import keys
from precalc_assets.dagster_defs.sensors import SENSORS
from precalc_assets_tests.browser import (
    BIN,
    VIEWPORT,
    chromium,
    dagster_dev,
    screenshot_dir,
)
from precalc_assets_tests.molecules import expected_molecules, write_library
from precalc_assets_tests.project import AWS_SETTINGS, PRECALC_SETTINGS

WEHI = Path(rdkit.__file__).parent / "Data" / "Pains" / "test_data" / "wehi_mols.csv"
STOPPED = ("model_requests_sensor", "library_registered_sensor", "missing_partitions_sensor")
EXTRA = "wehi"  # the library registered after the demo: its partitions are missing
EXTRA_ROWS = 40
MODELS = ("eos3b5e", "morgan-fp2048", "rdkit-physchem")
LAUNCHED = ("eos3b5e", f"{EXTRA}-0000")  # the partition a user materialises from the UI
WAIT_MS = 60_000
RUN_WAIT_S = 300  # a run launched from the UI: its process starts, loads the code, runs
GROUPS = {
    "library": (keys.LIBRARY_SLICES,),
    "precalculation": (keys.PREDICTIONS, keys.VALIDATED_PREDICTIONS, keys.PUBLISHED_PREDICTIONS),
    "ledger": (keys.LEDGER,),
}


def _run(env: dict[str, str], *command: str) -> str:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("ui")
    home = tmp / "home"
    inherited = set(PRECALC_SETTINGS) | set(AWS_SETTINGS)
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    env |= {"PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    _run(env, str(BIN / "precalc"), "demo")
    for sensor in STOPPED:
        _run(env, str(BIN / "dagster"), "sensor", "stop", "-m", "precalc_assets", sensor)
    with WEHI.open() as handle:
        lines = [f"{smiles} {name}" for smiles, name in csv.reader(handle)][:EXTRA_ROWS]
    library = write_library(tmp / f"{EXTRA}.smi", lines)
    _run(env, str(BIN / "precalc"), "add-library", str(library), "--name", EXTRA)
    yield home, env


@pytest.fixture(scope="module")
def ui(home, tmp_path_factory) -> Iterator[str]:
    path, env = home
    with dagster_dev(env, tmp_path_factory.mktemp("dev") / "dagster-dev.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=args)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return screenshot_dir(tmp_path_factory.mktemp("screenshots"))


def _instance(home: tuple[Path, dict[str, str]]) -> dg.DagsterInstance:
    path, _ = home
    return dg.DagsterInstance.from_config(str(path / "dagster"))


def test_the_asset_graph_shows_each_group_and_its_assets(ui: str, page: Page, shots: Path):
    page.goto(f"{ui}/asset-groups?expanded={','.join(f'global@global:{g}' for g in GROUPS)}")
    graph = page.locator("svg foreignObject")
    for group in GROUPS:  # the group boxes of the graph, and the sidebar's tree
        expect(graph.get_by_text(group, exact=True)).to_be_visible()
    for name in (keys.LIBRARY_SLICES, keys.PREDICTIONS, keys.LEDGER):  # short enough to show
        expect(graph.get_by_text(name, exact=True)).to_be_visible()
    page.screenshot(path=shots / "asset-graph.png")
    carets = page.get_by_label("arrow_drop_down")  # the sidebar's groups come first
    for index in range(len(GROUPS)):
        carets.nth(index).click()  # opens the group in the sidebar: every name in full
    for assets in GROUPS.values():
        for asset in assets:
            expect(page.get_by_text(asset, exact=True).first).to_be_visible()


def test_partitions_show_the_model_by_slice_grid_materialised_and_missing(
    ui: str, page: Page, shots: Path
):
    page.goto(f"{ui}/assets/{keys.PUBLISHED_PREDICTIONS}?view=partitions")
    for model in MODELS:
        expect(page.get_by_text(model, exact=True).first).to_be_visible()
    for slice_key in ("nci-first5k-0000", "nci-first5k-0004", "fragments-0000", f"{EXTRA}-0000"):
        expect(page.get_by_text(slice_key, exact=True).first).to_be_visible()
    expect(page.get_by_text(f"Missing ({len(MODELS)})")).to_be_visible()
    expect(page.get_by_text("Materialized (", exact=False)).to_be_visible()
    page.screenshot(path=shots / "partitions.png")


def test_a_partition_page_shows_its_own_rows_reasons_and_paths(
    ui: str, page: Page, shots: Path, home
):
    slice_key, rejected = _a_slice_with_rejected_rows(_instance(home))
    page.goto(f"{ui}/assets/{keys.LIBRARY_SLICES}?view=partitions")
    page.get_by_text(slice_key, exact=True).first.click()
    table = page.locator("table").filter(has_text="rows_in")
    expect(table).to_contain_text("molecules")
    expect(table).to_contain_text(f"{rejected:,}")
    expect(table).to_contain_text(f"library/{slice_key}.parquet")
    expect(table).to_contain_text("molecules_per_second")
    reasons = table.locator("tr").filter(has_text="rejected_rows_by_reason")
    expect(reasons).to_contain_text("unparseable")
    page.set_viewport_size({**VIEWPORT, "height": 1100})  # down to the reasons table
    page.screenshot(path=shots / "partition-metadata.png")


def _a_slice_with_rejected_rows(instance: dg.DagsterInstance) -> tuple[str, int]:
    records = instance.fetch_materializations(dg.AssetKey(keys.LIBRARY_SLICES), limit=100)
    for record in records.records:
        rejected = record.asset_materialization.metadata["rejected_rows"].value
        if record.partition_key.startswith("nci-first5k") and rejected:
            return record.partition_key, int(rejected)
    raise AssertionError("the demo's NCI sample has rows RDKit cannot parse")


def test_a_partitions_drift_check_shows_its_scores_with_thresholds(
    ui: str, page: Page, shots: Path
):
    page.goto(f"{ui}/assets/{keys.PUBLISHED_PREDICTIONS}?view=checks")
    page.get_by_text("prediction_drift", exact=True).first.click()
    expect(page.get_by_text("Latest execution")).to_be_visible()
    expect(page.get_by_text("baseline_slice")).to_be_visible()
    page.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    for column in ("feature", "method", "score", "threshold", "drifted"):
        expect(dialog.get_by_role("columnheader", name=column)).to_be_visible()
    page.wait_for_timeout(500)  # the dialog's fade-in, for the picture only
    page.screenshot(path=shots / "drift-check.png")


def test_the_sensors_page_lists_each_sensor_and_its_state(ui: str, page: Page, shots: Path):
    page.goto(f"{ui}/automation")
    for sensor in SENSORS:
        link = page.locator(f"a[href$='/sensors/{sensor.name}']")
        expect(link).to_be_visible()
        toggle = link.locator("xpath=..").locator("input[type='checkbox']").last  # its switch
        if sensor.name in STOPPED:
            expect(toggle).not_to_be_checked()
        else:
            expect(toggle).to_be_checked()
    page.screenshot(path=shots / "sensors.png")


def test_a_missing_partition_materialised_from_the_ui_succeeds_and_is_served(
    ui: str, page: Page, shots: Path, home
):
    model_id, slice_key = LAUNCHED
    partition = keys.partition_id(model_id, slice_key)
    published = dg.AssetKey(keys.PUBLISHED_PREDICTIONS)
    assert partition not in _instance(home).get_materialized_partitions(published)
    page.goto(f"{ui}/locations/precalc_assets/jobs/{keys.PRECALCULATE_JOB}")
    page.get_by_role("button", name="Materialize all").click()
    dialog = page.get_by_role("dialog")
    for value in (model_id, slice_key):
        dialog.get_by_text("Select a partition or create one").nth(0).click()
        page.get_by_role("menuitem").filter(has_text=value).or_(
            page.locator("label").filter(has_text=value)
        ).first.click()
        page.keyboard.press("Escape")
        expect(dialog.get_by_text(value, exact=True).first).to_be_visible()
    expect(dialog.get_by_text("1 partition")).to_be_visible()
    dialog.get_by_role("button", name="Launch 1 run").click()
    expect(page.get_by_text("Launched run")).to_be_visible()  # leaving sooner cancels it

    # The page of a partition opened while it was missing is not refreshed: open it again
    # until its status badge says it is materialised, as a user would.
    deadline = time.monotonic() + RUN_WAIT_S
    while True:
        page.goto(f"{ui}/assets/{keys.PUBLISHED_PREDICTIONS}?view=partitions")
        page.get_by_text(model_id, exact=True).first.click()
        page.get_by_text(slice_key, exact=True).first.click()
        expect(page.get_by_text(partition, exact=True).first).to_be_visible()
        try:
            expect(page.get_by_text("Materialized", exact=True)).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            assert time.monotonic() < deadline, f"{partition} not materialised in {RUN_WAIT_S} s"
    expect(page.get_by_text("Materializing (0)")).to_be_visible()
    expect(page.get_by_text(f"Missing ({len(MODELS) - 1})")).to_be_visible()
    expect(page.locator("table").filter(has_text="items_published")).to_be_visible()
    page.screenshot(path=shots / "materialized-from-ui.png")

    path, _ = home
    with sqlite3.connect(path / "serving.db") as con:
        served = con.execute(
            "SELECT COUNT(*) FROM serving WHERE sk = ? AND slice = ?",
            (f"MODELID#{model_id}", slice_key),
        ).fetchone()[0]
    with WEHI.open() as handle:
        smiles = [row[0] for row in csv.reader(handle)][:EXTRA_ROWS]
    assert served == len(expected_molecules(smiles)) > 0
    # The newest run of the partition is the one launched from the UI (the daemon's ledger
    # runs carry no partition); after publication it runs the checks.
    (run,) = _instance(home).get_runs(dg.RunsFilter(tags={keys.PARTITION_TAG: partition}), limit=1)
    while not run.is_finished:
        assert time.monotonic() < deadline, f"run {run.run_id} still {run.status} at the end"
        time.sleep(1)
        run = _instance(home).get_run_by_id(run.run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags[keys.PARTITION_TAG] == partition
    # Nothing the daemon ran meanwhile failed: the library-files sensor found the files
    # the demo had registered, and left them as they are.
    failed = _instance(home).get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert failed == []
