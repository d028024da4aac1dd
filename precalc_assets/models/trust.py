"""The trust boundary: object storage is data, never code.

Runners that execute code (`python`, `command`) are declared by the deployment, in its
models file (`PRECALC_MODELS_FILE`, shipped with the code location or kept on the local
machine). A model request in object storage may only name a built-in or a declared
model (adding `checks`), or an `http` model whose URL's host the deployment allows
(`PRECALC_HTTP_ALLOW`). Anyone who can write to storage can therefore ask for work, but
cannot make the pipeline import a module, run a command or reach another address.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from precalc_assets.models.options import Reach
from precalc_assets.models.shown_text import redact
from precalc_assets.models.spec import ModelError

# Runners that run code of the deployment's choosing: never named from storage.
EXECUTING_RUNNERS = ("python", "command")
# Where the environments of repository models are built: the deployment's folder
# (PRECALC_ENVS_DIR), given to every declared `command` model that does not name one.
ENVIRONMENTS_OPTION = "environments"
# The embedded default's allow-list: a model served on this machine. On `aws` the list
# is empty until the deployment names its model servers: a request file must not make
# the pipeline call, say, the instance-metadata address 169.254.169.254 (SSRF).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
ALLOW_NONE = "none"  # PRECALC_HTTP_ALLOW=none: no http model from storage at all


def local_file_options() -> tuple[str, ...]:
    """The options, of any runner, that name a file of this machine (`Reach.LOCAL_FILE`,
    declared on the runners' options): only the deployment gives them, whatever runner
    a request names."""
    # Imported here: the runners load RDKit and pandas, and the serving faces (the
    # Lambda) import this module for the policy alone.
    from precalc_assets.models.runners import options_reaching

    return options_reaching(Reach.LOCAL_FILE)


def must_be_declared(request: Mapping[str, Any]) -> bool:
    """Whether a model request runs code here or names files here: the deployment's."""
    return request.get("runner") in EXECUTING_RUNNERS or any(
        k in request for k in local_file_options()
    )


def parse_allow_list(text: str) -> tuple[str, ...]:
    """`host`, `host:port`, `*.domain` or `[v6]:port`, comma-separated; `none` is empty.
    A malformed entry is a ValueError naming it (the deployment's setting, read once)."""
    if text.strip().lower() == ALLOW_NONE:
        return ()
    entries = tuple(entry.strip().lower() for entry in text.split(",") if entry.strip())
    for entry in entries:
        try:
            _entry_matches(entry, "", None)
        except ValueError as exc:
            raise ValueError(
                f"PRECALC_HTTP_ALLOW entry {entry!r} is not a host, host:port, *.domain or "
                f"[v6]:port ({exc}); fix the setting"
            ) from None
    return entries


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or ""), parts.port


def _entry_matches(entry: str, host: str, port: int | None) -> bool:
    if entry.count(":") > 1 and not entry.startswith("["):  # a bare IPv6 address
        entry_host, entry_port = entry, None
    else:
        entry_host, entry_port = _host_port(f"//{entry}")
    if entry_port is not None and entry_port != port:
        return False
    if entry_host.startswith("*."):
        return host.endswith(entry_host[1:])
    return host == entry_host


@dataclass(frozen=True)
class ModelPolicy:
    """What this deployment lets a model request in storage make the pipeline do."""

    declared: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    http_allow: tuple[str, ...] = ()
    models_file: Path | None = None
    environments: Path | None = None  # where repository models' environments are built

    @classmethod
    def load(
        cls,
        models_file: Path | None,
        http_allow: tuple[str, ...],
        environments: Path | None = None,
    ) -> ModelPolicy:
        """The declared models are read from `models_file` (absent: none declared)."""
        declared: dict[str, dict[str, Any]] = {}
        if models_file is not None and models_file.exists():
            try:
                data = json.loads(models_file.read_text(encoding="utf-8") or "{}")
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ModelError(
                    f"{models_file}: the deployment's models file cannot be read ({exc}); it "
                    'must be a JSON object {"<model id>": {"runner": ..., ...}}'
                ) from None
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise ModelError(
                    f"{models_file}: the deployment's models file must be a JSON object "
                    '{"<model id>": {"runner": ..., ...}}'
                )
            declared = data
        return cls(declared, http_allow, models_file, environments)

    def source(self, model_id: str) -> str:
        return f"{self.models_file} (model {model_id!r})"

    def allows(self, host: str, port: int | None) -> bool:
        return any(_entry_matches(entry, host.lower(), port) for entry in self.http_allow)

    def allows_url(self, url: str) -> bool:
        """Whether the allow-list lets a request name `url` (a malformed one: no)."""
        try:
            parts = urlsplit(url)
            return self.allows(parts.hostname or "", parts.port)
        except ValueError:
            return False

    def request_for(self, model_id: str, stored: dict[str, Any], source: str) -> dict[str, Any]:
        """The request to build `model_id` from, given what storage holds for it; a
        `ModelError` (naming `source` and the fix) when storage asks for more than this
        deployment allows."""
        runner = stored.get("runner")
        if runner is not None and not isinstance(runner, str):
            raise ModelError(
                f"{source}: model {model_id!r}: 'runner' must be a runner's name, such as "
                f'"http", got {runner!r}'
            )
        checks = stored.get("checks")
        if checks is not None and not isinstance(checks, dict):
            raise ModelError(
                f"{source}: model {model_id!r}: 'checks' must be an object, got {checks!r}"
            )
        if model_id in self.declared:
            if set(stored) - {"checks"}:
                raise ModelError(
                    f"{source}: model {model_id!r} is declared by the deployment "
                    f"({self.models_file}); its request in storage may only carry 'checks', "
                    f"not {sorted(set(stored) - {'checks'})}"
                )
            request = self.deployed(self.declared[model_id])
            if stored.get("checks"):
                request["checks"] = {**(request.get("checks") or {}), **stored["checks"]}
            return request
        if runner in EXECUTING_RUNNERS:
            raise ModelError(
                f"{source}: a model request in object storage may not name runner "
                f"{runner!r}: storage is data, never code. Declare model {model_id!r} in the "
                "deployment's models file (PRECALC_MODELS_FILE; `precalc add-model "
                f"{model_id} --spec <file>` writes it on the embedded default), then its "
                "request in storage may be just {}"
            )
        local = [k for k in local_file_options() if k in stored]
        if local:
            raise ModelError(
                f"{source}: a model request in object storage may not name files of this "
                f"machine ({', '.join(local)}): storage is data. Declare model {model_id!r} "
                "in the deployment's models file (`precalc add-model "
                f"{model_id} --spec <file>` writes it on the embedded default)"
            )
        if runner == "http":
            self.check_url(model_id, stored.get("url"), source)
        return stored

    def deployed(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A declared request with the deployment's own settings filled in: where a
        repository model's environment is built."""
        request = dict(request)
        if request.get("runner") == "command" and self.environments is not None:
            request.setdefault(ENVIRONMENTS_OPTION, str(self.environments))
        return request

    def check_url(self, model_id: str, url: Any, source: str) -> None:
        """Refuse a URL this deployment does not allow; a `ModelError` naming the request
        and the field for any URL, however malformed (it is data from storage)."""
        where = f"{source}: model {model_id!r}"
        if not isinstance(url, str):
            raise ModelError(
                f"{where} needs an 'url' of the form http://host:port, got {redact(str(url))!r}"
            )
        try:
            parts = urlsplit(url)
            host, port = (parts.hostname or "").lower(), parts.port
        except ValueError as exc:  # a bad port, an unclosed [IPv6 bracket
            raise ModelError(
                f"{where}: its 'url' {redact(url)!r} is not a usable address "
                f"({redact(str(exc))}); fix the request's 'url'"
            ) from None
        if parts.scheme not in ("http", "https") or not host:
            raise ModelError(
                f"{where} needs an 'url' of the form http://host:port, got {redact(url)!r}"
            )
        if parts.username is not None or parts.password is not None:
            raise ModelError(
                f"{where}: the url holds credentials; a request in storage must not carry "
                "secrets. Serve the model without them, or declare it in the deployment's "
                "models file"
            )
        if not self.allows(host, port):
            allowed = ", ".join(self.http_allow) or "nothing"
            raise ModelError(
                f"{where}: host {parts.hostname!r} of {url!r} is not in this deployment's "
                f"allow-list (PRECALC_HTTP_ALLOW: {allowed}); add the model server's host "
                "there, or declare the model in the models file"
            )

    def declare(self, model_id: str, request: dict[str, Any]) -> ModelPolicy:
        """Write `request` into the models file (the embedded default's way of
        declaring a model that runs code on this machine); the policy that results."""
        if self.models_file is None:
            raise ModelError(
                f"model {model_id!r}: this deployment has no models file to declare it in; "
                "set PRECALC_MODELS_FILE, or ship the model in the code location's models file"
            )
        declared = {**self.declared, model_id: request}
        self.models_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.models_file.with_name(f".{self.models_file.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(declared, indent=2, sort_keys=True) + "\n")
        temporary.replace(self.models_file)
        return ModelPolicy(declared, self.http_allow, self.models_file, self.environments)
