"""Pydantic's validation errors as the project's `ModelError`, so that a bad setting names
its source, its key as a dotted path (`checks.drift.warn_share`) and what the key allows
(its field's description), whichever settings class refused it.

The drift policy and the other check settings (`quality.check_settings`, which builds on the
policy) share it; it sits here so that the policy needs nothing above it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from precalc_assets.models.spec import ModelError

# Error types of a section that is not an object (a JSON list, number or string).
NOT_AN_OBJECT = frozenset({"dataclass_type", "dataclass_args_type", "model_type", "dict_type"})


def settings_error(
    error: ValidationError,
    settings: type,
    source: str,
    name: str = "",
    whole: str = "the settings",
) -> ModelError:
    """One `ModelError`, "<source>: <problem>; <problem>", for every problem of `error`.

    `settings` is the class that validated; `name` its dotted name in the user's file
    ("checks"), or "" when `source` names it already; `whole` what to call it then.
    Unknown keys come first (most often a typo), grouped by section."""
    unknown: dict[tuple[str, ...], list[str]] = {}
    problems: list[str] = []
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        if item["type"] == "unexpected_keyword_argument":
            unknown.setdefault(loc[:-1], []).append(loc[-1])
        else:
            problems.append(_problem(item, loc, settings, name, whole))
    typos = [
        f"{_path(name, parent) or whole} has unknown keys {sorted(keys)}; "
        f"use only {sorted(_fields(settings, parent))}"
        for parent, keys in unknown.items()
    ]
    return ModelError(f"{source}: " + "; ".join([*typos, *problems]))


def _problem(
    item: ErrorDetails, loc: tuple[str, ...], settings: type, name: str, whole: str
) -> str:
    """One bad value, said with what its key allows."""
    where = _path(name, loc)
    value = item.get("input")
    if item["type"] in NOT_AN_OBJECT:
        return f"{where or whole} must be an object, got {value!r}"
    if item["type"] == "value_error":  # a rule across keys: the class's own validator
        reason = str(item.get("ctx", {}).get("error", item["msg"]))
        return f"{where}: {reason}" if where else reason
    field = _fields(settings, loc[:-1]).get(loc[-1]) if loc else None
    allowed = field.description if field is not None and field.description else item["msg"]
    if item["type"] == "literal_error":
        return f"{where} is {value!r}; use {allowed}"
    return f"{where} must be {allowed}, got {value!r}"


def _path(name: str, loc: tuple[str, ...]) -> str:
    return ".".join(part for part in (name, *loc) if part)


def _fields(settings: type, loc: tuple[str, ...]) -> dict[str, FieldInfo]:
    """The fields of the section at `loc` of `settings` ({} if there is none)."""
    section: Any = settings
    for part in loc:
        field = getattr(section, "__pydantic_fields__", {}).get(part)
        if field is None:
            return {}
        section = field.annotation
    return dict(getattr(section, "__pydantic_fields__", {}))
