"""The README's quick start and the local and AWS walkthroughs of `docs/`, run verbatim
in one reader's shell each (`docs_commands`). Both walkthroughs use the docs' own ports
(moto on 5000, `precalc serve` on 8000 and 8001, the UI on 3000), so they share this file
and run one after the other."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import boto3
import pytest

from precalc_assets_tests.docs_commands import (
    DAEMON_WALKTHROUGH,
    LOCAL_WALKTHROUGH,
    QUICK_START,
    block,
    shell,
    walkthrough,
    without_lines,
)

EXAMPLE_KEY = "VTWDKFNVVLAELH-UHFFFAOYSA-N"  # the docs' example: NCI's first molecule
MOTO = "http://127.0.0.1:5000"


def _dynamodb_items(table: str) -> int:
    client = boto3.client(
        "dynamodb",
        endpoint_url=MOTO,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return sum(page["Count"] for page in client.get_paginator("scan").paginate(TableName=table))


def _published(ledger_json: str, model: str) -> int:
    models = {m["model"]: m for m in json.loads(ledger_json)["models"]}
    return models[model]["rows_published"]


def test_the_quick_start_then_every_local_walkthrough_and_s3_in_the_same_shell(tmp_path):
    quick_start = without_lines(block(*QUICK_START[0]), "make test")  # CI itself runs it
    steps = [quick_start, *walkthrough(LOCAL_WALKTHROUGH)]
    with shell(tmp_path / "clone") as terminal:
        out = terminal.run(*steps, answers="y\n")
        demo, register, launch, lookups, serve, handler, _, remove, aws = (
            out[step.where] for step in steps
        )
        for model in ("eos3b5e", "morgan-fp2048", "rdkit-physchem"):
            assert re.search(rf"^{model} +6/6 +5,457 +542$", demo, re.MULTILINE), demo[-3000:]
        assert "library 'library' registered: 1,017 rows in 1 slices" in register
        assert launch.count("RUN_SUCCESS") == 2, launch[-3000:]
        assert f'"key": "{EXAMPLE_KEY}"' in lookups and '"status": "found"' in lookups
        answer = (terminal.project / "answer.csv").read_text().splitlines()
        assert answer[0] == "input,key,smiles,model_id,status,reason,mol_weight"
        assert len(answer) == 4  # the three molecules of molecules.csv
        assert lookups.count('"status": "computed"') == 2  # the two molecules not in NCI
        get, post = serve.split('"model_id":"eos3b5e"')[1:]  # GET one model, POST two
        assert '"status":"found"' in get and '"model_id":"rdkit-physchem"' in post
        documented = json.loads(block("deploy/README.md", '"model_id": "eos3b5e"').text)
        assert json.loads(handler.strip().splitlines()[-1]) == documented
        assert "to remove:" in remove and "removed" in remove
        # S3 after the demo, in the same shell: published to the bucket and the table.
        assert "warning:" not in aws  # its own home: nothing of the demo's history
        home = terminal.project / ".precalc-aws"
        assert (home / "dagster").is_dir()
        ledger = subprocess.run(
            [".venv/bin/precalc", "ledger", "--format", "json"],
            cwd=terminal.project,
            env={**terminal.environ(), **_aws_settings(terminal.project)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        published = _published(ledger, "eos3b5e")
        assert published > 1000
        assert _dynamodb_items("precalc-serving") == published
        assert ",eos3b5e,found," in aws.splitlines()[-1]  # the block's lookup, from DynamoDB


def _aws_settings(project) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": MOTO,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PRECALC_STORAGE_URL": "s3://precalc-demo/v1",
        "PRECALC_SERVING_URL": "dynamodb://precalc-serving",
        "PRECALC_HOME": str(project / ".precalc-aws"),
        "DAGSTER_HOME": str(project / ".precalc-aws" / "dagster"),
    }


def test_the_daemon_walkthrough_publishes_a_dropped_request_and_stops_on_one_ctrl_c(tmp_path):
    s3, make_dev, drop = walkthrough(DAEMON_WALKTHROUGH)
    with shell(tmp_path / "clone") as terminal:
        terminal.run(s3)
        ui = terminal.start(make_dev)  # the first terminal
        try:
            out = terminal.run(drop, timeout=600)[drop.where]  # the second one
            assert "| rdkit-physchem | yes |" in out
        finally:
            os.killpg(ui.pid, signal.SIGINT)  # a terminal's Ctrl-C: its foreground group
            try:
                ui.wait(timeout=120)
            except subprocess.TimeoutExpired:
                pytest.fail("make dev did not stop within 120 s of one Ctrl-C")
