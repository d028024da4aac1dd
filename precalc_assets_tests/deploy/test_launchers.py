"""The run launchers and packaging of `deploy/`, as far as this machine goes (no AWS, no
Kubernetes cluster, no Docker):

- ECS: `deploy/ecs/dagster.yaml` loaded into a DagsterInstance builds the EcsRunLauncher,
  which launches a run on a moto server: the RunTask call (cluster and network of the
  daemon's own task, the run task definition, `dagster api execute_run`, CPU/memory) is
  checked as sent and as moto recorded it, then the task's health as run monitoring sees it.
- Kubernetes: `deploy/k8s/dagster.yaml` builds the K8sRunLauncher against a kubeconfig
  naming a loopback fake API server; the Job manifest is built with dagster-k8s' own
  helpers (no cluster) and checked, and a launched run POSTs that same Job.
- `deploy/k8s/values.yaml` against the keys of the official chart's schema, and rendered
  by hand the way the chart renders it, equal to `deploy/k8s/dagster.yaml`.
- The Dockerfile, workspace.yaml and dagster_cloud.yaml, parsed.

Instance storage is swapped for Dagster's default SQLite here (the Postgres storage is
exercised for real in test_postgres_daemon.py); everything else is the shipped file.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import kubernetes
import pytest
import yaml
from dagster._cli.api import ExecuteRunArgs
from dagster._core.launcher import WorkerStatus
from dagster._core.test_utils import in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import location_origins_from_yaml_paths
from dagster._serdes import deserialize_value
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.ecs.container_context import EcsContainerContext
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id

from precalc_assets import keys
from precalc_assets.dagster_defs.assets.publication import published_predictions
from precalc_assets.definitions import build_definitions
from precalc_assets_tests.deploy import (
    DEPLOY,
    REPO,
    dockerfile_cmd,
    dockerfile_instructions,
    free_port,
    load_yaml,
)
from precalc_assets_tests.project import precalc
from precalc_assets_tests.store_data import unique_name

IMAGE = "registry.example.com/precalc-assets:0.1.0"
PARTITION = "eos3b5e|lib-0000"
INSTANCE_FILES = [
    DEPLOY / "dagster.yaml",
    DEPLOY / "ecs" / "dagster.yaml",
    DEPLOY / "k8s" / "dagster.yaml",
]
PG_ENV = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)


# Shared: an instance from a shipped file, a run of the real `precalculate` job in it.


@contextmanager
def instance_from(
    path: Path, directory: Path, **launcher_config: Any
) -> Iterator[dg.DagsterInstance]:
    """The instance of a shipped dagster.yaml with Dagster's default (SQLite) storage under
    `directory`, and `launcher_config` over its run launcher's config."""
    config = load_yaml(path)
    del config["storage"]
    config["run_launcher"].setdefault("config", {}).update(launcher_config)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(directory)) as instance:
        yield instance


@contextmanager
def precalculate_run(instance: dg.DagsterInstance) -> Iterator[tuple[Any, dg.DagsterRun]]:
    """A workspace whose code location (this project) reports IMAGE as its image, as the
    code server in deploy/Dockerfile's image does, and a run of `precalculate` in it."""
    origin = LoadableTargetOrigin(executable_path=sys.executable, module_name="precalc_assets")
    with in_process_test_workspace(instance, origin, container_image=IMAGE) as workspace:
        location = workspace.get_code_location(workspace.code_location_names[0])
        repository = next(iter(location.get_repositories().values()))
        remote_job = repository.get_full_job(keys.PRECALCULATE_JOB)
        run = instance.create_run_for_job(
            build_definitions("local").resolve_job_def(keys.PRECALCULATE_JOB),
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            tags={keys.PARTITION_TAG: PARTITION},
        )
        yield workspace, run


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def env_refs(node: Any) -> list[str]:
    """The env var names that a config tree reads (`{env: NAME}`)."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return [node["env"]]
        return [name for value in node.values() for name in env_refs(value)]
    if isinstance(node, list):
        return [name for value in node for name in env_refs(value)]
    return []


# The three instance files.


def test_instance_files_share_storage_queue_retries_and_the_serving_pool(tmp_path):
    configs = {path.relative_to(DEPLOY).as_posix(): load_yaml(path) for path in INSTANCE_FILES}
    storages = [config["storage"] for config in configs.values()]
    assert all(storage == storages[0] for storage in storages), storages
    postgres_db = storages[0]["postgres"]["postgres_db"]
    assert sorted(env_refs(postgres_db)) == sorted(
        PG_ENV
    )  # nothing inline, the password least of all
    assert postgres_db["scheme"] == "postgresql+psycopg2"  # the driver dagster-postgres brings
    for name, config in configs.items():
        assert config["run_coordinator"]["class"] == "QueuedRunCoordinator", name
        runs, pools = config["concurrency"]["runs"], config["concurrency"]["pools"]
        assert runs["max_concurrent_runs"] > 0 and runs["tag_concurrency_limits"], name
        assert pools["granularity"] == "op" and pools["default_limit"] >= 1, name
        monitoring = config["run_monitoring"]
        assert monitoring["enabled"] and monitoring["max_runtime_seconds"] > 0, name
        assert "max_resume_run_attempts" in monitoring, name
        assert config["run_retries"]["enabled"] and config["run_retries"]["max_retries"] > 0
    # The pool the instance bounds is the one the serving-table writer claims.
    assert published_predictions.op.pool == keys.SERVING_POOL
    # The one-machine file loads as an instance (its launcher cannot resume runs: 0).
    with instance_from(DEPLOY / "dagster.yaml", tmp_path / "base") as instance:
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_retries_max_retries == 2


# ECS, on moto.


def _ecs_world(cluster_name: str) -> dict[str, str]:
    """On the moto server: a VPC, a cluster, the daemon's own running task (what
    `use_current_ecs_task_config` copies), a secret, and the run task definition that the
    infrastructure registers (image, container `run`, the secret by ARN)."""
    ec2, ecs = boto3.client("ec2"), boto3.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=cluster_name, Description="d", VpcId=vpc)["GroupId"]
    cluster = ecs.create_cluster(clusterName=cluster_name)["cluster"]["clusterArn"]
    fargate = {
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "4096",
    }
    ecs.register_task_definition(
        family=f"{cluster_name}-daemon",
        containerDefinitions=[{"name": "daemon", "image": IMAGE, "memory": 2048}],
        **fargate,
    )
    daemon = ecs.run_task(
        cluster=cluster,
        taskDefinition=f"{cluster_name}-daemon",
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [subnet],
                "securityGroups": [group],
                "assignPublicIp": "DISABLED",
            }
        },
    )["tasks"][0]["taskArn"]
    secret = boto3.client("secretsmanager").create_secret(
        Name=f"{cluster_name}/postgres", SecretString="not-in-any-config"
    )["ARN"]
    run_definition = ecs.register_task_definition(
        family=f"{cluster_name}-run",
        containerDefinitions=[
            {
                "name": "run",
                "image": IMAGE,
                "memory": 4096,
                "secrets": [{"name": "DAGSTER_PG_PASSWORD", "valueFrom": secret}],
            }
        ],
        **fargate,
    )["taskDefinition"]["taskDefinitionArn"]
    return {
        "cluster": cluster,
        "daemon": daemon,
        "subnet": subnet,
        "group": group,
        "secret": secret,
        "run_definition": run_definition,
        "family": f"{cluster_name}-run",
    }


def test_ecs_launcher_from_the_shipped_file_runs_a_task_on_moto(aws_env, tmp_path, monkeypatch):
    world = _ecs_world(unique_name("precalc"))

    class TaskMetadata(JsonHandler):  # ECS's task metadata endpoint, for the daemon's task
        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/task"):
                self.reply(200, {"Cluster": world["cluster"], "TaskARN": world["daemon"]})
            else:
                self.reply(200, {"Name": "daemon"})

    monkeypatch.setenv("DAGSTER_ECS_TASK_DEFINITION", world["family"])
    monkeypatch.setenv("DAGSTER_ECS_CONTAINER_NAME", "run")
    with (
        http_server(TaskMetadata) as metadata_url,
        instance_from(DEPLOY / "ecs" / "dagster.yaml", tmp_path / "ecs") as instance,
    ):
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", metadata_url)
        launcher = instance.run_launcher
        assert isinstance(launcher, EcsRunLauncher)
        assert launcher.task_definition == world["run_definition"]  # resolved from the env var
        assert launcher.supports_resume_run and instance.run_monitoring_max_resume_run_attempts == 2
        sent: list[dict[str, Any]] = []
        launcher.ecs.meta.events.register(
            "provide-client-params.ecs.RunTask",
            lambda params, **_: sent.append(copy.deepcopy(params)),
        )
        with precalculate_run(instance) as (workspace, run):
            instance.launch_run(run.run_id, workspace)
            run = instance.get_run_by_id(run.run_id)
            assert run is not None

            # The RunTask call, as sent.
            assert len(sent) == 1
            call = sent[0]
            assert call["cluster"] == world["cluster"]
            assert call["taskDefinition"] == world["run_definition"]
            assert call["launchType"] == "FARGATE"
            assert call["networkConfiguration"] == {
                "awsvpcConfiguration": {
                    "subnets": [world["subnet"]],
                    "securityGroups": [world["group"]],
                    "assignPublicIp": "DISABLED",
                }
            }
            (container,) = call["overrides"]["containerOverrides"]
            assert container["name"] == "run"
            assert container["command"][:3] == ["dagster", "api", "execute_run"]
            execute = deserialize_value(container["command"][3], ExecuteRunArgs)
            assert execute.run_id == run.run_id
            assert execute.job_origin.job_name == keys.PRECALCULATE_JOB
            assert (container["cpu"], container["memory"]) == (1024, 4096)
            assert (call["overrides"]["cpu"], call["overrides"]["memory"]) == ("1024", "4096")
            # Secrets stay in the task definition: nothing secret in the call.
            assert "secrets" not in container and "environment" not in container
            assert "not-in-any-config" not in json.dumps(call)
            tags = {t["key"]: t.get("value") for t in call["tags"]}
            assert tags["dagster/run_id"] == run.run_id and tags["app"] == "precalc_assets"

            # As moto recorded it: the task is running in the cluster.
            ecs = boto3.client("ecs")
            task_arn = run.tags["ecs/task_arn"]
            assert run.tags["ecs/cluster"] == world["cluster"]
            (task,) = ecs.describe_tasks(cluster=world["cluster"], tasks=[task_arn])["tasks"]
            assert task["taskDefinitionArn"] == world["run_definition"]
            assert task["overrides"]["containerOverrides"][0]["command"] == container["command"]

            # Run monitoring sees the task: running, then stopped (moto's stopped containers
            # exit 0, so SUCCESS; a killed container's non-zero exit code reads FAILED).
            assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
            ecs.stop_task(cluster=world["cluster"], task=task_arn, reason="spot interruption")
            assert launcher.check_run_worker_health(run).status == WorkerStatus.SUCCESS


# Kubernetes, against a loopback fake API server.


class FakeKubernetes(JsonHandler):
    """Accepts Job creation (records the body), answers 404 to everything else."""

    created: list[tuple[str, str, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.created.append((self.path, self.headers.get("Authorization", ""), body))
        self.reply(201, body)

    def do_GET(self) -> None:
        self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "tester", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
                "current-context": "fake",
            }
        )
    )
    return path


def _job_facts(job: dict[str, Any]) -> dict[str, Any]:
    """What a run's Job must get right, from its manifest (API field names)."""
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return {
        "image": container["image"],
        "command": container["args"][:3],
        "env": {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]},
        "envFrom": container["envFrom"],
        "mounts": container["volumeMounts"],
        "volumes": pod["volumes"],
        "resources": container["resources"],
        "serviceAccountName": pod["serviceAccountName"],
        "restartPolicy": pod["restartPolicy"],
        "backoffLimit": job["spec"]["backoffLimit"],
        "ttlSecondsAfterFinished": job["spec"]["ttlSecondsAfterFinished"],
        "label": job["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/part-of"),
    }


def test_k8s_launcher_from_the_shipped_file_builds_and_creates_the_run_job(tmp_path):
    FakeKubernetes.created = []
    with http_server(FakeKubernetes) as api:
        kubeconfig = _kubeconfig(tmp_path / "kubeconfig", api)
        overrides = {"load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
        with instance_from(
            DEPLOY / "k8s" / "dagster.yaml", tmp_path / "k8s", **overrides
        ) as instance:
            launcher = instance.run_launcher
            assert isinstance(launcher, K8sRunLauncher)
            assert (
                launcher.supports_resume_run
                and instance.run_monitoring_max_resume_run_attempts == 2
            )
            with precalculate_run(instance) as (workspace, run):
                # The manifest, built by dagster-k8s' helpers without a cluster.
                context = launcher.get_container_context_for_run(run)
                job_config = context.get_k8s_job_config(job_image=IMAGE, run_launcher=launcher)
                args = ExecuteRunArgs(
                    job_origin=run.job_code_origin,
                    run_id=run.run_id,
                    instance_ref=instance.get_ref(),
                    set_exit_code_on_failure=launcher.fail_pod_on_run_failure,
                ).get_command_args()
                built = construct_dagster_k8s_job(
                    job_config=job_config,
                    args=args,
                    job_name=get_job_name_from_run_id(run.run_id),
                    pod_name=get_job_name_from_run_id(run.run_id),
                    component="run_worker",
                    user_defined_k8s_config=context.run_k8s_config,
                    labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
                )
                manifest = kubernetes.client.ApiClient().sanitize_for_serialization(built)
                facts = _job_facts(manifest)
                assert manifest["metadata"]["name"] == f"dagster-run-{run.run_id}"
                assert facts["image"] == IMAGE
                assert facts["command"] == ["dagster", "api", "execute_run"]
                assert facts["env"]["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
                assert facts["env"]["DAGSTER_PG_PASSWORD"] == {
                    "secretKeyRef": {
                        "key": "postgresql-password",
                        "name": "dagster-postgresql-secret",
                    }
                }
                assert {"configMapRef": {"name": "precalc-config"}} in facts["envFrom"]
                assert {"secretRef": {"name": "precalc-env"}} in facts["envFrom"]
                # The instance travels in the command (an instance ref), its DAGSTER_PG_*
                # in the env: nothing is mounted.
                assert (facts["volumes"], facts["mounts"]) == ([], [])
                assert "InstanceRef" in args[3]
                assert facts["resources"] == {
                    "limits": {"memory": "4Gi"},
                    "requests": {"cpu": "1", "memory": "4Gi"},
                }
                assert facts["serviceAccountName"] == "dagster"
                assert facts["restartPolicy"] == "Never"
                assert (facts["backoffLimit"], facts["ttlSecondsAfterFinished"]) == (0, 86400)
                assert facts["label"] == "precalc-assets"
                literals = [v for v in facts["env"].values() if isinstance(v, str)]
                assert not any("password" in v.lower() for v in literals)

                # The launcher creates that Job through the API of the kubeconfig.
                instance.launch_run(run.run_id, workspace)
                ((path, authorization, posted),) = FakeKubernetes.created
                assert path == "/apis/batch/v1/namespaces/dagster/jobs"
                assert authorization == "Bearer not-a-real-token"  # the kubeconfig's user
                launched = _job_facts(posted)
                assert launched["env"].pop("DAGSTER_RUN_JOB_NAME") == keys.PRECALCULATE_JOB
                assert launched == facts
                run = instance.get_run_by_id(run.run_id)
                assert run is not None and run.tags["dagster/image"] == IMAGE


# Helm values, against the keys of the chart's schema (helm/dagster/schema in the
# dagster repository, chart 1.13) and rendered as the chart renders dagster.yaml.


def fields(names: str) -> set[str]:
    return set(names.split())


CHART_TOP_LEVEL = fields(
    "dagsterWebserver dagster-user-deployments postgresql generatePostgresqlPasswordSecret "
    "generateCeleryConfigSecret rabbitmq redis flower ingress imagePullSecrets "
    "computeLogManager scheduler runLauncher pythonLogs dagsterDaemon busybox migrate "
    "telemetry serviceAccount global retention concurrency additionalInstanceConfig"
)
CHART_FIELDS = {
    "global": fields("postgresqlSecretName dagsterHome serviceAccountName celeryConfigSecretName"),
    "serviceAccount": {"create", "name", "annotations"},
    "postgresql": fields(
        "postgresqlScheme image enabled postgresqlHost postgresqlUsername postgresqlPassword "
        "postgresqlDatabase postgresqlParams service"
    ),
    "dagster-user-deployments": {"enabled", "enableSubchart", "imagePullSecrets", "deployments"},
    "runLauncher": {"type", "config"},
    "concurrency": {"enabled", "pools", "runs"},
}
K8S_RUN_LAUNCHER_FIELDS = fields(
    "image imagePullPolicy jobNamespace loadInclusterConfig kubeconfigFile envConfigMaps "
    "envSecrets envVars volumeMounts volumes labels failPodOnRunFailure resources "
    "schedulerName securityContext runK8sConfig"
)
RUN_K8S_CONFIG_FIELDS = fields(
    "containerConfig podSpecConfig podTemplateSpecMetadata jobSpecConfig jobMetadata"
)
DAEMON_FIELDS = fields(
    "schedulerName volumeMounts volumes enabled image runCoordinator heartbeatTolerance env "
    "envConfigMaps envSecrets deploymentLabels labels nodeSelector affinity tolerations "
    "podSecurityContext securityContext resources livenessProbe readinessProbe startupProbe "
    "annotations runMonitoring runRetries sensors schedules checkDbReadyInitContainer backfills "
    "logFormat initContainerResources extraContainers extraPrependedInitContainers"
)
USER_DEPLOYMENT_FIELDS = fields(
    "name image port dagsterApiGrpcArgs codeServerArgs includeConfigInLaunchedRuns env "
    "envConfigMaps envSecrets annotations nodeSelector affinity tolerations podSecurityContext "
    "securityContext resources livenessProbe readinessProbe startupProbe labels volumeMounts "
    "volumes schedulerName"
)
WEBSERVER_FIELDS_USED = {"image", "service", "readinessProbe", "envConfigMaps", "envSecrets"}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _names(sources: list[dict[str, str]]) -> list[str]:
    assert all(set(source) == {"name"} for source in sources), sources
    return [source["name"] for source in sources]


def _image(image: dict[str, str]) -> str:
    assert set(image) == {"repository", "tag", "pullPolicy"}, image
    return f"{image['repository']}:{image['tag']}"


def test_helm_values_use_the_chart_keys_and_render_the_k8s_instance():
    values = load_yaml(DEPLOY / "k8s" / "values.yaml")
    instance = load_yaml(DEPLOY / "k8s" / "dagster.yaml")
    assert set(values) <= CHART_TOP_LEVEL, set(values) - CHART_TOP_LEVEL
    for section, known in CHART_FIELDS.items():
        assert set(values[section]) <= known, (section, set(values[section]) - known)
    assert set(values["dagsterWebserver"]) <= WEBSERVER_FIELDS_USED
    daemon = values["dagsterDaemon"]
    assert set(daemon) <= DAEMON_FIELDS, set(daemon) - DAEMON_FIELDS
    assert daemon["runCoordinator"] == {"enabled": True, "type": "QueuedRunCoordinator"}
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert set(launcher) <= K8S_RUN_LAUNCHER_FIELDS, set(launcher) - K8S_RUN_LAUNCHER_FIELDS
    assert set(launcher["runK8sConfig"]) <= RUN_K8S_CONFIG_FIELDS
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert set(deployment) <= USER_DEPLOYMENT_FIELDS, set(deployment) - USER_DEPLOYMENT_FIELDS
    assert (
        values["dagster-user-deployments"]["enabled"]
        and values["dagster-user-deployments"]["enableSubchart"]
    )
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}

    # One image everywhere; the user deployment serves what the image's CMD serves.
    images = {_image(values[s]["image"]) for s in ("dagsterWebserver", "dagsterDaemon")}
    assert images == {_image(deployment["image"])}
    cmd = dockerfile_cmd()
    assert deployment["dagsterApiGrpcArgs"] == cmd[cmd.index("-m") : cmd.index("-m") + 2]
    assert deployment["port"] == int(cmd[cmd.index("--port") + 1])
    assert values["dagsterWebserver"]["service"]["port"] > 1024  # the image is not root
    # Secrets are Secrets: none in the values, the Postgres password from its Secret.
    postgres = values["postgresql"]
    assert not postgres["enabled"] and not values["generatePostgresqlPasswordSecret"]
    assert postgres["postgresqlPassword"] == ""
    for section in (deployment, daemon, values["dagsterWebserver"], launcher):
        assert _names(section["envSecrets"]) == ["precalc-env"]
        assert _names(section["envConfigMaps"]) == ["precalc-config"]
        assert "env" not in section

    # dagster.yaml as the chart's templates (configmap-instance.yaml and helpers/instance/)
    # write it from these values, release `dagster`: the sections this project sets are
    # those of deploy/k8s/dagster.yaml.
    concurrency = values["concurrency"]
    assert concurrency["enabled"]
    assert set(concurrency["pools"]) <= {"defaultLimit", "granularity", "opGranularityRunBuffer"}
    assert set(concurrency["runs"]) <= {"maxConcurrentRuns", "tagConcurrencyLimits"}
    assert not daemon["runMonitoring"]["enabled"] and not daemon["runRetries"]["enabled"]
    rendered = {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "concurrency": {
            "runs": {_snake(k): v for k, v in concurrency["runs"].items()},
            "pools": {_snake(k): v for k, v in concurrency["pools"].items()},
        },
        "telemetry": values["telemetry"],
        **values["additionalInstanceConfig"],
    }
    assert set(rendered) == set(instance) - {"storage", "run_launcher"}
    for section, expected in rendered.items():
        assert instance[section] == expected, section
    run_launcher = instance["run_launcher"]["config"]
    assert run_launcher == {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher["jobNamespace"],
        "service_account_name": values["global"]["serviceAccountName"],
        "instance_config_map": "dagster-instance",  # "<release>-instance"
        "dagster_home": values["global"]["dagsterHome"],
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "image_pull_policy": launcher["imagePullPolicy"],
        "env_config_maps": _names(launcher["envConfigMaps"]),
        "env_secrets": _names(launcher["envSecrets"]),
        "fail_pod_on_run_failure": launcher["failPodOnRunFailure"],
        "resources": launcher["resources"],
        "labels": launcher["labels"],
        "run_k8s_config": {_snake(k): v for k, v in launcher["runK8sConfig"].items()},
    }
    assert instance["storage"]["postgres"]["postgres_db"]["scheme"] == postgres["postgresqlScheme"]


# The image, the workspace and Dagster+.


def test_the_image_builds_its_repository_models_environments_as_the_run_user(monkeypatch, tmp_path):
    """Environments are built into the image (a run computes, never installs), by the
    user the runs are, from the deployment's models file shipped with it."""
    instructions = dockerfile_instructions()
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for k, a in instructions if k == "ENV")))
    assert env["PRECALC_ENVS_DIR"] == "/opt/dagster/envs"
    assert env["PRECALC_MODELS_FILE"] == "/opt/dagster/models/models.json"
    build = instructions.index(("RUN", "precalc build-envs"))
    project = next(i for i, (k, a) in enumerate(instructions) if k == "RUN" and "pip install" in a)
    user = instructions.index(("USER", "10001"))
    copied = instructions.index(
        ("COPY", "--chown=dagster:dagster deploy/models/ /opt/dagster/models/")
    )
    assert project < user < copied < build
    # The shipped models file declares nothing yet: the step succeeds and says so.
    monkeypatch.setenv("PRECALC_MODELS_FILE", str(DEPLOY / "models" / "models.json"))
    monkeypatch.setenv("PRECALC_ENVS_DIR", str(tmp_path / "envs"))
    out = precalc("build-envs").output
    assert "no repository model is declared in" in out and "nothing to build" in out


def test_dockerfile_serves_the_code_location_as_a_non_root_user(monkeypatch):
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    expected = "dagster api grpc -m precalc_assets --host 0.0.0.0 --port 4000"
    assert dockerfile_cmd() == expected.split()
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for k, a in instructions if k == "ENV")))
    k8s_launcher = load_yaml(DEPLOY / "k8s" / "dagster.yaml")["run_launcher"]["config"]
    helm_global = load_yaml(DEPLOY / "k8s" / "values.yaml")["global"]
    assert env["DAGSTER_HOME"] == k8s_launcher["dagster_home"] == helm_global["dagsterHome"]
    users = [a for k, a in instructions if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert [k for k, _ in instructions].index("USER") < [k for k, _ in instructions].index("CMD")
    exposed = " ".join(a for k, a in instructions if k == "EXPOSE").split()
    assert "4000" in exposed

    # What it copies exists (paths of the build context, the repository root).
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG")
    for keyword, arguments in instructions:
        if keyword == "COPY":
            *sources, _ = [a for a in arguments.split() if not a.startswith("--")]
            for source in sources:
                source = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], source)
                assert (REPO / source).exists(), source
    assert (REPO / args["DAGSTER_YAML"]).resolve() == (DEPLOY / "dagster.yaml").resolve()

    # It installs the project with the `deploy` extra, which pins the deployment's libraries.
    (install,) = [a for k, a in instructions if k == "RUN" and "pip install" in a]
    extras = re.search(r'"\.\[([\w,]+)\]"', install)
    assert extras and "deploy" in extras.group(1).split(",")
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert {"dagster-postgres==0.29.27", "dagster-k8s==0.29.27"} <= set(optional["deploy"])
    assert "dagster-webserver==1.13.27" in {
        d for e in extras.group(1).split(",") for d in optional[e]
    }

    # The workspace reaches that code server by host and port from the environment.
    port = free_port()
    monkeypatch.setenv("DAGSTER_CODE_SERVER_HOST", "precalc-code")
    monkeypatch.setenv("DAGSTER_CODE_SERVER_PORT", str(port))
    (origin,) = location_origins_from_yaml_paths([str(DEPLOY / "workspace.yaml")])
    assert (origin.host, origin.port, origin.location_name) == (
        "precalc-code",
        port,
        "precalc_assets",
    )


def test_dagster_cloud_container_contexts_parse_and_name_secrets_by_reference():
    (location,) = load_yaml(DEPLOY / "dagster_cloud.yaml")["locations"]
    assert location["location_name"] == "precalc_assets"
    assert location["code_source"] == {"package_name": "precalc_assets"}
    assert (DEPLOY / location["build"]["directory"] / "pyproject.toml").exists()
    context = location["container_context"]
    ecs = EcsContainerContext.create_from_config(context)
    assert ecs.secrets and all(
        re.fullmatch(r"arn:aws:(secretsmanager|ssm):[\w-]+:\d{12}:\S+", s["valueFrom"])
        for s in ecs.secrets
    )
    assert ecs.run_resources == {"cpu": "1024", "memory": "4096"}
    env = dict(v.split("=", 1) for v in ecs.env_vars)
    assert env["PRECALC_DEPLOYMENT"] == "aws" and "PRECALC_SLACK_WEBHOOK_URL" not in env
    k8s = K8sContainerContext.create_from_config(context)
    run_container = k8s.run_k8s_config.container_config
    assert k8s.namespace == "dagster"
    assert run_container["env_from"] == [
        {"config_map_ref": {"name": "precalc-config"}},
        {"secret_ref": {"name": "precalc-env"}},
    ]
    assert run_container["env"] == [{"name": "PRECALC_DEPLOYMENT", "value": "aws"}]
    assert k8s.run_k8s_config.pod_spec_config == {"service_account_name": "dagster"}


@pytest.mark.parametrize(
    "path",
    [*INSTANCE_FILES, DEPLOY / "dagster_cloud.yaml", DEPLOY / "k8s" / "values.yaml"],
    ids=lambda path: path.relative_to(DEPLOY).as_posix(),
)
def test_no_secret_is_written_in_a_deploy_file(path):
    """Passwords, tokens and webhooks are read from the environment or named by
    reference (an ARN, a Secret); never a literal value."""

    def walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                yield from walk(v, key)
        else:
            yield key, node

    for key, value in walk(load_yaml(path)):
        if re.search(r"password|token|webhook", key, re.I) and not key.lower().endswith("secret"):
            assert value in ("", None), (key, value)
        if isinstance(value, str) and "=" in value:
            name = value.split("=", 1)[0]
            assert not re.search(r"PASSWORD|TOKEN|WEBHOOK|SECRET", name), value
