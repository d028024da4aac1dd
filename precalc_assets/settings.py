"""The environment settings (`docs/contracts.md`), read when asked, never at import."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DAGSTER_YAML = """\
# Written by precalc: the embedded default instance (SQLite under $PRECALC_HOME).
telemetry:
  enabled: false
nux:
  enabled: false
# One event-log database (not one per run): the alert sensor reads check evaluations
# across runs by storage id, which the default run-sharded SQLite storage cannot do.
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {base_dir}
"""


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("PRECALC_HOME") or ".precalc").expanduser().resolve()
        return cls(
            home=home,
            storage_url=env.get("PRECALC_STORAGE_URL") or (home / "storage").as_uri(),
            serving_url=env.get("PRECALC_SERVING_URL") or f"sqlite:///{home / 'serving.db'}",
            dagster_home=Path(env.get("DAGSTER_HOME") or home / "dagster").resolve(),
            deployment=env.get("PRECALC_DEPLOYMENT") or "local",
        )


def ensure_dagster_home(settings: Settings) -> Path:
    """Create the embedded instance's folder (SQLite storage) and point Dagster at it."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(
            DAGSTER_YAML.format(base_dir=json.dumps(str(settings.dagster_home / "history")))
        )
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return settings.dagster_home
