"""The environment settings, and opening an instance without ever hiding its history."""

from __future__ import annotations

import dagster as dg
import pytest
from click.testing import CliRunner

from precalc_assets.cli import main
from precalc_assets.settings import (
    DAGSTER_YAML,
    InstanceMismatch,
    Settings,
    ensure_dagster_home,
)

CONSOLIDATED = """\
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {base_dir}
"""


def settings_for(home) -> Settings:
    return Settings.from_env({"PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")})


def test_a_new_home_gets_precalcs_config_with_dagsters_default_storage(tmp_path):
    settings = settings_for(tmp_path)
    ensure_dagster_home(settings)
    config = (settings.dagster_home / "dagster.yaml").read_text()
    assert config == DAGSTER_YAML
    assert "event_log_storage" not in config and "run_monitoring" in config


def test_a_home_someone_else_opened_first_is_never_reconfigured(tmp_path, monkeypatch):
    """`dagster-daemon` (or `dagster dev`) first: Dagster's default storage, no yaml."""
    settings = settings_for(tmp_path)
    settings.dagster_home.mkdir(parents=True)
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([dg.asset(lambda: 1, name="one")], instance=instance)
        assert result.success
    assert not (settings.dagster_home / "dagster.yaml").exists()
    ensure_dagster_home(settings)
    assert not (settings.dagster_home / "dagster.yaml").exists()
    instance = dg.DagsterInstance.get()
    assert instance.get_latest_materialization_event(dg.AssetKey("one")) is not None


def test_an_existing_config_is_kept(tmp_path):
    settings = settings_for(tmp_path)
    settings.dagster_home.mkdir(parents=True)
    (settings.dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    ensure_dagster_home(settings)
    assert (settings.dagster_home / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


def test_a_config_that_cannot_read_the_history_held_is_a_clear_error(tmp_path):
    settings = settings_for(tmp_path)
    home = settings.dagster_home
    history = home / "history" / "runs"
    history.mkdir(parents=True)
    (history / "index.db").write_bytes(b"")  # Dagster's default event log is here
    (home / "dagster.yaml").write_text(CONSOLIDATED.format(base_dir=home / "history"))
    with pytest.raises(InstanceMismatch, match="remove the `event_log_storage` section"):
        ensure_dagster_home(settings)


def test_a_consolidated_history_without_its_config_is_a_clear_error(tmp_path):
    settings = settings_for(tmp_path)
    home = settings.dagster_home
    (home / "history").mkdir(parents=True)
    (home / "history" / "event_log.db").write_bytes(b"")
    with pytest.raises(InstanceMismatch, match="add `event_log_storage"):
        ensure_dagster_home(settings)


def test_precalc_reports_a_mismatched_home_without_a_traceback(tmp_path, monkeypatch):
    home = tmp_path / "mismatch"
    (home / "dagster" / "history").mkdir(parents=True)
    (home / "dagster" / "history" / "event_log.db").write_bytes(b"")
    monkeypatch.setenv("PRECALC_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1 and "add `event_log_storage" in result.output
    assert "Traceback" not in result.output
