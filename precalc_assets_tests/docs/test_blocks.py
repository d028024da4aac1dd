"""Every command block of the README and `docs/` is run by a walkthrough test
(`test_walkthroughs.py`, `test_hub_models.py`) or checked here; the blocks
that cannot run on this machine (an AWS deployment) are checked against what they name."""

from __future__ import annotations

import json
import re

import yaml

from precalc_assets_tests.docs_commands import (
    REPO,
    WALKTHROUGHS,
    block,
    blocks,
    command_blocks,
)


def test_every_command_block_is_run_or_checked_by_a_test():
    claimed = {block(file, holding).where for steps in WALKTHROUGHS for file, holding in steps}
    unclaimed = [b.where for b in command_blocks() if b.where not in claimed]
    assert not unclaimed, f"command blocks no test runs: {unclaimed}"
    assert len(claimed) >= 15


def test_the_quick_starts_make_test_is_what_ci_runs():
    assert "make test" in block("README.md", "make demo").text
    assert re.search(r"^make test$", (REPO / ".ci" / "run").read_text(), re.MULTILINE)


def _template() -> dict:
    class Loader(yaml.SafeLoader):
        """CloudFormation's short tags (`!Ref`, `!Sub`, ...) read as plain values."""

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load((REPO / "deploy" / "lambda" / "template.yaml").read_text(), Loader)


def test_the_sam_deploy_block_names_the_templates_parameters():
    deploy = block("deploy/README.md", "sam build").text
    assert "-t deploy/lambda/template.yaml" in deploy
    overrides = re.findall(r"(\w+)=\S+", deploy.split("--parameter-overrides", 1)[1])
    parameters = _template()["Parameters"]
    assert overrides and set(overrides) <= set(parameters)
    required = {name for name, p in parameters.items() if "Default" not in p}
    assert required <= set(overrides)


def test_the_call_block_reads_the_stacks_outputs():
    call = block("deploy/README.md", "describe-stacks").text
    outputs = set(_template()["Outputs"])
    for name in re.findall(r"<(\w+)>", call):
        assert name in outputs, name


def test_every_json_block_is_json():
    for each in blocks():
        if each.language == "json":
            json.loads(each.text)  # raises naming the line
