"""`precalc run`'s progress: what the runs tell (per batch of molecules, per partition
published, their console lines) and how the bar counts it. No timing is asserted: the
times are given."""

from __future__ import annotations

import io
from collections import defaultdict

from precalc_assets.cli.progress import MoleculeTally, RunProgress
from precalc_assets.orchestration.execution import run_missing
from precalc_assets.orchestration.progress import (
    COMPUTED,
    LINE,
    PARTITION,
    PUBLISHED,
    ProgressFile,
    ProgressReader,
    progress_directory,
)
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import precalc

A, B = "eos3b5e|lib-0000", "eos3b5e|lib-0001"


def test_the_tally_counts_each_batch_then_the_whole_partition_once_published():
    tally = MoleculeTally({A: 1_000, B: 500}, started=100.0)
    assert tally.told({PARTITION: A, COMPUTED: 400}, at=102.0) is None
    assert tally.told({PARTITION: A, COMPUTED: 590}, at=104.0) is None
    assert (tally.done, tally.total) == (990, 1_500)  # batches answered so far
    tally.told({PARTITION: A, PUBLISHED: True}, at=105.0)  # its rejected rows count too
    assert (tally.done, len(tally.published)) == (1_000, 1)
    tally.told({PARTITION: "other|lib-0000", COMPUTED: 50}, at=106.0)  # not planned here
    assert tally.done == 1_000 and tally.latest == 105.0
    assert tally.told({LINE: "a warning"}, at=106.0) == "a warning"
    tally.told({PARTITION: B, COMPUTED: 200}, at=106.0)
    tally.ended([A], [B], at=107.0)  # B failed: its rows leave the total
    assert (tally.done, tally.total, tally.partitions) == (1_000, 1_000, 1)
    assert tally.postfix().startswith("1/1 partitions, 1 failed or left to others, ")


def test_rate_and_time_left_come_from_when_molecules_were_told():
    tally = MoleculeTally({A: 1_000, B: 1_000}, started=10.0)
    assert (tally.rate, tally.seconds_left) == (0.0, None)
    assert tally.postfix() == "0/2 partitions, 0 molecules/s, ? left"
    tally.told({PARTITION: A, COMPUTED: 500}, at=15.0)
    assert (tally.rate, tally.seconds_left) == (100.0, 15.0)
    tally.told({PARTITION: A, PUBLISHED: True}, at=20.0)
    assert (tally.rate, tally.seconds_left) == (100.0, 10.0)
    tally.told({LINE: "checks after the last publication"}, at=60.0)
    assert tally.rate == 100.0  # only molecules move the rate
    assert tally.postfix() == "1/2 partitions, 100 molecules/s, 00:10 left"


def test_progress_lines_are_read_once_each_and_only_when_whole(tmp_path):
    reader = ProgressReader(tmp_path / "progress")
    reader.create()
    told = ProgressFile.of_run(str(reader.directory), "run-1")
    told.computed(A, 3)
    told.line("above the bar")
    assert reader.new_records() == [{PARTITION: A, COMPUTED: 3}, {LINE: "above the bar"}]
    with (reader.directory / "run-2.jsonl").open("a") as half:
        half.write('{"partition": "eos3b5e|lib-0001", "publ')  # still being written
    told.published(A)
    assert reader.new_records() == [{PARTITION: A, PUBLISHED: True}]
    with (reader.directory / "run-2.jsonl").open("a") as half:
        half.write('ished": true}\n')
    assert reader.new_records() == [{PARTITION: B, PUBLISHED: True}]
    ProgressFile.of_run("", "run-3").computed(A, 1)  # no directory: nobody follows
    assert reader.new_records() == []
    reader.remove()
    assert not reader.directory.exists()


def test_a_run_tells_its_molecules_and_publications_and_its_lines(local_project, tmp_path):
    """Real Dagster runs, in this process: each partition's molecules as the model
    answers them, its publication, and the console's warning lines (a model whose
    rows with nitrogen are quarantined) in the progress file, not on stderr."""
    lines = nci_lines(40)
    local_project.add_library(write_library(tmp_path / "lib.smi", lines), "lib", 20)
    local_project.add_model("eos3b5e")
    nan_model = "precalc_assets_tests.faulty_models:nan_for_nitrogen"
    local_project.add_model(
        "nitro", {"runner": "python", "callable": nan_model, "columns": ["score"]}
    )
    reader = ProgressReader(progress_directory(local_project.instance.root_directory))
    reader.create()
    plan = {"lib-0000": ["eos3b5e", "nitro"], "lib-0001": ["eos3b5e", "nitro"]}
    summary = run_missing(
        local_project.defs, local_project.instance, plan, echo=lambda _: None,
        progress_dir=str(reader.directory),
    )  # fmt: skip
    assert sorted(summary.partitions_done) == sorted(
        f"{m}|{s}" for s, ms in plan.items() for m in ms
    )
    records = reader.new_records()
    answered: dict[str, int] = defaultdict(int)
    for record in records:
        if COMPUTED in record:
            answered[record[PARTITION]] += record[COMPUTED]
    valid = {
        s: len(expected_molecules(lines[i * 20 : i * 20 + 20]))
        for i, s in enumerate(("lib-0000", "lib-0001"))
    }
    assert dict(answered) == {f"{m}|{s}": valid[s] for s, ms in plan.items() for m in ms}
    published = sorted(r[PARTITION] for r in records if r.get(PUBLISHED))
    assert published == sorted(answered)
    told = [r[LINE] for r in records if LINE in r]
    assert told and all(" - WARNING - " in line for line in told), told
    assert any("nitro|lib-0000" in line for line in told), told


def test_without_a_terminal_run_prints_plain_lines_and_follows_nothing(local_project, tmp_path):
    local_project.add_library(write_library(tmp_path / "lib.smi", nci_lines(20)), "lib", 10)
    local_project.add_model("eos3b5e")
    out = precalc("run", "--workers", "1").output
    assert "\r" not in out and "molecules/s" not in out and "%|" not in out, out
    ranged = "  eos3b5e|lib-0000 .. eos3b5e|lib-0001: published 2 partition(s)  http"
    assert any(line.startswith(ranged) for line in out.splitlines()), out
    directory = progress_directory(local_project.instance.root_directory)
    assert not directory.exists()  # no run was told to tell its progress


def test_on_a_terminal_the_runs_lines_print_above_the_bar_in_their_order(tmp_path):
    """A run's own lines (read from its progress file) before the line saying how it
    ended, each above the bar, and the bar counting what the run told."""
    screen = io.StringIO()
    shown = RunProgress({A: 100, B: 50}, tmp_path / "progress", "precalculating", screen, True)
    with shown:
        told = ProgressFile.of_run(shown.directory, "run-1")
        told.computed(A, 30)
        told.line("a warning of the run")
        told.published(B)
        shown.echo("  the run ended")
        shown.partitions_ended([A, B], [])
    out = screen.getvalue()
    assert out.index("a warning of the run\n") < out.index("  the run ended\n")
    last = out.rstrip().rsplit("\r", 1)[-1]
    assert "| 150/150 molecules, 2/2 partitions, " in last and last.endswith(", 00:00 left")
    assert not (tmp_path / "progress").exists()
