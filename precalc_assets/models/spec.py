"""What a model is: an ID, a runner and its declared output columns.

Validation schemas, Parquet types and the serving table's `Precalculation` order are
all derived from the declared columns, so a spec is the single source of truth.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any

from precalc_assets.models.options import Reach

DTYPES = ("float", "int", "bool", "str")
# The key columns that lead every predictions and validated file, before the outputs.
KEY_COLUMNS = ("row", "inchikey", "smiles")
# A prepared library slice's column of each row's own text, as the library file had it.
INPUT_COLUMN = "input"
# Why a row was rejected or quarantined: a code (`models.reasons`) and its detail. A
# predictions file has them where the model failed on a molecule or answered a value
# of the wrong type; a quarantine file has them on every row.
REASON_COLUMN = "reason"
DETAIL_COLUMN = "detail"
# Names no output column may take: the keys, a library slice's input text and the
# reasons share the files (and frames) with the outputs.
RESERVED_COLUMNS = (*KEY_COLUMNS, INPUT_COLUMN, REASON_COLUMN, DETAIL_COLUMN)
# Runners of someone else's program (a hub model, any CSV program): they are given
# the library's SMILES text, and an output they leave empty means "could not compute",
# so their columns are nullable unless declared otherwise.
HUB_RUNNERS = ("http", "command")
# Which SMILES text a hub model is given: the library file's own (default), or ours.
INPUT_SMILES = "input_smiles"
LIBRARY_TEXT, CANONICAL = "library", "canonical"
# Bump when the project's own way of computing/storing predictions changes, so every
# partition's code version changes with it.
PIPELINE_VERSION = "2"  # 2: float64/int64 vectors; models see the canonical molecule
# The keys of a model request that are not runner options.
SPEC_KEYS = (
    "runner", "columns", "description", "version", "model_id", "checks", "not_null", "nullable"
)  # fmt: skip


class ModelError(ValueError):
    """A model that cannot be used; the message names the model and what to do."""


@dataclass(frozen=True)
class OutputColumn:
    """One declared output: a scalar, or a fixed-length vector when `length` is set."""

    name: str
    dtype: str = "float"
    length: int | None = None
    nullable: bool = False
    min: float | None = None
    max: float | None = None

    def width(self) -> int:
        return self.length or 1


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    runner: str
    columns: tuple[OutputColumn, ...]
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    version: str = "1"
    # Per-model check settings (thresholds, drift baseline); see `quality.check_settings`.
    # Not part of the code version: changing a threshold does not change a prediction.
    checks: dict[str, Any] = field(default_factory=dict)
    # What a served model or a repository answers on its own examples (a hash, see
    # `models.examples`): a model changed behind the same URL or path changes it.
    fingerprint: str = ""
    # What each option that says how the model is reached says (`Reach`), as the
    # runners' options declare it (`models.runners`), filled in where a spec is built
    # from a request (`models.catalog`). Read by the code version, not part of it; a
    # spec built by hand names none, so every option of it counts.
    option_reach: Mapping[str, Reach] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def input_smiles(self) -> str:
        """Which SMILES text the model is given: a hub model the library's own (unless
        its request says `canonical`), any other model RDKit's canonical SMILES."""
        if self.runner not in HUB_RUNNERS:
            return CANONICAL
        return str(self.options.get(INPUT_SMILES, LIBRARY_TEXT))

    def to_dict(self) -> dict[str, Any]:
        # Field by field, not `asdict`: its deep copy of a wide model's 2,048 columns
        # cost ~0.1 s a call.
        data = {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in fields(self)
            if f.name != "columns"
        }
        data["columns"] = [
            {k: v for k, v in vars(c).items() if v is not None and v is not False}
            for c in self.columns
        ]
        if not self.fingerprint:
            del data["fingerprint"]
        del data["option_reach"]
        return data

    @cached_property  # a hash of the whole spec, asked for per partition and per check
    def code_version(self) -> str:
        """Changes whenever what the model predicts may change: its spec, its examples'
        fingerprint or the pipeline. How it is reached (batch size, concurrency,
        timeouts) does not count, nor, once a fingerprint identifies the model, where
        it is served: moving a container to another port keeps its partitions done, and
        a hub model registered from its repository or from its server is one model."""
        spec = {k: v for k, v in self.to_dict().items() if k != "checks"}
        ignored = Reach.TUNING | (Reach.LOCATION if self.fingerprint else Reach.NONE)
        spec["options"] = {
            k: v
            for k, v in self.options.items()
            if not self.option_reach.get(k, Reach.NONE) & ignored
        }
        if self.runner in HUB_RUNNERS:
            spec["options"].setdefault(INPUT_SMILES, LIBRARY_TEXT)
            if self.fingerprint:  # the same model served or run from its repository
                del spec["runner"]
        payload = json.dumps({"spec": spec, "pipeline": PIPELINE_VERSION}, sort_keys=True)
        return (
            f"{self.model_id}-v{self.version}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field_problem(item: dict[str, Any]) -> str:
    """What is wrong with a column's optional fields, or "" (schemas and Arrow types
    are built from them, so a wrong type must fail here, not later in a run)."""
    length = item.get("length")
    if length is not None and (
        not isinstance(length, int) or isinstance(length, bool) or length < 1
    ):
        return f"'length' must be a positive integer, got {length!r}"
    if not isinstance(item.get("nullable", False), bool):
        return f"'nullable' must be true or false, got {item['nullable']!r}"
    for bound in ("min", "max"):
        if item.get(bound) is not None and not _is_number(item[bound]):
            return f"{bound!r} must be a number, got {item[bound]!r}"
    return ""


def parse_columns(
    model_id: str, raw: Any, source: str, nullable: bool = False
) -> tuple[OutputColumn, ...]:
    """The declared columns; `nullable` is the default of a column that does not say."""
    if not isinstance(raw, list) or not raw:
        raise ModelError(
            f"{source}: model {model_id!r} needs a non-empty 'columns' list, e.g. "
            '[{"name": "score", "dtype": "float"}]'
        )
    columns = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ModelError(f"{source}: column {i} of model {model_id!r} needs a 'name'")
        if item["name"] in RESERVED_COLUMNS:
            raise ModelError(
                f"{source}: column {item['name']!r} of model {model_id!r} has a reserved name: "
                f"{', '.join(RESERVED_COLUMNS)} are the key columns of the prediction files; "
                "give the output another name"
            )
        unknown = set(item) - {"name", "dtype", "length", "nullable", "min", "max"}
        if unknown:
            raise ModelError(
                f"{source}: column {item['name']!r} of model {model_id!r} has unknown "
                f"fields {sorted(unknown)}"
            )
        if item.get("dtype", "float") not in DTYPES:
            raise ModelError(
                f"{source}: column {item['name']!r} of model {model_id!r} has dtype "
                f"{item.get('dtype')!r}; use one of {', '.join(DTYPES)}"
            )
        problem = _field_problem(item)
        if problem:
            raise ModelError(f"{source}: column {item['name']!r} of model {model_id!r}: {problem}")
        columns.append(OutputColumn(**{"nullable": nullable, **item}))
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ModelError(f"{source}: model {model_id!r} declares a column name twice: {names}")
    return tuple(columns)


def _names(model_id: str, request: dict[str, Any], key: str, source: str) -> set[str]:
    names = request.get(key) or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ModelError(
            f"{source}: model {model_id!r}: {key!r} must be a list of column names, got {names!r}"
        )
    return set(names)


def with_nullability(
    model_id: str, columns: tuple[OutputColumn, ...], request: dict[str, Any], source: str
) -> tuple[OutputColumn, ...]:
    """`columns` with the request's `not_null` and `nullable` lists applied: a few
    columns marked without redeclaring the rest (a hub model's 200 columns come from
    its repository or server)."""
    not_null = _names(model_id, request, "not_null", source)
    nullable = _names(model_id, request, "nullable", source)
    unknown = sorted((not_null | nullable) - {c.name for c in columns})
    if unknown:
        raise ModelError(
            f"{source}: model {model_id!r}: 'not_null'/'nullable' name column(s) {unknown} "
            f"that the model does not have; its columns: {[c.name for c in columns][:20]}"
        )
    both = sorted(not_null & nullable)
    if both:
        raise ModelError(
            f"{source}: model {model_id!r}: column(s) {both} are in both 'not_null' and "
            "'nullable'; keep each in one"
        )
    return tuple(
        replace(c, nullable=(c.name in nullable) or (c.nullable and c.name not in not_null))
        for c in columns
    )
