"""A model repository in the hub's template layout, read as a card: its metadata
(`metadata.yml`, or `metadata.json` in older repositories), its columns and their types
(`model/framework/columns/run_columns.csv`) and its examples.

What the hub's server does with the same files: it sends every value as one collapsed
`Output Type`; `run_columns.csv` keeps the per-column types, so a model registered from
its repository or from its server with this file gets one schema.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml

from precalc_assets.models.card import HUB_DTYPES, ModelCard
from precalc_assets.models.casting import cast_records
from precalc_assets.models.spec import ModelError, OutputColumn

RUN_SH = "model/framework/run.sh"
FRAMEWORK = "model/framework"
RUN_COLUMNS = "model/framework/columns/run_columns.csv"
EXAMPLE_INPUT = "model/framework/examples/run_input.csv"
EXAMPLE_OUTPUT = "model/framework/examples/run_output.csv"
# The card, in the current template's format first.
METADATA_FILES = ("metadata.yml", "metadata.yaml", "metadata.json")
# The card's fields precalc uses: a missing one is a warning naming the file.
IDENTIFIER, SLUG, CONSISTENCY = "Identifier", "Slug", "Output Consistency"
RELIED_FIELDS = (IDENTIFIER, SLUG, CONSISTENCY)
CONSISTENCIES = ("Fixed", "Variable")


def _field(value: Any) -> str | None:
    """A card field as text: a one-item list is its item (the hub accepts both)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value.strip() if isinstance(value, str) else None


def _load(path: Path, model_id: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ModelError(
            f"model {model_id!r}: {path} is not valid {kind} ({exc}); fix the file"
        ) from None
    if not isinstance(data, dict):
        raise ModelError(f"model {model_id!r}: {path} must hold a mapping of card fields")
    return data


def read_metadata(repo: Path, model_id: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """(the card fields precalc uses, warnings naming the file and the field)."""
    path = next((repo / name for name in METADATA_FILES if (repo / name).is_file()), None)
    if path is None:
        return {}, (
            f"model {model_id!r}: {repo} has no metadata.yml nor metadata.json, so its "
            f"{', '.join(RELIED_FIELDS)} are unknown; add the card",
        )
    data = _load(path, model_id)
    fields: dict[str, str] = {}
    warnings: list[str] = []
    for name in RELIED_FIELDS:
        value = _field(data.get(name))
        if value:
            fields[name] = value
        elif name in data:
            warnings.append(
                f"model {model_id!r}: {path} has {name!r} = {data[name]!r}, not a text; ignored"
            )
        else:
            warnings.append(f"model {model_id!r}: {path} has no {name!r}")
    consistency = fields.get(CONSISTENCY)
    if consistency and consistency not in CONSISTENCIES:
        warnings.append(
            f"model {model_id!r}: {path} has {CONSISTENCY!r} = {consistency!r}; the hub's "
            f"values are {' or '.join(CONSISTENCIES)} (treated as Fixed)"
        )
    return fields, tuple(warnings)


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


def read_run_columns(path: Path, model_id: str) -> tuple[OutputColumn, ...]:
    """The columns and their types of a hub `run_columns.csv` (`name,type,...`)."""
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


def read_examples(
    repo: Path, model_id: str, columns: tuple[OutputColumn, ...]
) -> tuple[tuple[str, ...], tuple[dict[str, Any], ...]]:
    """The example SMILES (the `input`/`smiles` column, else the first) and, when the
    repository has them, the outputs by declared column name, as their types."""
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
    return inputs, cast_records((dict(zip(header, row, strict=False)) for row in rows), columns)


def check_layout(repo: Path, where: str) -> None:
    """Refuse a folder that is not a template-layout repository, naming what it lacks."""
    for file in (RUN_SH, RUN_COLUMNS):
        if not (repo / file).is_file():
            raise ModelError(
                f"{where}: repository {repo} has no {file}; 'repo' must be a model "
                "repository in the hub's template layout (model/framework/run.sh, "
                "model/framework/columns/run_columns.csv)"
            )


def describe_repository(repo: Path, model_id: str) -> ModelCard:
    """The card of a template-layout repository, from its files alone (nothing runs)."""
    metadata, warnings = read_metadata(repo, model_id)
    columns = read_run_columns(repo / RUN_COLUMNS, model_id)
    inputs, outputs = read_examples(repo, model_id, columns)
    return ModelCard(
        source=str(repo),
        identifier=metadata.get(IDENTIFIER, ""),
        slug=metadata.get(SLUG, ""),
        consistency=metadata.get(CONSISTENCY, ""),
        columns=columns,
        example_inputs=inputs,
        example_outputs=outputs,
        warnings=warnings,
    )
