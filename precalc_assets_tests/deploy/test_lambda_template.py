"""`deploy/lambda/`: the SAM template of the lookup API, its image and its requirements.

- cfn-lint (the SAM schemas) finds nothing in the template;
- the function's role allows exactly: writing its own log group, reading (BatchGetItem,
  GetItem) the one serving table, and reading and listing the model registry and the
  published columns under the storage prefix; the resources are resolved as
  CloudFormation would, with and without a prefix, and compared with `layout`'s keys;
- the API requires an API key, and a usage plan (throttle and quota) holds the key and
  the API's stage;
- the function runs `serving.aws_lambda.handler` with the settings the handler needs;
- requirements.txt holds everything the handler imports (key and SMILES lookups), with
  pyproject.toml's ranges.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.decode.decode import decode_str
from packaging.requirements import Requirement

from precalc_assets import layout
from precalc_assets.settings import Settings, store_urls
from precalc_assets.stores.factory import open_object_store
from precalc_assets_tests.deploy import DEPLOY, REPO, dockerfile_instructions

LAMBDA = DEPLOY / "lambda"
TEMPLATE = LAMBDA / "template.yaml"
REQUIREMENTS = LAMBDA / "requirements.txt"
HANDLER = "precalc_assets.serving.aws_lambda.handler"

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "precalc-lookup",
    "AWS::URLSuffix": "amazonaws.com",
}
TABLE, BUCKET = "precalc-serving", "precalc-data"
TABLE_ARN = f"arn:aws:dynamodb:eu-west-1:123456789012:table/{TABLE}"
# Only these actions: reads, and the function's own log lines.
READ_ACTIONS = {"dynamodb:BatchGetItem", "dynamodb:GetItem", "s3:GetObject", "s3:ListBucket"}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}


def template() -> dict[str, Any]:
    parsed, errors = decode_str(TEMPLATE.read_text())
    assert not errors, errors
    return parsed


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template()["Resources"].items() if r["Type"] == kind}


class Resolver:
    """Intrinsic functions as CloudFormation evaluates them, for given parameters;
    resources stand as `<Name>` and `<Name.Attribute>`."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.template = template()
        defaults = {
            name: str(p["Default"])
            for name, p in self.template["Parameters"].items()
            if "Default" in p
        }
        self.values = {**PSEUDO, **defaults, **parameters}

    def condition(self, name: str) -> bool:
        return bool(self(self.template["Conditions"][name]))

    def name(self, name: str) -> str:
        return self.values.get(name, f"<{name}>")

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self(v) for k, v in node.items()}
        ((function, argument),) = node.items()
        if function == "Ref":
            return self.name(argument)
        if function == "Fn::GetAtt":
            return f"<{'.'.join(argument) if isinstance(argument, list) else argument}>"
        if function == "Fn::If":
            condition, then, otherwise = argument
            return self(then if self.condition(condition) else otherwise)
        if function == "Fn::Not":
            return not self(argument[0])
        if function == "Fn::Equals":
            return self(argument[0]) == self(argument[1])
        if function == "Fn::Sub":
            text, names = (argument, {}) if isinstance(argument, str) else argument
            names = {k: self(v) for k, v in names.items()}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: names.get(m[1], self.name(m[1])), text)
        assert not function.startswith("Fn::"), f"no resolver for {function}"
        return {function: self(argument)}


def statements(resolve: Resolver) -> list[dict[str, Any]]:
    """Every statement of every identity policy in the template, resolved."""
    found: list[dict[str, Any]] = []
    for kind in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for resource in resources(kind).values():
            props = resource["Properties"]
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
            documents += [props["PolicyDocument"]] if "PolicyDocument" in props else []
            for document in documents:
                found += resolve(document)["Statement"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_template_passes_cfn_lint():
    matches = lint(TEMPLATE.read_text())

    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_the_function_has_its_own_role_and_no_other_permission():
    (function,) = resources("AWS::Serverless::Function").values()
    (role,) = resources("AWS::IAM::Role").values()

    # No SAM policy templates or managed policies (AWSLambdaBasicExecutionRole's logs:*
    # on every log group): everything it may do is in the statements checked below.
    assert function["Properties"]["Role"] == {"Fn::GetAtt": ["LookupFunctionRole", "Arn"]}
    assert "Policies" not in function["Properties"]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert not resources("AWS::IAM::Policy") and not resources("AWS::IAM::ManagedPolicy")


@pytest.mark.parametrize("prefix", ["precalc", "team/precalc", ""])
def test_the_role_only_reads_the_serving_table_and_the_storage_prefix(prefix):
    resolve = Resolver(
        {"ServingTableName": TABLE, "StorageBucket": BUCKET, "StoragePrefix": prefix}
    )
    granted = statements(resolve)
    root = f"{prefix}/" if prefix else ""

    assert all(s["Effect"] == "Allow" and "NotAction" not in s for s in granted)
    assert all("NotResource" not in s for s in granted)
    actions = {a for s in granted for a in as_list(s["Action"])}
    assert actions <= READ_ACTIONS | LOG_ACTIONS, actions - READ_ACTIONS - LOG_ACTIONS
    # Per action: the (resources, condition) of each statement that grants it.
    by_action = {
        action: [
            (as_list(s["Resource"]), s.get("Condition"))
            for s in granted
            if action in as_list(s["Action"])
        ]
        for action in actions
    }

    assert by_action["dynamodb:BatchGetItem"] == [([TABLE_ARN], None)]
    assert by_action["dynamodb:GetItem"] == [([TABLE_ARN], None)]
    assert by_action["s3:GetObject"] == [
        (
            [
                f"arn:aws:s3:::{BUCKET}/{root}inputs/models/*",
                f"arn:aws:s3:::{BUCKET}/{root}models/columns/*",
            ],
            None,
        )
    ]
    assert by_action["s3:ListBucket"] == [
        (
            [f"arn:aws:s3:::{BUCKET}"],
            {"StringLike": {"s3:prefix": [f"{root}inputs/models/*", f"{root}models/columns/*"]}},
        )
    ]
    assert by_action["logs:CreateLogStream"] == [(["<LookupLogGroup.Arn>"], None)]
    assert by_action["logs:PutLogEvents"] == [(["<LookupLogGroup.Arn>"], None)]
    assert resources("AWS::Logs::LogGroup")  # the group those are scoped to is the stack's
    function = resolve(template()["Resources"]["LookupFunction"]["Properties"])
    assert function["LoggingConfig"]["LogGroup"] == "<LookupLogGroup>"

    # What a lookup reads is inside what is granted: the objects `layout` names, under
    # the store's prefix (the S3 store's own key), and the registry's listing.
    store = open_object_store(function["Environment"]["Variables"]["PRECALC_STORAGE_URL"])
    for key in (layout.model_request("eos3b5e"), layout.served_columns("eos3b5e")):
        arn = store.uri(key).replace("s3://", "arn:aws:s3:::")
        assert any(fnmatch.fnmatchcase(arn, r) for r in by_action["s3:GetObject"][0][0]), arn
    for key in ("ledger/models.json", "predictions/model=eos3b5e/slice=x-0000.parquet"):
        arn = store.uri(key).replace("s3://", "arn:aws:s3:::")
        assert not any(fnmatch.fnmatchcase(arn, r) for r in by_action["s3:GetObject"][0][0])
    listed = root + layout.MODEL_REQUESTS
    patterns = by_action["s3:ListBucket"][0][1]["StringLike"]["s3:prefix"]
    assert any(fnmatch.fnmatchcase(listed, p) for p in patterns)


def test_the_api_requires_an_api_key_held_by_a_usage_plan():
    resolve = Resolver({})
    (api_name,) = resources("AWS::Serverless::Api")
    api = resources("AWS::Serverless::Api")[api_name]["Properties"]
    (function,) = resources("AWS::Serverless::Function").values()

    assert api["Auth"]["ApiKeyRequired"] is True
    events = function["Properties"]["Events"]
    assert [
        (
            e["Type"],
            e["Properties"]["RestApiId"],
            e["Properties"]["Path"],
            e["Properties"]["Method"],
        )
        for e in events.values()
    ] == [("Api", {"Ref": api_name}, "/lookup", "post")]
    assert all(e["Properties"].get("Auth", {}).get("ApiKeyRequired", True) for e in events.values())

    (plan_name, plan), *others = resources("AWS::ApiGateway::UsagePlan").items()
    assert not others
    plan = plan["Properties"]
    assert plan["ApiStages"] == [
        {"ApiId": {"Ref": api_name}, "Stage": {"Ref": f"{api_name}.Stage"}}
    ]
    throttle, quota = resolve(plan["Throttle"]), resolve(plan["Quota"])
    assert int(throttle["RateLimit"]) > 0 and int(throttle["BurstLimit"]) > 0
    assert int(quota["Limit"]) > 0 and quota["Period"] in ("DAY", "WEEK", "MONTH")

    (key_name, key), *others = resources("AWS::ApiGateway::ApiKey").items()
    assert not others and key["Properties"]["Enabled"] is True
    (binding,) = resources("AWS::ApiGateway::UsagePlanKey").values()
    assert binding["Properties"] == {
        "KeyId": {"Ref": key_name},
        "KeyType": "API_KEY",
        "UsagePlanId": {"Ref": plan_name},
    }
    outputs = resolve(template()["Outputs"])
    assert outputs["LookupUrl"]["Value"] == (
        f"https://<{api_name}>.execute-api.eu-west-1.amazonaws.com/v1/lookup"
    )


def test_the_function_runs_the_handler_with_the_aws_settings():
    resolve = Resolver({"ServingTableName": TABLE, "StorageBucket": BUCKET})
    resource = template()["Resources"]["LookupFunction"]
    function = resolve(resource["Properties"])

    assert function["PackageType"] == "Image"
    assert function["ImageConfig"]["Command"] == [HANDLER]
    module, _, name = HANDLER.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))
    assert function["Timeout"] < 29  # API Gateway's own limit: the function answers first
    env = function["Environment"]["Variables"]
    settings = Settings.from_env(env)
    assert settings.deployment == "aws"
    assert store_urls(settings, env) == (f"s3://{BUCKET}/precalc", f"dynamodb://{TABLE}")

    # The image sam build makes: Python 3.11, the runtime interface client, the same handler.
    context = (TEMPLATE.parent / resource["Metadata"]["DockerContext"]).resolve()
    assert context == REPO
    dockerfile = context / resource["Metadata"]["Dockerfile"]
    instructions = dockerfile_instructions(dockerfile)
    assert ("FROM", "python:3.11-slim") in instructions
    (entrypoint,) = [json.loads(a) for k, a in instructions if k == "ENTRYPOINT"]
    (command,) = [json.loads(a) for k, a in instructions if k == "CMD"]
    assert (entrypoint, command) == (["python", "-m", "awslambdaric"], [HANDLER])
    copies = [a.split() for k, a in instructions if k == "COPY"]
    for source, _ in copies:
        assert (context / source).exists(), source


def requirements() -> dict[str, Requirement]:
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    found = [Requirement(line) for line in lines if line]
    return {r.name.lower(): r for r in found}


def closure(names: set[str]) -> set[str]:
    """The installed distributions `names` pull in (their unconditional requirements)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


# Imported only because they happen to be installed here: pyarrow imports cloudpickle and
# botocore certifi when they can, and the venv's setuptools hooks distutils at start-up.
OPTIONAL_IMPORTS = {"certifi", "cloudpickle", "setuptools"}


def test_requirements_hold_every_package_a_lookup_imports():
    script = (
        "import json, sys\n"
        "import precalc_assets.serving.aws_lambda\n"
        "from precalc_assets.serving.lookup import keyed, queries\n"
        "keyed(queries([], ['CCO']))  # a lookup by SMILES: RDKit\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    distributions = metadata.packages_distributions()
    imported = (
        {
            dist.lower()
            for module in json.loads(run.stdout)
            if module not in sys.stdlib_module_names
            for dist in distributions.get(module, [])
        }
        - {"precalc-assets", "precalc_assets"}
        - OPTIONAL_IMPORTS
    )

    assert {"boto3", "numpy", "pyarrow", "rdkit"} <= imported
    assert not imported & {"dagster", "pandas", "evidently", "pandera"}
    assert imported <= closure(set(requirements())), imported - closure(set(requirements()))


def test_requirements_take_pyproject_ranges_and_the_tested_versions():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {Requirement(d).name.lower(): Requirement(d) for d in project["dependencies"]}

    for name, requirement in requirements().items():
        if name in declared:
            assert requirement.specifier == declared[name].specifier, name
        assert requirement.specifier.contains(metadata.version(name)), name


def test_the_deploy_readme_says_how_to_build_and_call_it():
    readme = (DEPLOY / "README.md").read_text()
    assert "## Lookup API on AWS Lambda" in readme
    assert "sam build -t deploy/lambda/template.yaml" in readme
