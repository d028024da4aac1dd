"""The trust boundary: a request in object storage is data, never code."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from precalc_assets import layout
from precalc_assets.cli import main
from precalc_assets.dagster_defs.sensors.model_requests import model_requests_sensor
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.inputs.rejected import load_rejected_inputs
from precalc_assets.models.shown_text import redact
from precalc_assets.models.spec import ModelError
from precalc_assets.models.trust import LOOPBACK_HOSTS, ModelPolicy, parse_allow_list
from precalc_assets.settings import Settings
from precalc_assets_tests.dagster_defs.sensors.test_input_sensors import tick
from precalc_assets_tests.import_marker import MARKER_ENV
from precalc_assets_tests.molecules import nci_lines, write_library

SOURCE = "s3://bucket/inputs/models/m.json"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost/", True),
        ("http://[::1]:80/", True),
        ("http://169.254.169.254/latest/meta-data/", False),  # instance metadata
        ("http://2130706433/", False),  # 127.0.0.1 spelt as a number: not in the list
        ("http://localhost.evil.example/", False),
        ("http://10.0.0.5:8080/", False),
    ],
)
def test_the_embedded_default_allows_loopback_only(url: str, allowed: bool) -> None:
    assert ModelPolicy(http_allow=LOOPBACK_HOSTS).allows_url(url) is allowed


def test_allow_list_entries_hosts_ports_and_wildcards() -> None:
    policy = ModelPolicy(http_allow=parse_allow_list("gpu-1:8080, *.models.internal"))
    assert policy.allows_url("http://gpu-1:8080/")
    assert not policy.allows_url("http://gpu-1:8081/")
    assert policy.allows_url("https://eos3b5e.models.internal")
    assert not policy.allows_url("https://models.internal.evil.example")
    assert parse_allow_list("none") == ()


def test_deployment_defaults() -> None:
    local = Settings.from_env({"PRECALC_HOME": "/tmp/h"})
    assert local.http_allow == LOOPBACK_HOSTS and local.models_file.name == "models.json"
    aws = Settings.from_env({"PRECALC_DEPLOYMENT": "aws"})
    assert aws.http_allow == () and aws.models_file is None
    assert Settings.from_env({"PRECALC_HTTP_ALLOW": "a:1,b"}).http_allow == ("a:1", "b")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"runner": "python", "callable": "os:system", "columns": ["x"]}, "may not name runner"),
        ({"runner": "command", "command": ["sh", "{input}", "{output}"]}, "may not name runner"),
        ({"runner": "http", "url": "http://169.254.169.254/"}, "not in this deployment's allow"),
        ({"runner": "http", "url": "http://user:pw@127.0.0.1:1/"}, "holds credentials"),
        ({"runner": "http", "url": "file:///etc/passwd"}, "needs an 'url'"),
    ],
)
def test_storage_may_not_ask_for_code_or_other_addresses(request_: dict, message: str) -> None:
    policy = ModelPolicy(http_allow=LOOPBACK_HOSTS)
    with pytest.raises(ModelError, match=message) as info:
        policy.request_for("m", request_, SOURCE)
    assert str(info.value).startswith(SOURCE) and "pw" not in str(info.value)


def test_a_declared_model_takes_only_checks_from_storage(tmp_path) -> None:
    declared = {"runner": "python", "callable": "pkg.mod:fn", "columns": ["x"]}
    policy = ModelPolicy(models_file=tmp_path / "models.json").declare("m", declared)
    assert ModelPolicy.load(tmp_path / "models.json", ()).declared == {"m": declared}
    merged = policy.request_for("m", {"checks": {"drift": {"min_rows": 5}}}, SOURCE)
    assert merged == {**declared, "checks": {"drift": {"min_rows": 5}}}
    with pytest.raises(ModelError, match="may only carry 'checks'"):
        policy.request_for("m", {"runner": "python", "callable": "os:system"}, SOURCE)


def test_an_unreadable_models_file_is_named(tmp_path) -> None:
    path = tmp_path / "models.json"
    path.write_text("[1, 2]")
    with pytest.raises(ModelError, match=f"{path}: the deployment's models file"):
        ModelPolicy.load(path, ())


def test_redact_strips_credentials() -> None:
    assert redact("at http://u:secret@host:1/run: down") == "at http://host:1/run: down"


def test_a_request_in_storage_naming_code_is_never_imported_nor_run(
    local_project, tmp_path, monkeypatch
) -> None:
    """The sensor refuses and lists it; a run asked for it anyway fails; `precalc run`
    reports it blocked. Nothing it names is imported or executed on the way."""
    marker, ran = tmp_path / "imported", tmp_path / "ran"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    sys.modules.pop("precalc_assets_tests.import_marker", None)
    local_project.add_library(write_library(tmp_path / "lib.smi", nci_lines(10)), "lib", 10)
    store = local_project.store()
    python_key, command_key = layout.model_request("evil"), layout.model_request("evil-cmd")
    store.put_bytes(
        python_key,
        json.dumps(
            {
                "runner": "python",
                "callable": "precalc_assets_tests.import_marker:score",
                "columns": ["score"],
            }
        ).encode(),
    )
    command = ["sh", "-c", f"touch {ran}", "{input}", "{output}"]
    store.put_bytes(
        command_key,
        json.dumps({"runner": "command", "command": command, "columns": ["score"]}).encode(),
    )
    result = tick(local_project, sensor=model_requests_sensor)
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    rejected = load_rejected_inputs(store)
    assert "may not name runner 'python'" in rejected[python_key]
    assert "may not name runner 'command'" in rejected[command_key]

    # Registered as partitions by other means, they still cannot run.
    local_project.instance.add_dynamic_partitions("model", ["evil", "evil-cmd"])
    for model_id in ("evil", "evil-cmd"):
        assert not local_project.precalculate(model_id, "lib-0000").success
        with pytest.raises(ModelError, match="storage is data, never code"):
            load_model_spec(store, model_id, local_project.policy())
    ledger = CliRunner().invoke(main, ["ledger"]).output
    assert "model 'evil' cannot be run" in ledger
    assert not marker.exists() and not ran.exists()
    assert "precalc_assets_tests.import_marker" not in sys.modules
