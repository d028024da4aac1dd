"""Someone else's text as our messages show it: a URL without its credentials, a long
answer cut to one short line. A message may reach logs, the UI and alerts."""

from __future__ import annotations

import re

SHOWN_CHARS = 200  # of someone else's answer quoted in a message

_USERINFO = re.compile(r"(?<=//)[^/?#\s]*@")


def redact(text: str) -> str:
    """`text` with the `user:password@` of any URL in it removed, for messages."""
    return _USERINFO.sub("", text)


def excerpt(text: str) -> str:
    """A short, one-line piece of an answer's body, quoted, for messages."""
    return repr(" ".join(text.split())[:SHOWN_CHARS])
