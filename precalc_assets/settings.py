"""The environment settings (`docs/contracts.md`), read when asked, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from precalc_assets.models.trust import LOOPBACK_HOSTS, parse_allow_list

# Written only into a new, empty DAGSTER_HOME: an instance that already exists keeps its
# own configuration (changing its storage would hide its history). The storage is
# Dagster's default (SQLite under DAGSTER_HOME); every feature works on it and on Postgres.
DAGSTER_YAML = """\
# Written by precalc into a new DAGSTER_HOME (Dagster's default SQLite storage).
telemetry:
  enabled: false
nux:
  enabled: false
# Runs stuck while starting are marked failed; runs whose process died are found by
# `precalc run` and the catch-up sensor (a run records its process).
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 30
"""
CONSOLIDATED_EVENT_LOG = "ConsolidatedSqliteEventLogStorage"
CONSOLIDATED_EVENT_LOG_FILE = "event_log.db"  # what that storage keeps in its base_dir
RUN_SHARDED_INDEX = Path("history") / "runs" / "index.db"  # Dagster's default event log


MODELS_FILE = "models.json"  # the embedded default's models file, under PRECALC_HOME
MODELS_FILE_ENV = "PRECALC_MODELS_FILE"
HTTP_ALLOW_ENV = "PRECALC_HTTP_ALLOW"
ENVS_DIR_ENV = "PRECALC_ENVS_DIR"  # where repository models' environments are built
ENVS_DIR = "envs"  # its default, under PRECALC_HOME
UI_URL_ENV = "PRECALC_UI_URL"  # the Dagster webserver people open (`precalc run` links to runs)
UI_URL = "http://localhost:3000"  # its default: `dagster dev`'s own


class InstanceMismatch(ValueError):
    """DAGSTER_HOME's configuration does not read the history it holds."""


DEPLOYMENTS = ("aws", "local")


def check_deployment(deployment: str) -> str:
    if deployment not in DEPLOYMENTS:
        raise ValueError(
            f"PRECALC_DEPLOYMENT={deployment!r} is not a deployment; use one of {list(DEPLOYMENTS)}"
        )
    return deployment


@dataclass(frozen=True)
class Settings:
    home: Path
    storage_url: str
    serving_url: str
    dagster_home: Path
    deployment: str
    models_file: Path | None  # the deployment's declared models (models.trust)
    http_allow: tuple[str, ...]  # hosts whose http models a request in storage may name
    environments: Path  # where the environments of repository models are built
    ui_url: str = UI_URL  # the Dagster webserver, without a trailing slash

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("PRECALC_HOME") or ".precalc").expanduser().resolve()
        deployment = env.get("PRECALC_DEPLOYMENT") or "local"
        local = deployment == "local"
        models_file = env.get(MODELS_FILE_ENV) or (home / MODELS_FILE if local else "")
        allow = env.get(HTTP_ALLOW_ENV)
        return cls(
            home=home,
            storage_url=env.get("PRECALC_STORAGE_URL") or (home / "storage").as_uri(),
            serving_url=env.get("PRECALC_SERVING_URL") or f"sqlite:///{home / 'serving.db'}",
            dagster_home=Path(env.get("DAGSTER_HOME") or home / "dagster").resolve(),
            deployment=deployment,
            models_file=Path(models_file).expanduser().resolve() if models_file else None,
            http_allow=(parse_allow_list(allow) if allow else (LOOPBACK_HOSTS if local else ())),
            environments=Path(env.get(ENVS_DIR_ENV) or home / ENVS_DIR).expanduser().resolve(),
            ui_url=(env.get(UI_URL_ENV) or UI_URL).rstrip("/"),
        )


def store_urls(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(storage URL, serving URL) for a tool that opens the stores without Dagster; on
    `aws` both must be set, as the Dagster resources require them."""
    env = os.environ if environ is None else environ
    if settings.deployment == "aws":
        missing = [n for n in ("PRECALC_STORAGE_URL", "PRECALC_SERVING_URL") if not env.get(n)]
        if missing:
            raise ValueError(f"PRECALC_DEPLOYMENT=aws needs {' and '.join(missing)} set")
    return settings.storage_url, settings.serving_url


def ensure_dagster_home(settings: Settings) -> Path:
    """Point Dagster at DAGSTER_HOME; a new, empty one gets precalc's `dagster.yaml`.

    An existing home is never reconfigured. If its configuration cannot read the event
    log it holds (history written under another storage), that is an `InstanceMismatch`
    naming the fix, rather than an instance that silently shows no history.
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and not any(home.iterdir()):
        config.write_text(DAGSTER_YAML)
    check_instance_storage(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def check_instance_storage(home: Path) -> None:
    config = home / "dagster.yaml"
    text = config.read_text() if config.exists() else ""
    consolidated = CONSOLIDATED_EVENT_LOG in text
    sharded_history = (home / RUN_SHARDED_INDEX).exists()
    consolidated_history = any(home.rglob(CONSOLIDATED_EVENT_LOG_FILE))
    if consolidated and sharded_history and not consolidated_history:
        raise InstanceMismatch(
            f"{config} selects {CONSOLIDATED_EVENT_LOG}, but this instance's history is in "
            f"Dagster's default run-sharded event log ({home / RUN_SHARDED_INDEX}); remove "
            "the `event_log_storage` section from dagster.yaml to see that history again"
        )
    if not consolidated and consolidated_history and not sharded_history:
        raise InstanceMismatch(
            f"{home} holds a {CONSOLIDATED_EVENT_LOG} event log ({CONSOLIDATED_EVENT_LOG_FILE}) "
            f"that {config.name} does not select; add `event_log_storage: {{module: "
            f"dagster._core.storage.event_log, class: {CONSOLIDATED_EVENT_LOG}, config: "
            "{base_dir: <its folder>}}` back to dagster.yaml to see that history"
        )
