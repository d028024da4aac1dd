"""Model requests in storage are data from anyone: every field of one is parsed inside
the trust check, and a malformed one is a rejected input naming the file and the field.
No single file stops a tick, another model's registration or another model's run."""

from __future__ import annotations

import json

import pytest

from precalc_assets import layout
from precalc_assets.inputs.model_requests import load_model_spec, resolve_spec
from precalc_assets.inputs.rejected import load_rejected_inputs
from precalc_assets.models.spec import ModelError
from precalc_assets.models.trust import LOOPBACK_HOSTS, ModelPolicy
from precalc_assets_tests.dagster_defs.sensors.ticks import tick
from precalc_assets_tests.molecules import nci_lines, write_library
from precalc_assets_tests.project import precalc

# Every malformed field a request file can carry, by the file that carries it.
SERVED = {"runner": "http", "url": "http://127.0.0.1:1/"}
MALFORMED = {
    "port-text": {**SERVED, "url": "http://127.0.0.1:abc/"},
    "port-too-big": {**SERVED, "url": "http://127.0.0.1:99999/"},
    "port-negative": {**SERVED, "url": "http://127.0.0.1:-1/"},
    "ipv6-unclosed": {**SERVED, "url": "http://[::1/"},
    "ipv6-junk": {**SERVED, "url": "http://[zz]/"},
    "url-number": {**SERVED, "url": 8080},
    "url-list": {**SERVED, "url": ["http://127.0.0.1:1/"]},
    "url-no-host": {**SERVED, "url": "http:///run"},
    "columns-object": {**SERVED, "columns": {"a": 1}},
    "column-dtype": {**SERVED, "columns": [{"name": "a", "dtype": 3}]},
    "not-null-text": {**SERVED, "columns": ["a"], "not_null": "a"},
    "batch-huge": {**SERVED, "columns": ["a"], "batch_size": 1e300},
    "ready-timeout-text": {**SERVED, "ready_timeout_s": "30"},
    "checks-list": {"checks": [1, 2]},
    "checks-inf": {"checks": {"sanity": {"warn_share": float("inf")}}},
    "repo-named": {**SERVED, "run_columns": "/etc/passwd"},
    "runner-list": {"runner": ["http"]},
    "rdkit-physchem": {"checks": [1]},  # a built-in, with checks that are not an object
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_every_malformed_field_is_a_model_error_naming_the_file(name):
    """Through the trust check and the spec, nothing but a `ModelError` escapes."""
    source = f"s3://bucket/inputs/models/{name}.json"
    policy = ModelPolicy(http_allow=LOOPBACK_HOSTS)
    with pytest.raises(ModelError) as raised:
        request = policy.request_for(name, json.loads(json.dumps(MALFORMED[name])), source)
        resolve_spec(name, request, source)
    assert str(raised.value).startswith(source)


def test_one_tick_over_every_malformed_request_registers_the_valid_ones(local_project, tmp_path):
    local_project.add_library(write_library(tmp_path / "lib.smi", nci_lines(20)), "lib", 20)
    store = local_project.store()
    for name, request in MALFORMED.items():
        store.put_bytes(layout.model_request(name), json.dumps(request).encode())
    store.put_bytes(layout.model_request("eos3b5e"), b"{}")
    store.put_bytes(layout.model_request("morgan-fp2048"), b"{}")
    result = tick(local_project)
    (add,) = result.dynamic_partitions_requests
    assert sorted(add.partition_keys) == ["eos3b5e", "morgan-fp2048"]
    rejected = load_rejected_inputs(store)
    assert set(rejected) == {layout.model_request(name) for name in MALFORMED}
    assert (
        "'url' 'http://127.0.0.1:abc/' is not a usable address"
        in rejected[layout.model_request("port-text")]
    )
    assert "Invalid IPv6 URL" in rejected[layout.model_request("ipv6-unclosed")]
    assert "'ready_timeout_s' must" in rejected[layout.model_request("ready-timeout-text")]
    assert (
        "may not name files of this machine (run_columns)"
        in rejected[layout.model_request("repo-named")]
    )


def test_a_registered_model_whose_request_turns_malformed_blocks_only_itself(
    local_project, tmp_path
):
    """`precalc run` and `precalc ledger` of every model said only `Invalid IPv6 URL`."""
    local_project.add_library(write_library(tmp_path / "lib.smi", nci_lines(20)), "lib", 20)
    precalc("add-model", "eos3b5e")
    store = local_project.store()
    key = layout.model_request("served")
    store.put_bytes(key, json.dumps({"runner": "http", "url": "http://[::1/"}).encode())
    local_project.instance.add_dynamic_partitions("model", ["served"])
    with pytest.raises(ModelError, match=r"inputs/models/served\.json: model 'served': its 'url'"):
        load_model_spec(store, "served", local_project.policy())
    out = precalc("run").output
    assert "1 partition(s) missing" in out  # eos3b5e's; served is blocked
    ledger = precalc("ledger", "--format", "json").output
    served = next(m for m in json.loads(ledger)["models"] if m["model"] == "served")
    assert served["blocked"] == ["lib-0000"] and "not a usable address" in served["error"]
    assert local_project.serving().count("eos3b5e") > 0
