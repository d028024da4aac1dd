"""ID rules for models, libraries and slices, free of Dagster.

Dagster joins multi-partition dimensions sorted by name, so a key reads
`"<model>|<slice>"`; an ID holding `|` would be silently dropped, hence the rules.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class InvalidIdError(ValueError):
    """An ID that cannot be a partition key; the message says how to fix it."""


def validate_id(value: str, what: str = "ID") -> str:
    """Return `value` if it is a valid model/slice/library ID, else raise InvalidIdError."""
    # fullmatch, not match: `$` also matches before a trailing newline ("eos3b5e\n").
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        problems = []
        text = str(value)
        for char, name in (("|", "'|'"), ("/", "'/'"), (" ", "a space")):
            if char in text:
                problems.append(name)
        if text != text.lower():
            problems.append("upper-case letters")
        if len(text) > 64:
            problems.append("more than 64 characters")
        detail = f" (it contains {', '.join(problems)})" if problems else ""
        if not isinstance(value, str):
            detail = f" (it is a {type(value).__name__}, not a string)"
        elif not text:
            detail = " (it is empty)"
        raise InvalidIdError(
            f"invalid {what} {text!r}{detail}: use 1-64 characters of a-z, 0-9, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return value


SHOWN_IDS = 20  # registered IDs named in a message (a hub has ~200 models)


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the closest of `known`, or "" when none is close."""
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def id_list(known: Sequence[str]) -> str:
    """Registered IDs for a message: the first `SHOWN_IDS`, and how many in all."""
    more = f", ... ({len(known)} in all)" if len(known) > SHOWN_IDS else ""
    return (", ".join(list(known)[:SHOWN_IDS]) + more) or "none"


def not_registered(what: str, unknown: Sequence[str], known: Sequence[str], fix: str) -> str:
    """Which IDs are not registered, the closest registered one of each, and the
    registered ones: `what` is "model" or "slice", `fix` the command that registers."""
    named = ", ".join(repr(name) + did_you_mean(name, known) for name in unknown)
    return (
        f"not registered {what}(s): {named}; registered {what}s: {id_list(known)}; "
        f"register with `{fix}`"
    )
