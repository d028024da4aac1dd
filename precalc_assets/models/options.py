"""Runner options, typed, each declared once.

Each runner declares its options as a frozen dataclass in its own module
(`models.runners.*`, as Feast keeps one config class beside each online store): every
option with its type, its default (none: the request must give it), its constraint, the
fix to suggest, and what it says of how the model is reached (`Reach`). The code version
(`models.spec`), the trust boundary (`models.trust`) and registration
(`inputs.model_requests`) read the reach from these declarations, through the runners'
registry (`models.runners`), never from lists of names of their own.

This module imports nothing of the package: the spec carries each option's `Reach`.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self

# What is wrong with an option's value (given its name), or "": its constraint.
Check = Callable[[str, Any], str]
_CHECK, _REACH, _FIX = "check", "reach", "fix"


class Reach(enum.Flag):
    """What an option says of how a model is reached, rather than of what it computes."""

    NONE = 0
    # How fast or how long (batch size, concurrency, timeouts, where environments are
    # built): never part of the code version.
    TUNING = enum.auto()
    # Where the model is (its URL, repository, interpreter, process environment): left
    # out of the code version once its own examples identify the model.
    LOCATION = enum.auto()
    # A file of this machine: only the deployment may give it (a request in storage
    # naming one is refused), and `precalc add-model` resolves it against the spec file.
    LOCAL_FILE = enum.auto()


class OptionError(ValueError):
    """An option a runner cannot use. The message names the option and what is wrong;
    the runner adds the request's source, the model and the option's fix."""

    def __init__(self, message: str, option: str = ""):
        super().__init__(message)
        self.option = option


def option(
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | Any = MISSING,
    check: Check | None = None,
    reach: Reach = Reach.NONE,
    fix: str = "",
) -> Any:
    """One runner option. Without a default the request must give it (its check then
    sees None). `fix` is what to do when its check fails; `{model_id}` in it is
    replaced by the model's ID."""
    return field(
        default=default,
        default_factory=default_factory,
        metadata={_CHECK: check, _REACH: reach, _FIX: fix},
    )


def _required(declared: Field[Any]) -> bool:
    return declared.default is MISSING and declared.default_factory is MISSING


@dataclass(frozen=True, kw_only=True)
class RunnerOptions:
    """A runner's options, read from a model request's. Each option the request gives,
    and each one it must give, is checked; the others take their default."""

    # Whether a request may carry options this runner does not declare: they belong to
    # the model (a `python` callable may read them), and stay in its code version.
    open: ClassVar[bool] = False

    @classmethod
    def declared(cls) -> tuple[str, ...]:
        """The options' names, in their declared order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def undeclared(cls, given: Mapping[str, Any]) -> list[str]:
        """The options of `given` this runner refuses, sorted (none if it is open)."""
        return [] if cls.open else sorted(set(given) - set(cls.declared()))

    @classmethod
    def reach(cls, name: str) -> Reach:
        return next((f.metadata[_REACH] for f in fields(cls) if f.name == name), Reach.NONE)

    @classmethod
    def fix(cls, name: str) -> str:
        return next((f.metadata[_FIX] for f in fields(cls) if f.name == name), "")

    @classmethod
    def parse(cls, given: Mapping[str, Any]) -> Self:
        """The options of `given` that this runner declares, checked one by one, then
        together; an `OptionError` names the first that is wrong."""
        values: dict[str, Any] = {}
        for declared in fields(cls):
            if declared.name not in given and not _required(declared):
                continue
            value = given.get(declared.name)
            check = declared.metadata[_CHECK]
            problem = check(declared.name, value) if check is not None else ""
            if problem:
                raise OptionError(problem, declared.name)
            values[declared.name] = value
        options = cls(**values)
        problem = options.combination_problem()
        if problem:
            raise OptionError(problem)
        return options

    def combination_problem(self) -> str:
        """What is wrong with these options together, or "" (none here)."""
        return ""


def is_absolute_path(value: Any) -> bool:
    """Whether an option names a path as only the deployment can: absolute."""
    return isinstance(value, str) and os.path.isabs(value)


def existing_path(is_kind: Callable[[Path], bool], what: str) -> Check:
    """An absolute path (only the deployment names paths) to `what`, which exists as
    `is_kind` (`Path.is_dir`, `Path.is_file`) says."""

    def check(name: str, value: Any) -> str:
        if not is_absolute_path(value) or not is_kind(Path(value)):
            return f"{name!r} must be the absolute path of {what}, got {value!r}"
        return ""

    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_in(maximum: float) -> Check:
    """A number in (0, `maximum`]."""

    def check(name: str, value: Any) -> str:
        if not _is_number(value) or not 0 < value <= maximum:
            return f"{name!r} must be a number in (0, {maximum:,}], got {value!r}"
        return ""

    return check


def whole_number_in(maximum: int) -> Check:
    """A whole number in (0, `maximum`]."""
    in_range = number_in(maximum)

    def check(name: str, value: Any) -> str:
        problem = in_range(name, value)
        if not problem and not isinstance(value, int):
            return f"{name!r} must be a whole number, got {value!r}"
        return problem

    return check
