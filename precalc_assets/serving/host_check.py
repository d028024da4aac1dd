"""The `Host` check of `precalc serve`, which defeats DNS rebinding: the server has no
authentication, so it answers only requests for its own names (any port): `127.0.0.1`,
`localhost` and `[::1]` when bound to loopback or every interface, else the bound
address, plus each `--allowed-host` (`*`: any)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from precalc_assets.serving.http_errors import error_response
from precalc_assets.serving.requests import BAD_REQUEST

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")  # a bind to every interface: no one name is "ours"
ANY_HOST = "*"


def _host_name(header: str | None) -> str | None:
    """The name of a `Host` header ("localhost:8000" -> "localhost", "[::1]:8000" -> "::1",
    lower-case), or None if it is not one (userinfo, a path, a bad port)."""
    if not header or re.search(r"[@/?#\\\s]", header):
        return None
    try:
        parts = urlsplit(f"//{header}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    return parts.hostname or None


def _allowed_name(name: str) -> str:
    """An allowed host as `_host_name` reads headers: "[::1]" or "::1" -> "::1",
    "Example.org:443" -> "example.org"."""
    if name.count(":") > 1:  # an IPv6 address, bracketed or not
        return name.strip("[]").lower()
    return _host_name(name) or name.lower()


def allowed_hosts_for(bind: str, extra: Sequence[str] = ()) -> list[str]:
    """The `Host` names a server bound to `bind` answers to: the loopback names for a
    loopback or every-interface bind, else the bound address; then `extra` (the public
    names of a deployment behind a proxy, `--allowed-host`)."""
    own = list(LOOPBACK_HOSTS) if bind in LOOPBACK_HOSTS or bind in ANY_ADDRESS else [bind]
    return list(dict.fromkeys([*own, *extra]))


class HostCheck:
    """ASGI middleware: a request whose `Host` header is not one of `allowed` (any port) is
    a 400 with a message. A web page whose DNS name was rebound to 127.0.0.1 reaches a
    loopback server with its own name as `Host`; this refuses it. `*` allows any host.

    Starlette's `TrustedHostMiddleware` does the same check but answers "Invalid host
    header" in plain text; this answers like every other error here, `{"error": ...}`,
    saying which names are served and how to add one."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.any = ANY_HOST in allowed
        self.allowed = frozenset(_allowed_name(name) for name in allowed)
        self.shown = ", ".join(f"[{n}]" if ":" in n else n for n in allowed if n != ANY_HOST)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("host")
        if _host_name(header) in self.allowed:
            await self.app(scope, receive, send)
            return
        given = "no Host header" if header is None else f"Host {header[:100]!r}"
        message = (
            f"{given} is not a name this server answers to ({self.shown}): a request for "
            "another name may come from a web page that pointed its DNS name at this "
            "server. Behind a proxy, name the public host: "
            "`precalc serve --allowed-host NAME`"
        )
        await error_response(BAD_REQUEST, message)(scope, receive, send)
