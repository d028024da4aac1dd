"""`command`: a model run as a program, one batch of SMILES per run, through CSV files.

Two forms of options:

- `{"repo": "/abs/path/eos3b5e"}`: a model repository in the hub's template layout,
  run as `bash <repo>/model/framework/run.sh <repo>/model/framework input.csv output.csv`;
  its `metadata.json`, `model/framework/columns/run_columns.csv` and examples make up
  its card (`describe`).
- `{"command": ["python", "score.py", "{input}", "{output}"], "cwd": "/abs/dir"}`: any
  program; `{input}` and `{output}` are replaced by the absolute paths of the files.

Either way the input CSV has the header `input` and one SMILES per row, and the output
CSV has a header of column names and one row per input, in input order. The SMILES only
ever reach the program through that file, never through a shell.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from precalc_assets.models.runners.base import HUB_DTYPES, Log, ModelCard, no_log
from precalc_assets.models.runners.batched import BatchedRunner, BatchFailed
from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn

INPUT_PLACEHOLDER = "{input}"
OUTPUT_PLACEHOLDER = "{output}"
DEFAULT_TIMEOUT_S = 3_600.0
OPTIONS = ("repo", "command", "cwd", "batch_size", "concurrency", "timeout_s")
# Where a hub repository keeps its entry point, its columns and its examples.
RUN_SH = "model/framework/run.sh"
FRAMEWORK = "model/framework"
RUN_COLUMNS = "model/framework/columns/run_columns.csv"
METADATA = "metadata.json"
EXAMPLE_INPUT = "model/framework/examples/run_input.csv"
EXAMPLE_OUTPUT = "model/framework/examples/run_output.csv"
# How much of a failed run's stderr a message quotes.
TAIL_LINES = 15
TAIL_CHARS = 1_500
TAIL_READ_BYTES = 64 * 1024
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})


def _float(text: str) -> float | None:
    if "_" in text:  # Python reads "1_000" as a number; a CSV does not mean one
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    if "_" in text:
        return None
    try:
        return int(text)
    except ValueError:
        value = _float(text)  # "3.0", "1e3"
        if value is None or not math.isfinite(value) or not value.is_integer():
            return None
        return int(value)


def _bool(text: str) -> bool | None:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


_SCALARS = {"float": _float, "int": _int, "bool": _bool, "str": lambda text: text}


def convert_cell(cell: str | None, column: OutputColumn) -> Any:
    """A CSV cell as the column's dtype: empty or unparseable -> None (validation then
    quarantines the row). A vector column's cell holds a JSON list (`[0, 1, 1]`)."""
    if cell is None:
        return None
    text = cell if column.dtype == "str" else cell.strip()
    if text == "":
        return None
    scalar = _SCALARS[column.dtype]
    if not column.length:
        return scalar(text)
    try:
        items = json.loads(text)
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    values = [None if item is None else scalar(str(item)) for item in items]
    return None if any(v is None for v in values) else values


def _tail(text: str) -> str:
    lines = text.strip().splitlines()[-TAIL_LINES:]
    tail = "\n".join(lines)
    return tail if len(tail) <= TAIL_CHARS else "..." + tail[-TAIL_CHARS:]


def _read_end(path: Path) -> str:
    """The end of a (possibly huge) log file, as text."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - TAIL_READ_BYTES))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _output_tail(stderr_path: Path, stdout_path: Path) -> str:
    """What a failed run said: the tail of its stderr, else of its stdout."""
    stderr = _tail(_read_end(stderr_path))
    if stderr:
        return f"stderr tail: {stderr}"
    stdout = _tail(_read_end(stdout_path))
    return f"stderr empty; stdout tail: {stdout}" if stdout else "stderr and stdout empty"


def _csv_rows(path: Path, model_id: str) -> list[list[str]]:
    """A repository file's non-blank rows, header first; a ModelError names the file."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ModelError(f"model {model_id!r}: cannot read {path} ({exc}); fix the file") from exc
    if not rows:
        raise ModelError(f"model {model_id!r}: {path} is empty; it needs a header row")
    return rows


def _metadata(repo: Path, model_id: str) -> dict[str, str]:
    path = repo / METADATA
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(
            f"model {model_id!r}: {path} is not valid JSON ({exc}); fix the file"
        ) from exc
    if not isinstance(data, dict):
        raise ModelError(f"model {model_id!r}: {path} must hold a JSON object")
    fields = {}
    for key in ("Identifier", "Slug", "Output Consistency"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ModelError(
                f"model {model_id!r}: {path} has {key!r} = {value!r}; it must be a string"
            )
        fields[key] = (value or "").strip()
    return fields


def _run_columns(repo: Path, model_id: str) -> tuple[OutputColumn, ...]:
    path = repo / RUN_COLUMNS
    header, *rows = _csv_rows(path, model_id)
    header = [h.strip().lower() for h in header]
    if "name" not in header or "type" not in header:
        raise ModelError(
            f"model {model_id!r}: {path} must have a header with 'name' and 'type' "
            f"(the hub's 'name,type,direction,description'), got {header}"
        )
    name_at, type_at = header.index("name"), header.index("type")
    columns: list[OutputColumn] = []
    for i, row in enumerate(rows, start=1):
        name = row[name_at].strip() if name_at < len(row) else ""
        hub_type = row[type_at].strip() if type_at < len(row) else ""
        if not name:
            raise ModelError(f"model {model_id!r}: {path} row {i} has no column name")
        dtype = HUB_DTYPES.get(hub_type.lower())
        if dtype is None:
            raise ModelError(
                f"model {model_id!r}: {path} row {i} (column {name!r}) has type "
                f"{hub_type!r}; use one of {', '.join(HUB_DTYPES)}"
            )
        columns.append(OutputColumn(name, dtype))
    if not columns:
        raise ModelError(f"model {model_id!r}: {path} declares no columns")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ModelError(f"model {model_id!r}: {path} declares a column name twice: {names}")
    return tuple(columns)


def _examples(
    repo: Path, model_id: str, columns: tuple[OutputColumn, ...]
) -> tuple[tuple[str, ...], tuple[dict[str, Any], ...]]:
    """The example SMILES (the `input`/`smiles` column, else the first) and, when the
    repository has them, the outputs by declared column name."""
    input_path, output_path = repo / EXAMPLE_INPUT, repo / EXAMPLE_OUTPUT
    if not input_path.is_file():
        return (), ()
    header, *rows = _csv_rows(input_path, model_id)
    names = [h.strip().lower() for h in header]
    at = next((names.index(n) for n in ("input", "smiles") if n in names), 0)
    inputs = tuple(row[at].strip() if at < len(row) else "" for row in rows)
    if any(not s for s in inputs):
        raise ModelError(f"model {model_id!r}: {input_path} has a row without a SMILES")
    if not output_path.is_file():
        return inputs, ()
    header, *rows = _csv_rows(output_path, model_id)
    header = [h.strip() for h in header]
    missing = [c.name for c in columns if c.name not in header]
    if missing:
        raise ModelError(
            f"model {model_id!r}: {output_path} lacks the column(s) {missing} that "
            f"{RUN_COLUMNS} declares (its header: {header[:20]})"
        )
    if len(rows) != len(inputs):
        raise ModelError(
            f"model {model_id!r}: {output_path} has {len(rows)} rows for the "
            f"{len(inputs)} SMILES of {input_path}; they must match row for row"
        )
    outputs = []
    for row in rows:
        cells = dict(zip(header, row, strict=False))
        outputs.append({c.name: convert_cell(cells.get(c.name), c) for c in columns})
    return inputs, tuple(outputs)


class CommandRunner(BatchedRunner):
    """A model run as a program on each batch (see the module's docstring)."""

    name = "command"
    default_concurrency: ClassVar[int] = 1

    @classmethod
    def describes_itself(cls, options: Mapping[str, Any]) -> bool:
        return "repo" in options

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        self.check_options(spec.model_id, spec.options, "runner 'command'")
        super().__init__(spec, log)
        self.timeout_s = self.timeout(spec.options, DEFAULT_TIMEOUT_S)
        options = spec.options
        if "repo" in options:
            repo = Path(options["repo"])
            self.argv = ["bash", str(repo / RUN_SH), str(repo / FRAMEWORK)]
            self.argv += [INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER]
            self.cwd: str | None = None
            self.program = RUN_SH  # for messages
        else:
            self.argv = list(options["command"])
            self.cwd = options.get("cwd")
            self.program = Path(self.argv[0]).name

    @classmethod
    def check_options(cls, model_id: str, options: Mapping[str, Any], source: str) -> None:
        where = f"{source}: model {model_id!r}"
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ModelError(
                f"{where} has unknown option(s) {unknown}; the command runner accepts "
                f"{', '.join(OPTIONS)}"
            )
        has_repo, has_command = "repo" in options, "command" in options
        if has_repo == has_command:
            raise ModelError(
                f"{where} needs exactly one of 'repo' (the absolute path of a model "
                "repository in the hub's template layout) and 'command' (a list of "
                'strings such as ["python", "score.py", "{input}", "{output}"]), '
                f"got {'both' if has_repo else 'neither'}"
            )
        if has_repo:
            cls._check_repo(where, options["repo"])
            if "cwd" in options:
                raise ModelError(
                    f"{where}: 'cwd' applies to the 'command' form only (a repository's "
                    "run.sh runs in a temporary directory); remove it"
                )
        else:
            cls._check_command(where, options["command"])
            if "cwd" in options:
                cwd = options["cwd"]
                if not isinstance(cwd, str) or not os.path.isabs(cwd) or not Path(cwd).is_dir():
                    raise ModelError(
                        f"{where}: 'cwd' must be the absolute path of an existing "
                        f"directory, got {cwd!r}"
                    )
        try:
            cls.batch_settings(options)
            cls.timeout(options, DEFAULT_TIMEOUT_S)
        except ValueError as exc:
            raise ModelError(f"{where}: {exc}") from None

    @staticmethod
    def _check_repo(where: str, repo: Any) -> None:
        if not isinstance(repo, str) or not os.path.isabs(repo) or not Path(repo).is_dir():
            raise ModelError(
                f"{where}: 'repo' must be the absolute path of an existing model "
                f"repository directory, got {repo!r}"
            )
        for file in (RUN_SH, RUN_COLUMNS):
            if not (Path(repo) / file).is_file():
                raise ModelError(
                    f"{where}: repository {repo} has no {file}; 'repo' must be a model "
                    "repository in the hub's template layout (model/framework/run.sh, "
                    "model/framework/columns/run_columns.csv)"
                )

    @staticmethod
    def _check_command(where: str, command: Any) -> None:
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(arg, str) for arg in command)
            or not command[0]
        ):
            raise ModelError(
                f"{where}: 'command' must be a non-empty list of strings, the program "
                f'first, e.g. ["python", "score.py", "{{input}}", "{{output}}"]; got '
                f"{command!r}"
            )
        for placeholder in (INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER):
            if not any(placeholder in arg for arg in command):
                raise ModelError(
                    f"{where}: 'command' {command!r} lacks the placeholder {placeholder}; "
                    "it is replaced by the absolute path of the input CSV ({input}) or of "
                    "the output CSV the program writes ({output})"
                )

    @classmethod
    def describe(cls, model_id: str, options: Mapping[str, Any]) -> ModelCard | None:
        cls.check_options(model_id, options, "runner 'command'")
        if "repo" not in options:
            return None
        repo = Path(options["repo"])
        metadata = _metadata(repo, model_id)
        columns = _run_columns(repo, model_id)
        inputs, outputs = _examples(repo, model_id, columns)
        return ModelCard(
            source=str(repo),
            identifier=metadata.get("Identifier", ""),
            slug=metadata.get("Slug", ""),
            consistency=metadata.get("Output Consistency", ""),
            columns=columns,
            example_inputs=inputs,
            example_outputs=outputs,
        )

    def run_batch(self, smiles: list[str]) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="precalc-command-") as tmp:
            folder = Path(tmp)
            input_path, output_path = folder / "input.csv", folder / "output.csv"
            with input_path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(["input"])
                writer.writerows([s] for s in smiles)
            argv = [
                arg.replace(INPUT_PLACEHOLDER, str(input_path)).replace(
                    OUTPUT_PLACEHOLDER, str(output_path)
                )
                for arg in self.argv
            ]
            status, said = self._run(argv, folder, len(smiles))
            if status != 0:
                how = f"status {status}" if status > 0 else f"signal {-status}"
                raise BatchFailed(
                    f"{self.program} exited with {how} on a batch of {len(smiles)} "
                    f"molecule(s); {said}"
                )
            if not output_path.is_file():
                raise BatchFailed(
                    f"{self.program} exited with status 0 but wrote no output CSV for a "
                    f"batch of {len(smiles)} molecule(s); {said}"
                )
            return self._read_output(output_path)

    def _run(self, argv: Sequence[str], folder: Path, molecules: int) -> tuple[int, str]:
        """Exit status of one run and what it said (its output's tail); stdout and
        stderr go to files, so a descendant that keeps them open cannot block us."""
        stdout_path, stderr_path = folder / "stdout.txt", folder / "stderr.txt"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            try:
                process = subprocess.Popen(
                    argv,
                    cwd=self.cwd or folder,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ModelError(
                    f"model {self.spec.model_id!r}: cannot start {argv[0]!r} ({exc}); fix "
                    "the 'command' (or 'repo') of its request, or install the program"
                ) from exc
            try:
                status = process.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                raise ModelError(
                    f"model {self.spec.model_id!r} did not finish a batch of {molecules} "
                    f"molecules within {self.timeout_s:g} s (timeout_s); its processes were "
                    "killed. Raise 'timeout_s' or lower 'batch_size' in its request, or fix "
                    f"the model. {_output_tail(stderr_path, stdout_path)}"
                ) from None
            finally:
                # Whatever happened (a timeout, an interrupt, descendants still running
                # after run.sh exited), leave no process of the run behind.
                _kill_group(process)
        return status, _output_tail(stderr_path, stdout_path)

    def _read_output(self, path: Path) -> list[dict[str, Any]]:
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.reader(handle))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise BatchFailed(f"the output CSV cannot be read ({exc})") from exc
        rows = [row for row in rows if row]  # csv writes an empty single cell as ""
        if not rows:
            raise BatchFailed("the output CSV is empty (no header row of column names)")
        header, *body = rows
        header = [name.strip() for name in header]
        wanted = [(header.index(c.name), c) for c in self.spec.columns if c.name in header]
        records = []
        for i, row in enumerate(body, start=1):
            if len(row) != len(header):
                raise BatchFailed(
                    f"output CSV row {i} has {len(row)} fields for the {len(header)} columns "
                    "of its header"
                )
            record: dict[str, Any] = dict(zip(header, row, strict=True))
            record.update({c.name: convert_cell(row[at], c) for at, c in wanted})
            records.append(record)
        return records


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
