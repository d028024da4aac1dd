"""A run of `precalc run` reads in the UI's runs list by what it covers: its first visible
tag (the list hides `dagster/` and `.dagster/` ones, and Dagster gives tags back sorted by
key) is the partition or range; the process bookkeeping comes after. Each of its lines
links to the run's page."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.orchestration.execution import run_missing
from precalc_assets.processes import HOST_TAG
from precalc_assets_tests.molecules import nci_lines, write_library

UI = "http://dagster.example:8080/"


def visible(tags: dict[str, str]) -> list[str]:
    """The tags the UI's runs list shows, in the order the instance gives them."""
    return [k for k in tags if not k.startswith(("dagster/", ".dagster/"))]


def test_runs_carry_their_partitions_first_and_lines_link_to_them(
    local_project, tmp_path, monkeypatch
):
    monkeypatch.setenv("PRECALC_UI_URL", UI)
    project = local_project
    project.add_library(write_library(tmp_path / "l.smi", nci_lines(10)), "lib", slice_size=10)
    project.add_model("eos3b5e")
    project.add_model("rdkit-physchem")
    lines: list[str] = []
    plan = {"lib-0000": ["eos3b5e", "rdkit-physchem"]}
    assert run_missing(project.defs, project.instance, plan, echo=lines.append).failures == {}
    (ranged,) = project.instance.get_runs(dg.RunsFilter(job_name=keys.PRECALCULATE_JOB))
    span = "eos3b5e|lib-0000 .. rdkit-physchem|lib-0000"
    assert visible(ranged.tags)[0] == keys.COVERS_TAG
    assert ranged.tags[keys.COVERS_TAG] == span and HOST_TAG in ranged.tags
    assert lines == [f"  {span}: published 2 partition(s)  {UI}runs/{ranged.run_id}"]

    lines.clear()
    single = {"lib-0000": ["eos3b5e"]}
    assert run_missing(project.defs, project.instance, single, echo=lines.append).failures == {}
    (one,) = project.instance.get_runs(dg.RunsFilter(job_name=keys.PRECALCULATE_JOB), limit=1)
    assert visible(one.tags)[0] == keys.COVERS_TAG
    assert one.tags[keys.COVERS_TAG] == "eos3b5e|lib-0000" and HOST_TAG in one.tags
    assert lines == [f"  eos3b5e|lib-0000: published  {UI}runs/{one.run_id}"]
