"""Store URLs, parsed in one place: ``scheme://rest`` split, and the path a URL names.

The accepted forms (see ``docs/contracts.md``) are quoted in error messages, so they are
defined here once too.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

__all__ = [
    "SERVING_URL_FORMS",
    "STORAGE_URL_FORMS",
    "history_target",
    "path_from_url",
    "split_url",
]

STORAGE_URL_FORMS = "file:///absolute/path, a plain local path, or s3://bucket[/prefix]"
SERVING_URL_FORMS = "sqlite:///absolute/path.db or dynamodb://table-name"

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def split_url(url: str) -> tuple[str, str]:
    """``(scheme, rest)``: the lower-cased scheme and what follows ``scheme://``.

    A string without ``scheme://`` gives ``("", url)`` (a plain local path, say).
    """
    match = _SCHEME_RE.match(url)
    if match is None:
        return "", url
    return match.group(1).lower(), url[match.end() :]


def path_from_url(rest: str) -> Path:
    """The absolute local path named by what follows ``scheme://`` (percent-decoded).

    ``/abs/path`` is absolute; ``/./rel`` or ``/../rel`` (what ``file://$PRECALC_HOME`` gives
    with the default relative ``PRECALC_HOME=./.precalc``) and ``rel`` are relative to the
    working directory.
    """
    rest = unquote(rest)
    if rest.startswith(("/./", "/../")):
        rest = rest[1:]
    elif rest.startswith("/"):
        rest = "/" + rest.lstrip("/")
    return Path(rest).expanduser().resolve()


def history_target(storage_url: str, serving_url: str) -> str:
    """Where a publication went: the object storage and the serving table, as their stores
    spell them. The ledger counts a partition done only for the target it was published
    to, so one Dagster history read against another target never says "done"."""
    return f"{storage_url} + {serving_url}"
