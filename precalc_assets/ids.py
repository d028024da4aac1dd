"""ID rules for models, libraries and slices, free of Dagster.

Dagster joins multi-partition dimensions sorted by name, so a key reads
`"<model>|<slice>"`; an ID holding `|` would be silently dropped, hence the rules.
"""

from __future__ import annotations

import re

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
