"""The `command` runner, with real subprocesses: a hub-layout model repository built by
`model_repo.make_model_repo` (run with this process's interpreter: the environments
precalc builds are tested in `test_environments.py` and `cli/test_hub_models.py`), and a
plain script for the generic `command` form."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from precalc_assets.models.reasons import MODEL_FAILED
from precalc_assets.models.runners import model_stream
from precalc_assets.models.runners.batched import HOPELESS_AFTER
from precalc_assets.models.runners.command import CommandRunner
from precalc_assets.models.spec import DETAIL_COLUMN, REASON_COLUMN, ModelError, ModelSpec
from precalc_assets.models.spec import OutputColumn as Col
from precalc_assets_tests.model_repo import (
    EXAMPLE_SMILES,
    make_fingerprint_repo,
    make_model_repo,
    make_score_script,
    read_calls,
    read_environ,
)

# Real SMILES full of shell metacharacters: # ( ) [ ] = @ / \ + -
SMILES = [
    "CCO",
    "c1ccccc1",
    "C#N",
    "F/C=C\\F",
    "C[C@@H](O)C(=O)O",
    "[NH4+]",
    "CC(=O)Oc1ccccc1C(=O)O",
]
SOURCE = "inputs/models/eos3b5e.json"
WEIGHT = (Col("mol_weight"),)


def mol_weight(smiles: str) -> float:
    return Descriptors.MolWt(Chem.MolFromSmiles(smiles))


def spec(options: dict[str, Any], columns: tuple[Col, ...] = WEIGHT) -> ModelSpec:
    return ModelSpec("eos3b5e", "command", columns, options=options)


def own(repo: Path) -> dict[str, Any]:
    """A repository's options, run with this process's interpreter."""
    return {"repo": str(repo), "python": sys.executable}


def repo_spec(repo: Path, **options: Any) -> ModelSpec:
    """The repository run with this process's interpreter (its environment has RDKit)."""
    return spec({"repo": str(repo), "python": sys.executable, **options})


def assert_weights(values: list[Any], smiles: list[str]) -> None:
    assert len(values) == len(smiles)
    for value, s in zip(values, smiles, strict=True):
        assert value == pytest.approx(mol_weight(s), rel=1e-9), s


def starts(repo: Path) -> list[dict[str, Any]]:
    return [c for c in read_calls(repo) if c["event"] == "start"]


def process_gone(pid: int, within_s: float = 5.0) -> bool:
    """Whether the process has exited (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return True
        if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# -- the repository form -----------------------------------------------------------------


def test_repo_values_equal_rdkit_mol_weight_and_each_unique_smiles_runs_once(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e")
    smiles = [*SMILES, "CCO", "c1ccccc1"]
    logged: list[str] = []
    frame = CommandRunner(repo_spec(repo, batch_size=3), logged.append).predict(smiles, [])
    assert list(frame.columns) == ["mol_weight", REASON_COLUMN, DETAIL_COLUMN]
    assert_weights(frame["mol_weight"].tolist(), smiles)
    assert frame[REASON_COLUMN].isna().all()
    assert [c["molecules"] for c in starts(repo)] == [3, 3, 1]  # 7 unique SMILES
    assert any("3/3 batches" in line for line in logged)


def test_a_slice_given_in_parts_runs_each_batch_as_soon_as_it_is_full(tmp_path):
    """The model starts on the first batch while the rest of the slice is still being
    prepared, and its batches, and values, are those of the slice given whole."""
    repo = make_model_repo(tmp_path / "eos3b5e")
    smiles = [*SMILES, "CCO", "c1ccccc1"]
    parts = [smiles[:4], smiles[4:5], smiles[5:]]
    with CommandRunner(repo_spec(repo, batch_size=3)).stream() as stream:
        stream.add(parts[0])
        deadline = time.monotonic() + 60
        while not starts(repo) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [c["molecules"] for c in starts(repo)] == [3]  # before the rest is given
        for part in parts[1:]:
            stream.add(part)
        frame = stream.result()
    assert [c["molecules"] for c in starts(repo)] == [3, 3, 1]  # 7 unique SMILES
    assert_weights(frame["mol_weight"].tolist(), smiles)
    whole = CommandRunner(repo_spec(repo, batch_size=3)).predict(smiles, [])
    pd.testing.assert_frame_equal(frame, whole)


def test_a_failed_batch_stops_the_slice_before_it_is_all_given(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", exit_code=3)
    with CommandRunner(repo_spec(repo, batch_size=1)).stream() as stream:
        deadline, carbons = time.monotonic() + 60, 0
        with pytest.raises(ModelError, match="failed on every molecule"):
            while time.monotonic() < deadline:  # a new molecule until the model is hopeless
                carbons += 1
                stream.add(["C" * carbons])
                time.sleep(0.05)
    assert len(starts(repo)) <= HOPELESS_AFTER + 2  # not one run per molecule given


def test_a_wide_integer_model_s_values_are_its_own_counts(tmp_path):
    """A 256-column fingerprint, batches of 4 and a repeated SMILES: every value is the
    count RDKit gives, as an integer; an unreadable SMILES is a row of nulls."""
    bits = 256
    repo = make_fingerprint_repo(tmp_path / "counts", bits)
    columns = tuple(Col(f"dim_{i:04d}", "int", nullable=True) for i in range(bits))
    smiles = [*SMILES, "not a smiles", "CCO"]
    frame = CommandRunner(
        ModelSpec("counts", "command", columns, options={**own(repo), "batch_size": 4})
    ).predict(smiles, [])
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=bits)
    for row, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text)
        got = [frame[c.name].iloc[row] for c in columns]
        if mol is None:
            assert all(pd.isna(v) for v in got)
            continue
        assert got == generator.GetCountFingerprintAsNumPy(mol).tolist(), text
        assert {type(v) for v in got} <= {int, np.int64}
    assert frame[REASON_COLUMN].isna().all()


def test_describe_reads_metadata_columns_and_examples(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e")
    card = CommandRunner.describe("eos3b5e", own(repo))
    assert card is not None
    assert card.source == str(repo)
    assert (card.identifier, card.slug, card.consistency) == (
        "eos3b5e",
        "eos3b5e-molecular-weight",
        "Fixed",
    )
    assert card.columns == (Col("mol_weight", "float"),)
    assert card.example_inputs == EXAMPLE_SMILES
    assert [o.keys() for o in card.example_outputs] == [{"mol_weight"}] * len(EXAMPLE_SMILES)
    assert_weights([o["mol_weight"] for o in card.example_outputs], list(EXAMPLE_SMILES))


def test_describe_takes_the_smiles_column_and_maps_outputs_by_name(tmp_path):
    repo = make_model_repo(
        tmp_path / "eos9xyz",
        examples_header="smiles",
        examples_key=True,
        consistency="Variable",
        broken_examples=True,
    )
    card = CommandRunner.describe("eos9xyz", own(repo))
    assert card is not None
    assert card.consistency == "Variable"
    assert card.example_inputs == EXAMPLE_SMILES  # not the key column
    weights = [o["mol_weight"] for o in card.example_outputs]
    assert_weights([w - 1.0 for w in weights], list(EXAMPLE_SMILES))  # broken by +1.0


def test_describe_without_examples_or_metadata_says_nothing_of_them(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", examples=False, card=None)
    card = CommandRunner.describe("eos3b5e", {"repo": str(repo), "python": sys.executable})
    assert card is not None
    assert (card.identifier, card.slug, card.consistency) == ("", "", "")
    assert card.warnings == (
        f"model 'eos3b5e': {repo} has no metadata.yml nor metadata.json, so its Identifier, "
        "Slug, Output Consistency are unknown; add the card",
    )
    assert card.columns == (Col("mol_weight"),)
    assert (card.example_inputs, card.example_outputs) == ((), ())


@pytest.mark.parametrize("card", ["yml", "json"])
def test_metadata_yml_and_json_are_read_alike(tmp_path, card):
    repo = make_model_repo(tmp_path / "eos3b5e", card=card, consistency="Variable")
    described = CommandRunner.describe("eos3b5e", own(repo))
    assert described is not None
    assert (described.identifier, described.slug, described.consistency) == (
        "eos3b5e",
        "eos3b5e-molecular-weight",
        "Variable",
    )
    assert described.warnings == ()


def test_a_card_field_we_rely_on_that_is_missing_is_a_warning_naming_file_and_field(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", card="yml")
    card_file = repo / "metadata.yml"
    card_file.write_text(
        "Identifier: eos3b5e\nSlug: [molecular-weight]\nOutput Consistency: Fixed, Variable\n"
    )
    described = CommandRunner.describe("eos3b5e", own(repo))
    assert described.slug == "molecular-weight"  # a one-item list, as the hub accepts
    assert described.warnings == (
        f"model 'eos3b5e': {card_file} has 'Output Consistency' = 'Fixed, Variable'; the "
        "hub's values are Fixed or Variable (treated as Fixed)",
    )
    card_file.write_text("Identifier: eos3b5e\n")
    warnings = CommandRunner.describe("eos3b5e", own(repo)).warnings
    assert warnings == (
        f"model 'eos3b5e': {card_file} has no 'Slug'",
        f"model 'eos3b5e': {card_file} has no 'Output Consistency'",
    )
    card_file.write_text("Identifier: [eos3b5e\n")
    with pytest.raises(ModelError, match=r"metadata\.yml is not valid YAML"):
        CommandRunner.describe("eos3b5e", own(repo))


def test_describe_of_the_command_form_is_none(tmp_path):
    options = {"command": [sys.executable, "score.py", "{input}", "{output}"]}
    assert CommandRunner.describe("m", options) is None


def test_describe_refuses_an_unknown_column_type_naming_file_row_and_type(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", column_type="vector")
    with pytest.raises(ModelError, match=r"run_columns\.csv row 1 .*'mol_weight'.*'vector'"):
        CommandRunner.describe("eos3b5e", own(repo))


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("metadata.json", "{not json", r"metadata\.json is not valid JSON"),
        ("metadata.json", "[1, 2]", r"metadata\.json must hold a mapping of card fields"),
        ("model/framework/columns/run_columns.csv", "", r"run_columns\.csv is empty"),
        (
            "model/framework/columns/run_columns.csv",
            "column,kind\nx,float\n",
            r"run_columns\.csv must have a header with 'name' and 'type'",
        ),
        (
            "model/framework/examples/run_output.csv",
            "score\n1\n2\n3\n4\n5\n",
            r"run_output\.csv lacks the column\(s\) \['mol_weight'\]",
        ),
        (
            "model/framework/examples/run_output.csv",
            "mol_weight\n1\n",
            r"run_output\.csv has 1 rows for the 5 SMILES",
        ),
    ],
)
def test_describe_names_a_malformed_file(tmp_path, file, text, message):
    repo = make_model_repo(tmp_path / "eos3b5e")
    (repo / file).write_text(text)
    with pytest.raises(ModelError, match=message):
        CommandRunner.describe("eos3b5e", own(repo))


# -- faults --------------------------------------------------------------------------------


def test_a_failing_molecule_costs_only_itself(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", fail_on="Br")
    smiles = ["CCO", "CCBr", "c1ccccc1", "CCN", "CCC", "c1ccc(Br)cc1", "CO", "CCCC"]
    frame = CommandRunner(repo_spec(repo, batch_size=8)).predict(smiles, [])
    bromine = [i for i, s in enumerate(smiles) if "Br" in s]
    for i, s in enumerate(smiles):
        if i in bromine:
            assert pd.isna(frame["mol_weight"][i])  # a float column: NaN
            assert frame[REASON_COLUMN][i] == MODEL_FAILED
            # The model's own last error line, not our message around it.
            assert frame[DETAIL_COLUMN][i] == "ValueError: cannot handle a molecule containing 'Br'"
        else:
            assert frame["mol_weight"][i] == pytest.approx(mol_weight(s), rel=1e-9)
            assert frame[REASON_COLUMN][i] is None


def test_a_model_that_always_exits_non_zero_stops_quickly_quoting_its_stderr_tail(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", exit_code=3)
    smiles = [f"C{'C' * i}O" for i in range(40)]
    with pytest.raises(ModelError) as raised:
        CommandRunner(repo_spec(repo, batch_size=40)).predict(smiles, [])
    message = str(raised.value)
    assert "'eos3b5e' failed on every molecule" in message
    assert "model/framework/run.sh exited with status 3" in message
    assert "FATAL: this model cannot run here" in message
    assert "Traceback line 29" in message and "Traceback line 0 " not in message  # a tail
    # The hopeless guard stopped the halving: isolating all 40 would take 79 runs.
    assert len(starts(repo)) < 25  # isolating all 40 would take 79 runs


def test_a_hanging_model_is_killed_after_timeout_s(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", hang_s=60)
    with pytest.raises(
        ModelError,
        match=r"model 'eos3b5e' did not finish a batch of 2 molecules within 1 s \(timeout_s\)",
    ):
        CommandRunner(repo_spec(repo, timeout_s=1)).predict(["CCO", "CCN"], [])
    (started,) = starts(repo)
    # main.py runs under bash: the whole process group was killed, not only bash.
    assert process_gone(started["pid"])
    assert [c["event"] for c in read_calls(repo)] == ["start"]


def test_a_wrong_row_count_is_halved_until_answered(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", wrong_rows=True)
    smiles = SMILES[:4]
    frame = CommandRunner(repo_spec(repo, batch_size=4)).predict(smiles, [])
    assert_weights(frame["mol_weight"].tolist(), smiles)
    assert frame[REASON_COLUMN].isna().all()
    # [1, 1] answered whole, so [2] is known to fail: split without running it.
    assert [c["molecules"] for c in starts(repo)] == [4, 2, 1, 1, 1, 1]


def test_empty_cells_are_none(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", empty_values=True)
    smiles = SMILES[:4]
    frame = CommandRunner(repo_spec(repo)).predict(smiles, [])
    values = frame["mol_weight"].tolist()
    assert pd.isna(values[1]) and pd.isna(values[3])
    assert_weights([values[0], values[2]], [smiles[0], smiles[2]])
    assert frame[REASON_COLUMN].isna().all()  # null values, not failures


def test_an_undeclared_output_column_stops_the_partition(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e")
    runner = CommandRunner(spec({"repo": str(repo), "python": sys.executable}, (Col("logp"),)))
    with pytest.raises(ModelError, match=r"did not answer its declared column\(s\) \['logp'\]"):
        runner.predict(["CCO"], [])


# -- the generic command form --------------------------------------------------------------


def score_spec(tmp_path: Path, **options: Any) -> ModelSpec:
    script = make_score_script(tmp_path)
    command = [sys.executable, str(script), "{input}", "{output}"]
    columns = (Col("mol_weight"), Col("echo", "str"), Col("cwd", "str"))
    return spec({"command": command, **options}, columns)


def test_the_command_form_runs_any_program_in_its_cwd(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    frame = CommandRunner(score_spec(tmp_path, cwd=str(work))).predict(SMILES, [])
    assert_weights(frame["mol_weight"].tolist(), SMILES)
    assert frame["echo"].tolist() == SMILES
    assert set(frame["cwd"]) == {str(work)}


def test_the_command_form_runs_in_a_fresh_temporary_directory_without_cwd(tmp_path):
    frame = CommandRunner(score_spec(tmp_path, batch_size=2)).predict(SMILES[:4], [])
    folders = list(dict.fromkeys(frame["cwd"]))
    assert len(folders) == 2  # one per batch
    assert not any(Path(folder).exists() for folder in folders)  # removed afterwards


def test_smiles_with_shell_metacharacters_reach_the_program_as_they_are(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    evil = [
        "C$(touch pwned1)",
        "C`touch pwned2`",
        "C;touch pwned3",
        "C|C&&touch pwned4",
        "C > pwned5",
        "C'\"",
        "C,O",
        "C*",
        "$HOME",
        "{input}",
    ]
    frame = CommandRunner(score_spec(tmp_path, cwd=str(work))).predict(evil, [])
    assert frame["echo"].tolist() == evil
    assert list(work.iterdir()) == []


def test_concurrency_two_runs_two_processes_at_once(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", hang_s=0.5)
    smiles = SMILES[:4]
    frame = CommandRunner(repo_spec(repo, batch_size=1, concurrency=2)).predict(smiles, [])
    assert_weights(frame["mol_weight"].tolist(), smiles)
    calls = read_calls(repo)
    spans = {}
    for call in calls:
        spans.setdefault(call["pid"], {})[call["event"]] = call["time"]
    assert len(spans) == 4
    intervals = sorted((s["start"], s["end"]) for s in spans.values())
    overlapping = [a[1] > b[0] for a, b in zip(intervals, intervals[1:], strict=False)]
    assert any(overlapping)
    # Never more than two at once: each start sees at most one other run in flight.
    for start, _ in intervals:
        assert sum(s <= start < e for s, e in intervals) <= 2


def test_concurrency_one_runs_one_process_at_a_time(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e")
    CommandRunner(repo_spec(repo, batch_size=1)).predict(SMILES[:2], [])
    events = [c["event"] for c in read_calls(repo)]
    assert events == ["start", "end", "start", "end"]


def test_processes_a_model_leaves_behind_are_killed(tmp_path):
    pid_file = tmp_path / "sleeper.pid"
    script = 'sleep 30 & echo $! > "$3"; printf "mol_weight\\n1.5\\n" > "$2"'
    command = ["bash", "-c", script, "model", "{input}", "{output}", str(pid_file)]
    frame = CommandRunner(spec({"command": command})).predict(["CCO"], [])
    assert frame["mol_weight"].tolist() == [1.5]
    assert process_gone(int(pid_file.read_text()))


def test_exit_zero_without_an_output_file_fails_the_batch(tmp_path):
    command = [sys.executable, "-c", "print('did nothing')", "{input}", "{output}"]
    frame = CommandRunner(spec({"command": command})).predict(["CCO"], [])
    assert frame["mol_weight"].isna().all()
    assert frame[REASON_COLUMN][0] == MODEL_FAILED
    assert (
        frame[DETAIL_COLUMN][0] == f"{Path(sys.executable).name} wrote no output CSV; did nothing"
    )


def test_a_program_that_cannot_start_stops_the_partition(tmp_path):
    missing = [str(tmp_path / "no-such-program"), "{input}", "{output}"]
    with pytest.raises(ModelError, match=r"'eos3b5e': there is no executable program .*no-such"):
        CommandRunner(spec({"command": missing}))
    program = tmp_path / "model"
    program.write_text("#!/no/such/interpreter\n")
    program.chmod(0o755)
    command = [str(program), "{input}", "{output}"]
    with pytest.raises(ModelError, match=r"model 'eos3b5e': cannot start .*model"):
        CommandRunner(spec({"command": command})).predict(["CCO"], [])


def test_placeholders_inside_arguments_are_replaced(tmp_path):
    script = make_score_script(tmp_path)
    code = (
        "import runpy, sys; "
        "sys.argv = [sys.argv[0], sys.argv[1].split('=')[1], sys.argv[2].split('=')[1]]; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    command = [sys.executable, "-c", code, "--in={input}", "--out={output}"]
    frame = CommandRunner(spec({"command": command})).predict(["CCO"], [])
    assert_weights(frame["mol_weight"].tolist(), ["CCO"])


# -- check_options -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def valid_repo(tmp_path_factory) -> Path:
    return make_model_repo(tmp_path_factory.mktemp("repos") / "eos3b5e")


COMMAND = [sys.executable, "score.py", "{input}", "{output}"]


def refusals(repo: Path, tmp: Path) -> list[tuple[dict[str, Any], str]]:
    no_run_sh = make_model_repo(tmp / "no-run-sh", run_sh=False)
    no_columns = make_model_repo(tmp / "no-columns", run_columns=False)
    return [
        ({}, r"needs exactly one of 'repo' .* and 'command' .*got neither"),
        ({"repo": str(repo), "command": COMMAND}, r"needs exactly one of .*got both"),
        ({"repo": "models/eos3b5e"}, r"'repo' must be the absolute path .*'models/eos3b5e'"),
        ({"repo": str(tmp / "missing")}, r"'repo' must be the absolute path of an existing"),
        ({"repo": 42}, r"'repo' must be the absolute path"),
        (
            {"repo": str(no_run_sh)},
            r"has no model/framework/run\.sh; 'repo' must be a model repository in the "
            r"hub's template layout",
        ),
        (
            {"repo": str(no_columns)},
            r"has no model/framework/columns/run_columns\.csv; .*template layout",
        ),
        ({"repo": str(repo), "cwd": str(tmp)}, r"'cwd' applies to the 'command' form only"),
        ({"command": "python score.py {input} {output}"}, r"'command' must be a non-empty list"),
        ({"command": []}, r"'command' must be a non-empty list"),
        ({"command": ["python", 1, "{input}", "{output}"]}, r"non-empty list of strings"),
        ({"command": ["", "{input}", "{output}"]}, r"non-empty list of strings"),
        ({"command": ["python", "score.py", "{output}"]}, r"lacks the placeholder \{input\}"),
        ({"command": ["python", "score.py", "{input}"]}, r"lacks the placeholder \{output\}"),
        ({"command": ["score", "{in}", "{out}"]}, r"lacks the placeholder \{input\}"),
        ({"command": COMMAND, "cwd": "work"}, r"'cwd' must be the absolute path .*'work'"),
        ({"command": COMMAND, "cwd": str(tmp / "nope")}, r"'cwd' must be the absolute path"),
        ({"command": COMMAND, "batch_size": 0}, r"'batch_size' must be a number"),
        ({"command": COMMAND, "batch_size": "10"}, r"'batch_size' must be a number"),
        ({"command": COMMAND, "batch_size": 2.5}, r"'batch_size' must be a whole number"),
        ({"command": COMMAND, "concurrency": 0}, r"'concurrency' must be a number"),
        ({"command": COMMAND, "concurrency": 1000}, r"'concurrency' must be a number"),
        ({"command": COMMAND, "timeout_s": -1}, r"'timeout_s' must be a number"),
        ({"command": COMMAND, "timeout_s": True}, r"'timeout_s' must be a number"),
        (
            {"command": COMMAND, "timeout": 5},
            r"unknown option\(s\) \['timeout'\]; the command runner accepts repo, command, "
            r"cwd, python, python_version, env, pass_env, environments, input_smiles, "
            r"batch_size, concurrency, timeout_s",
        ),
        ({"command": COMMAND, "python": "bin/python"}, r"'python' must be the absolute path"),
        (
            {"command": COMMAND, "python": str(tmp / "missing" / "python")},
            r"'python' must be the absolute path of the interpreter .*not an executable file",
        ),
        ({"repo": str(repo), "python_version": 3.11}, r"'python_version' must be a Python version"),
        ({"repo": str(repo), "python_version": "3.11; rm"}, r"'python_version' must be"),
        ({"command": COMMAND, "python_version": "3.11"}, r"'python_version' applies to a repo"),
        ({"command": COMMAND, "env": ["X"]}, r"'env' must be an object of variable names"),
        ({"command": COMMAND, "env": {"X": 1}}, r"'env' must be an object"),
        ({"command": COMMAND, "pass_env": "HF_TOKEN"}, r"'pass_env' must be a list"),
        ({"command": COMMAND, "env": {"A B": "1"}}, r"'A B' is not a variable name"),
        (
            {"command": COMMAND, "pass_env": ["AWS_SECRET_ACCESS_KEY"]},
            r"variable 'AWS_SECRET_ACCESS_KEY' is never given to a model",
        ),
        ({"command": COMMAND, "env": {"RDBASE": "/x"}}, r"variable 'RDBASE' is never given"),
        ({"command": COMMAND, "pass_env": ["precalc_home"]}, r"'precalc_home' is never given"),
        ({"command": COMMAND, "env": {"PYTHONPATH": "/x"}}, r"'PYTHONPATH' is never given"),
        ({"command": COMMAND, "input_smiles": "raw"}, r"'input_smiles' must be 'library'"),
        (
            {"command": ["no-such-model-program", "{input}", "{output}"]},
            r"cannot find the program 'no-such-model-program' on the model's PATH",
        ),
        (
            {"repo": str(repo), "environments": "envs"},
            r"'environments' must be the absolute path of the folder",
        ),
    ]


def test_check_options_refuses_each_bad_option_naming_source_and_model(valid_repo, tmp_path):
    for options, message in refusals(valid_repo, tmp_path):
        with pytest.raises(ModelError, match=message) as raised:
            CommandRunner.check_options("eos3b5e", options, SOURCE)
        assert str(raised.value).startswith(f"{SOURCE}: model 'eos3b5e'"), options
        # The runner itself refuses them too, before running anything.
        with pytest.raises(ModelError, match=message):
            CommandRunner(spec(options))


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 10, "concurrency": 4, "timeout_s": 0.5},
        {},
    ],
)
def test_check_options_accepts_both_forms(valid_repo, tmp_path, options):
    CommandRunner.check_options("eos3b5e", {"repo": str(valid_repo), **options}, SOURCE)
    command = {"command": COMMAND, "cwd": str(tmp_path), **options}
    CommandRunner.check_options("eos3b5e", command, SOURCE)


# -- a clean process for someone else's program --------------------------------------------

OURS = {
    "AWS_ACCESS_KEY_ID": "AKIAOURSECRETKEY0000",
    "AWS_SECRET_ACCESS_KEY": "our/secret/access/key",
    "AWS_SESSION_TOKEN": "our-session-token",
    "PRECALC_HOME": "/our/precalc/home",
    "PRECALC_STORAGE_URL": "s3://our-bucket/prefix",
    "DAGSTER_HOME": "/our/dagster/home",
    "PYTHONPATH": "/our/python/path",
    "HF_TOKEN": "a-token-the-deployment-passes-on",
    "UNRELATED": "a variable of ours nobody named",
}


def test_a_model_sees_none_of_our_environment(tmp_path, monkeypatch):
    for name, value in OURS.items():
        monkeypatch.setenv(name, value)
    assert os.environ["RDBASE"]  # importing RDKit here set it: a model must not see it
    repo = make_model_repo(tmp_path / "eos3b5e")
    options = {"env": {"OMP_NUM_THREADS": "1"}, "pass_env": ["HF_TOKEN"]}
    frame = CommandRunner(repo_spec(repo, **options)).predict(["CCO"], [])
    assert_weights(frame["mol_weight"].tolist(), ["CCO"])
    seen = read_environ(repo)
    environ = seen["environ"]
    leaked = sorted(
        name
        for name in environ
        if name.startswith(("AWS_", "PRECALC_", "DAGSTER_")) or name in ("RDBASE", "PYTHONPATH")
    )
    assert leaked == []
    assert not set(environ.values()) & {v for k, v in OURS.items() if k != "HF_TOKEN"}
    assert environ["HF_TOKEN"] == OURS["HF_TOKEN"] and environ["OMP_NUM_THREADS"] == "1"
    # Its interpreter first on PATH, then the system's: never our venv's PATH.
    assert environ["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert environ["PATH"].split(os.pathsep)[1:] == [
        "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"
    ]  # fmt: skip
    # A fresh HOME and TMPDIR of its own, inside the batch's folder (gone afterwards).
    assert Path(environ["HOME"]).parent == Path(environ["TMPDIR"])
    assert environ["HOME"] != os.environ.get("HOME") and not Path(environ["TMPDIR"]).exists()
    assert environ["LANG"]
    assert seen["executable"] == str(Path(sys.executable).parent / "python")


def test_run_sh_gets_the_hubs_four_arguments(tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e")
    run_sh = repo / "model" / "framework" / "run.sh"
    run_sh.write_text(run_sh.read_text() + 'echo "$1 $4" > "$4/arguments.txt"\n')
    CommandRunner(repo_spec(repo)).predict(["CCO"], [])
    framework = repo / "model" / "framework"
    assert (repo / "arguments.txt").read_text() == f"{framework} {repo}\n"


def test_a_relative_program_is_found_on_the_models_own_path(tmp_path):
    script = make_score_script(tmp_path)
    command = ["python", str(script), "{input}", "{output}"]
    columns = (Col("mol_weight"), Col("echo", "str"), Col("cwd", "str"))
    runner = CommandRunner(spec({"command": command, "python": sys.executable}, columns))
    assert runner.argv[0] == str(Path(sys.executable).parent / "python")
    assert_weights(runner.predict(["CCO"], [])["mol_weight"].tolist(), ["CCO"])


def test_a_variable_the_deployment_did_not_pass_fails_quoting_the_models_stderr(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MODEL_TOKEN", "a-token-of-ours")
    repo = make_model_repo(tmp_path / "eos3b5e")
    run_sh = repo / "model" / "framework" / "run.sh"
    run_sh.write_text(': "${MODEL_TOKEN:?is not set: give it to the model}"\n' + run_sh.read_text())
    smiles = [f"C{'C' * i}O" for i in range(10)]
    with pytest.raises(ModelError) as raised:
        CommandRunner(repo_spec(repo, batch_size=10)).predict(smiles, [])
    message = str(raised.value)
    assert "'eos3b5e' failed on every molecule" in message
    assert "MODEL_TOKEN: is not set: give it to the model" in message  # its stderr, quoted
    assert "a-token-of-ours" not in message
    # Named by the deployment, the model gets it.
    frame = CommandRunner(repo_spec(repo, pass_env=["MODEL_TOKEN"])).predict(smiles, [])
    assert_weights(frame["mol_weight"].tolist(), smiles)


def sleeping(seconds: str) -> list[int]:
    """The processes running `sleep <seconds>`."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", seconds.encode()]:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_descendant_that_leaves_the_process_group_is_killed_too(tmp_path):
    """`setsid` (or a daemon's double fork) leaves the batch's process group: one orphan
    per run.sh call outlived the run."""
    seconds = str(4000 + os.getpid() % 1000)
    script = (
        f'setsid sleep {seconds} & (setsid sleep {seconds} &) ; printf "mol_weight\\n1.5\\n" > "$2"'
    )
    command = ["bash", "-c", script, "model", "{input}", "{output}"]
    frame = CommandRunner(spec({"command": command})).predict(["CCO"], [])
    assert frame["mol_weight"].tolist() == [1.5]
    deadline = time.monotonic() + 5
    while sleeping(seconds) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sleeping(seconds) == []


def test_an_undeclared_column_of_any_size_costs_nothing(tmp_path):
    """A 200,000-character cell in a column nobody declared made the whole output
    unreadable (the csv module refuses fields over 131,072 characters)."""
    script = (
        'python3 -c "import sys; n = sum(1 for _ in open(sys.argv[1])) - 1; '
        "out = open(sys.argv[2], 'w'); out.write('junk,mol_weight\\n'); "
        '[out.write(\'x\' * 200000 + \',1.5\\n\') for _ in range(n)]" "$1" "$2"'
    )
    command = ["bash", "-c", script, "model", "{input}", "{output}"]
    frame = CommandRunner(spec({"command": command})).predict(SMILES, [])
    assert frame["mol_weight"].tolist() == [1.5] * len(SMILES)
    assert frame["reason"].isna().all()


def test_each_batch_is_told_as_it_is_answered(tmp_path):
    """`precalc run`'s progress within a partition: a batched model tells each batch's
    molecules as it answers them (a repeated SMILES is answered once)."""
    told: list[int] = []
    with model_stream(score_spec(tmp_path, batch_size=2), answered=told.append) as stream:
        stream.add(SMILES[:5])
        stream.add(SMILES[:2])  # repeated
        frame = stream.result()
    assert len(frame) == 7 and sorted(told) == [1, 2, 2]
