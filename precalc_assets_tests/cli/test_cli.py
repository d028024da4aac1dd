"""The `precalc` console script, as a user runs it, on both backends."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import dagster as dg
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets import layout
from precalc_assets_tests.faulty_models import FAIL_SWITCH
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import Project, precalc


def test_add_library_add_model_run_lookup(project, tmp_path):
    """The issue's acceptance flow: every valid unique InChIKey is served with MolWt."""
    lines = ["smiles,name"] + [f"{line.split()[0]},{i}" for i, line in enumerate(nci_lines(230))]
    lines += ["not_a_molecule,bad", ",empty"]
    path = write_library(tmp_path / "library.csv", lines)
    out = precalc("add-library", str(path), "--slice-size", "100").output
    assert "232 rows in 3 slices" in out
    assert "library-0000 .. library-0002" in out
    precalc("add-model", "eos3b5e")
    out = precalc("run").output
    assert "3 partition(s) missing" in out
    assert "eos3b5e" in out and "3/3" in out

    expected = expected_molecules([line.split(",")[0] for line in lines[1:]])
    served = project.serving().get_many("eos3b5e", list(expected))
    assert set(served) == set(expected)
    for key, item in served.items():
        mol_weight = Descriptors.MolWt(Chem.MolFromSmiles(expected[key]))
        assert item.outputs[0] == pytest.approx(mol_weight)
    store = project.store()
    for slice_key in ("library-0000", "library-0001", "library-0002"):
        assert store.exists(layout.predictions("eos3b5e", slice_key))
        assert store.exists(layout.validated("eos3b5e", slice_key))
    assert store.exists("inputs/library/library.csv")
    assert store.exists("inputs/models/eos3b5e.json")

    # Nothing is missing any more: a second run does nothing.
    assert "0 partition(s) missing" in precalc("run").output
    key, absent = next(iter(expected)), "AAAAAAAAAAAAAA-AAAAAAAAAA-N"
    body = json.loads(precalc("lookup", "--model", "eos3b5e", "--key", key, "--key", absent).output)
    found, missing = body["output"]
    assert (found["status"], found["key"], found["smiles"]) == ("found", key, expected[key])
    assert found["outputs"]["mol_weight"] == pytest.approx(
        Descriptors.MolWt(Chem.MolFromSmiles(expected[key]))
    )
    assert (missing["status"], missing["value"]) == ("missing", None)
    assert body["missing"] == [absent]


def test_reregistering_the_same_file_keeps_keys(local_project, tmp_path):
    path = write_library(tmp_path / "lib.smi", nci_lines(50))
    first = precalc("add-library", str(path), "--slice-size", "20").output
    again = precalc("add-library", str(path), "--slice-size", "20").output
    assert "lib-0000 .. lib-0002" in first and "lib-0000 .. lib-0002" in again
    assert "already registered" in again
    assert local_project.instance.get_dynamic_partitions("slice") == [
        "lib-0000",
        "lib-0001",
        "lib-0002",
    ]


def test_changed_file_under_same_name_is_refused(local_project, tmp_path):
    precalc("add-library", str(write_library(tmp_path / "lib.smi", nci_lines(5))))
    result = precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(6))), ok=False
    )
    assert result.exit_code == 1
    assert "already registered from a different file" in result.output
    assert "--name lib-v2" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("name,weight\naspirin,180\n", "no SMILES column in header ['name', 'weight']"),
    ],
)
def test_bad_library_files_register_nothing(local_project, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = precalc("add-library", str(path), ok=False)
    assert result.exit_code == 1
    assert str(path) in result.output and message in result.output
    assert local_project.instance.get_dynamic_partitions("slice") == []
    assert not local_project.store().exists(layout.library_manifest("bad"))


@pytest.mark.parametrize(
    ("model_id", "message"),
    [
        ("eos|3b5e", "contains '|'"),
        ("eos/3b5e", "contains '/'"),
        ("EOS3B5E", "upper-case"),
        ("eos9zzz", "unknown model ID 'eos9zzz'"),
    ],
)
def test_bad_model_ids_are_refused(local_project, model_id, message):
    result = precalc("add-model", model_id, ok=False)
    assert result.exit_code == 1 and message in result.output
    assert local_project.instance.get_dynamic_partitions("model") == []


def test_model_spec_file_errors_name_the_file(local_project, tmp_path):
    spec = tmp_path / "m.json"
    spec.write_text("{not json")
    result = precalc("add-model", "mymodel", "--spec", str(spec), ok=False)
    assert str(spec) in result.output and "not valid JSON" in result.output
    spec.write_text(json.dumps({"runner": "carrier-pigeon", "columns": ["x"]}))
    result = precalc("add-model", "mymodel", "--spec", str(spec), ok=False)
    assert "runner 'carrier-pigeon'" in result.output


def test_run_of_unregistered_model_says_how_to_register(local_project):
    result = precalc("run", "--model", "eos3b5e", ok=False)
    assert result.exit_code == 1 and "precalc add-model" in result.output


def test_missing_bucket_is_named(aws_project, monkeypatch, tmp_path):
    monkeypatch.setenv("PRECALC_STORAGE_URL", "s3://no-such-bucket-here/x")
    result = precalc("add-library", str(write_library(tmp_path / "l.smi", nci_lines(3))), ok=False)
    assert result.exit_code == 1
    assert "no-such-bucket-here" in result.output and "does not exist" in result.output


def test_failed_partition_makes_run_exit_nonzero_and_rerun_completes(
    local_project, tmp_path, monkeypatch
):

    precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(40))), "--slice-size", "20"
    )
    spec = tmp_path / "crashy.json"
    spec.write_text(
        json.dumps(
            {
                "runner": "python",
                "callable": "precalc_assets_tests.faulty_models:weight_or_crash",
                "columns": ["mol_weight"],
            }
        )
    )
    precalc("add-model", "crashy", "--spec", str(spec))
    monkeypatch.setenv(FAIL_SWITCH, "1")
    result = precalc("run", "--workers", "1", ok=False)
    assert result.exit_code == 1
    assert "crashy|lib-0000: FAILED" in result.output and "crashed halfway" in result.output
    # One line per failed partition, with its cause and its run (the ranged run that
    # failed first names its run only).
    for key in ("crashy|lib-0000", "crashy|lib-0001"):
        (line,) = [line for line in result.output.splitlines() if line.startswith(f"  {key}: ")]
        assert "crashed halfway" in line, result.output
        assert "(whole trace: http://localhost:3000/runs/" in line, result.output
    assert result.output.count("crashed halfway") == 2, result.output
    monkeypatch.delenv(FAIL_SWITCH)
    out = precalc("run").output
    assert "2 partition(s) missing" in out and "2/2" in out


def test_a_truncated_gz_library_is_an_error_naming_it_and_registers_nothing(
    local_project, tmp_path
):
    """Click used to turn gzip's EOFError into a bare `Aborted!`."""
    data = gzip.compress("".join(f"{line}\n" for line in nci_lines(3_000)).encode())
    path = tmp_path / "lib.smi.gz"
    path.write_bytes(data[: len(data) // 2])
    result = precalc("add-library", str(path), "--slice-size", "100", ok=False)
    assert result.exit_code == 1
    assert "Aborted" not in result.output
    assert f"{path}: the gzip file ends before its end of stream" in result.output
    assert "upload the complete file again" in result.output
    store = local_project.store()
    assert [info.key for info in store.list("library/")] == []  # no raw slice left
    assert [info.key for info in store.list(layout.LIBRARY_INPUTS)] == []
    assert local_project.instance.get_dynamic_partitions("slice") == []


def test_add_library_max_smiles_length_is_recorded_and_applied(local_project, tmp_path):
    lines = ["CCO", "C" * 31, "c1ccccc1"]
    path = write_library(tmp_path / "lib.smi", lines)
    precalc("add-library", str(path), "--max-smiles-length", "30")
    store = local_project.store()
    manifest = json.loads(store.get_bytes(layout.library_manifest("lib")))
    assert manifest["max_smiles_length"] == 30
    precalc("add-model", "eos3b5e")
    precalc("run")
    rejects = store.read_parquet(layout.rejected_library_rows("lib-0000")).to_pylist()
    assert [(r["row"], r["reason"]) for r in rejects] == [(1, "too_long")]
    assert local_project.serving().count("eos3b5e") == 2


@pytest.mark.parametrize("limit", ["0", "10001", "many"])
def test_add_library_max_smiles_length_out_of_range_is_a_usage_error(
    local_project, tmp_path, limit
):
    path = write_library(tmp_path / "lib.smi", nci_lines(3))
    result = precalc("add-library", str(path), "--max-smiles-length", limit, ok=False)
    assert result.exit_code == 2 and "--max-smiles-length" in result.output
    assert not local_project.store().exists(layout.library_manifest("lib"))


@pytest.mark.parametrize(
    ("model_id", "says"),
    [
        ("eos9zzz", "model 'eos9zzz': not registered in "),
        ("eos3b5e-typo", "model 'eos3b5e-typo' (did you mean 'eos3b5e'?): not registered in "),
        ("EOS|3b5e", "invalid model ID 'EOS|3b5e'"),
    ],
)
def test_lookup_of_a_model_that_is_not_registered_fails_listing_the_registered_ones(
    local_project, model_id, says
):
    """It used to print null for every key and exit 0."""
    precalc("add-model", "eos3b5e")
    precalc("add-model", "rdkit-physchem")
    result = precalc(
        "lookup", "--model", model_id, "--key", "LFQSCWFLJHTTHZ-UHFFFAOYSA-N", ok=False
    )
    assert result.exit_code == 1
    assert says in result.output
    assert "registered models: eos3b5e, rdkit-physchem" in result.output
    assert "precalc add-model" in result.output


def test_lookup_with_no_model_registered_says_so(local_project):
    result = precalc("lookup", "--model", "eos3b5e", "--key", "X", ok=False)
    assert result.exit_code == 1 and "registered models: none" in result.output


def test_run_recovers_from_a_damaged_prepared_slice(local_project, tmp_path):
    """A truncated library/<slice>.parquet used to fail every later run for ever."""
    precalc("add-library", str(write_library(tmp_path / "lib.smi", nci_lines(40))))
    precalc("add-model", "eos3b5e")
    precalc("run")
    store = local_project.store()
    damaged = store.root / layout.library_slice("lib-0000")
    damaged.write_bytes(damaged.read_bytes()[:100])
    precalc("add-model", "rdkit-physchem")
    out = precalc("run").output
    assert "1 partition(s) missing" in out
    expected = expected_molecules(nci_lines(40))
    assert local_project.serving().count("rdkit-physchem") == len(expected)
    assert store.read_parquet(layout.library_slice("lib-0000")).num_rows == len(expected)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{}".encode("utf-16"), "not UTF-8 text"),
        (b"[" * 100_000, "JSON nested more than 32 levels deep"),
        (json.dumps({"runner": "python", "columns": ["smiles"]}).encode(), "reserved name"),
        (
            json.dumps(
                {"runner": "python", "columns": [{"name": "v", "length": 100_000}]}
            ).encode(),
            "more than DynamoDB's item limit of 409,600 bytes",
        ),
    ],
    ids=["utf-16", "deep", "reserved-column", "too-wide"],
)
def test_add_model_refuses_unusable_specs_naming_the_file(local_project, tmp_path, content, says):
    spec = tmp_path / "m.json"
    spec.write_bytes(content)
    result = precalc("add-model", "mymodel", "--spec", str(spec), ok=False)
    assert result.exit_code == 1
    assert f"{spec}: " in result.output and says in result.output
    assert not local_project.store().exists(layout.model_request("mymodel"))


def test_a_failed_partition_prints_its_cause_without_stack_traces_or_notices(tmp_path):
    """What a user sees on the terminal: one line per event, no Dagster stack trace, no
    PreviewWarning / BetaWarning about features the project relies on."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PRECALC_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
    }
    spec = tmp_path / "crashy.json"
    crashy = "precalc_assets_tests.faulty_models:weight_or_crash"
    spec.write_text(json.dumps({"runner": "python", "columns": ["mol_weight"], "callable": crashy}))
    library = write_library(tmp_path / "lib.smi", nci_lines(20))
    for args in (["add-library", str(library)], ["add-model", "crashy", "--spec", str(spec)]):
        subprocess.run([sys.executable, "-m", "precalc_assets.cli", *args], env=env, check=True,
                       capture_output=True)  # fmt: skip
    env[FAIL_SWITCH] = "1"  # it crashes from now on (its trial at registration passed)
    run = subprocess.run([sys.executable, "-m", "precalc_assets.cli", "run"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    shown = run.stdout + run.stderr
    assert run.returncode == 1 and "crashy|lib-0000: FAILED" in shown and "crashed halfway" in shown
    assert "Traceback" not in shown and "Stack Trace" not in shown, shown
    # One line for the failed partition, not Dagster's ~10 ERROR lines (failed step,
    # skipped steps, run failure): those stay in the run's event log.
    (line,) = [line for line in shown.splitlines() if "crashy|lib-0000" in line]
    assert "(whole trace: http://localhost:3000/runs/" in line and " - ERROR - " not in shown, shown
    assert "Warning" not in shown, shown


def test_run_with_two_workers_equals_one_worker(tmp_path, monkeypatch):
    """`--workers 2` runs in two processes at once; what it serves is item for item
    what `--workers 1` serves."""
    lines = nci_lines(400)
    library = write_library(tmp_path / "library.smi", lines)
    served = {}
    for workers in ("1", "2"):
        home = tmp_path / f"home-{workers}"
        monkeypatch.setenv("PRECALC_HOME", str(home))
        monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
        precalc("add-library", str(library), "--slice-size", "100")
        precalc("add-model", "eos3b5e")
        precalc("add-model", "rdkit-physchem")
        out = precalc("run", "--workers", workers, "--partitions-per-run", "2").output
        assert "8 partition(s) missing" in out
        project = Project("local", tmp_path)
        items = project.serving().get_many("eos3b5e", list(expected_molecules(lines)))
        items |= {
            f"physchem:{k}": v
            for k, v in project.serving()
            .get_many("rdkit-physchem", list(expected_molecules(lines)))
            .items()
        }
        served[workers] = {k: (v.smiles, v.outputs, v.code_version) for k, v in items.items()}
        runs = project.instance.get_runs(dg.RunsFilter(job_name="precalculate"))
        pids = {r.tags["precalc/pid"] for r in runs}
        assert len(runs) == 4 and len(pids) == (1 if workers == "1" else 2)
        assert str(os.getpid()) in pids  # `precalc run` is one of its own workers
        if workers == "2":
            starts = sorted(
                (r.start_time, r.end_time)
                for r in map(project.instance.get_run_record_by_id, [r.run_id for r in runs])
            )
            assert any(b[0] < a[1] for a, b in zip(starts, starts[1:], strict=False)), (
                "runs overlapped"
            )
    assert served["1"] == served["2"] and len(served["1"]) == 2 * len(expected_molecules(lines))


def test_a_worker_is_replaced_after_its_runs_per_worker(local_project, tmp_path):
    """`--runs-per-worker 1`: each run in a fresh worker process (what keeps a worker's
    memory flat over a long library), and every partition published."""
    lines = nci_lines(200)
    library = write_library(tmp_path / "library.smi", lines)
    precalc("add-library", str(library), "--slice-size", "50")
    precalc("add-model", "eos3b5e")
    out = precalc(
        "run", "--workers", "2", "--partitions-per-run", "1", "--runs-per-worker", "1"
    ).output
    assert "4 partition(s) missing" in out
    runs = local_project.instance.get_runs(dg.RunsFilter(job_name="precalculate"))
    assert len(runs) == 4 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    pids = {r.tags["precalc/pid"] for r in runs}
    assert len(pids) == 4 and str(os.getpid()) in pids  # this one retired after its run
    served = local_project.serving().get_many("eos3b5e", list(expected_molecules(lines)))
    assert len(served) == len(expected_molecules(lines))


def test_a_typo_in_a_model_or_slice_fails_before_dagster_loads_naming_the_closest(
    local_project, tmp_path
):
    precalc("add-library", str(write_library(tmp_path / "lib.smi", nci_lines(30))))
    precalc("add-model", "eos3b5e")
    precalc("add-model", "morgan-fp2048")
    code = (
        "import sys\nfrom precalc_assets.cli import main\n"
        "try:\n    main(['run', '--model', 'eos3b5f', '--model', 'morgan'])\n"
        "except SystemExit:\n    pass\n"
        "print('dagster loaded:', 'dagster' in sys.modules)"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "dagster loaded: False" in ran.stdout, ran.stdout + ran.stderr
    assert (
        "not registered model(s): 'eos3b5f' (did you mean 'eos3b5e'?), 'morgan' (did you mean "
        "'morgan-fp2048'?); registered models: eos3b5e, morgan-fp2048; register with "
        "`precalc add-model`"
    ) in ran.stderr
    says = precalc("run", "--slice", "lib-0003", ok=False).output
    assert "'lib-0003' (did you mean 'lib-0000'?); registered slices: lib-0000" in says


def test_env_says_where_commands_read_and_write_and_warns_of_an_empty_home(
    local_project, tmp_path, monkeypatch
):
    monkeypatch.setenv("PRECALC_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-print-me")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    result = precalc("env")
    assert f"home           {tmp_path / 'elsewhere'} (does not exist yet)" in result.output
    assert f"storage        file://{tmp_path / 'elsewhere' / 'storage'}" in result.output
    assert "warning: no models or libraries registered in file://" in result.output
    assert "set PRECALC_HOME" in result.output and "(credentials set)" in result.output
    assert "do-not-print-me" not in result.output and "AKIDEXAMPLE" not in result.output
    assert not (tmp_path / "elsewhere").exists()  # nothing created

    monkeypatch.setenv("PRECALC_HOME", str(tmp_path / "home"))
    precalc("add-model", "eos3b5e")
    result = precalc("env")
    assert "registered     1 model(s) (eos3b5e), 0 library(ies) (-)" in result.output
    assert "warning" not in result.output
    assert precalc("--version").output.startswith("precalc, version ")
    assert " run [OPTIONS]" in precalc("run", "-h").output


@pytest.mark.parametrize(
    "args", [["--help"], ["lookup", "--model", "eos3b5e", "--key", "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"]]
)
def test_help_and_lookup_import_neither_dagster_nor_rdkit(local_project, args):
    """What makes them start in well under a second (measured, not asserted: README)."""
    code = (
        "import sys\nfrom precalc_assets.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('loaded:', sorted(m for m in ('dagster', 'rdkit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "loaded: []" in out, out
