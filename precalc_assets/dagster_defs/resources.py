"""Resources by deployment: one table picks local or AWS.

`local` resolves URLs from PRECALC_HOME with env overrides, at run time; `aws` makes
PRECALC_STORAGE_URL and PRECALC_SERVING_URL mandatory through `dg.EnvVar`. Alerts go to
the JSONL file and the log always, and to Slack and SNS where their env vars are set.

Dagster reads these classes' field annotations at runtime, so this module does not use
`from __future__ import annotations`.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import boto3
import dagster as dg
from pydantic import Field

from precalc_assets.alerts.alert import Alert
from precalc_assets.alerts.delivery import AlertLog, Notifier, deliver
from precalc_assets.alerts.jsonl import ALERTS_FILE, JsonlNotifier
from precalc_assets.alerts.slack import SLACK_WEBHOOK_ENV, SlackNotifier
from precalc_assets.alerts.sns import SNS_TOPIC_ENV, SnsNotifier
from precalc_assets.models.trust import ModelPolicy, parse_allow_list
from precalc_assets.settings import (
    ENVS_DIR_ENV,
    HTTP_ALLOW_ENV,
    MODELS_FILE_ENV,
    Settings,
    check_deployment,
)
from precalc_assets.stores.aws import client_config
from precalc_assets.stores.factory import open_object_store, open_serving_table
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable


class ObjectStorageResource(dg.ConfigurableResource):
    """Object storage by URL: `file://...` (default under PRECALC_HOME) or `s3://bucket/prefix`."""

    url: str | None = None
    max_attempts: int = 10

    def resolved_url(self) -> str:
        return self.url or Settings.from_env().storage_url

    def open(self) -> ObjectStore:
        url = self.resolved_url()
        client = None
        if url.startswith("s3://"):
            # Region, endpoint and credentials come from boto3's own chain.
            client = boto3.client("s3", config=client_config(self.max_attempts))
        return open_object_store(url, s3_client=client)


class ServingTableResource(dg.ConfigurableResource):
    """Serving table by URL: `sqlite:///path.db` (default) or `dynamodb://table-name`."""

    url: str | None = None
    max_attempts: int = 10
    write_threads: int = 8

    def resolved_url(self) -> str:
        return self.url or Settings.from_env().serving_url

    def open(self) -> ServingTable:
        url = self.resolved_url()
        client = None
        if url.startswith("dynamodb://"):
            # Region, endpoint and credentials come from boto3's own chain.
            client = boto3.client("dynamodb", config=client_config(self.max_attempts))
        return open_serving_table(url, dynamodb_client=client, write_threads=self.write_threads)


class ModelPolicyResource(dg.ConfigurableResource):
    """The deployment's trust policy: its declared models (a models file shipped with
    the code location, or on this machine) and the hosts http models may be served
    from. Storage never widens it (see `models.trust`)."""

    models_file: str | None = Field(
        default=None, description="JSON of declared models; default per deployment."
    )
    http_allow: str | None = Field(
        default=None, description="Hosts of allowed http models, comma-separated, or 'none'."
    )
    environments_dir: str | None = Field(
        default=None, description="Where repository models' environments are built."
    )

    def open(self) -> ModelPolicy:
        settings = Settings.from_env()
        models_file = Path(self.models_file) if self.models_file else settings.models_file
        allow = parse_allow_list(self.http_allow) if self.http_allow else settings.http_allow
        environments = (
            Path(self.environments_dir) if self.environments_dir else settings.environments
        )
        return ModelPolicy.load(models_file, allow, environments)


class NotifierResource(dg.ConfigurableResource):
    """Where alerts go: the JSONL file and the Dagster log always; Slack and SNS if set."""

    alerts_path: str | None = Field(
        default=None, description="JSON lines file; default $PRECALC_HOME/alerts.jsonl."
    )
    slack_webhook_url: str | None = Field(
        default=None, description=f"Slack incoming webhook (a secret: use {SLACK_WEBHOOK_ENV})."
    )
    sns_topic_arn: str | None = Field(default=None, description=f"SNS topic ARN ({SNS_TOPIC_ENV}).")
    slack_timeout: float = 10
    slack_retries: int = 3
    slack_backoff: float = 1.0

    def resolved_alerts_path(self) -> Path:
        return (
            Path(self.alerts_path) if self.alerts_path else Settings.from_env().home / ALERTS_FILE
        )

    def sink_names(self) -> list[str]:
        """The remote sinks that are configured (JSONL and the log are always on)."""
        return [
            name
            for name, value in (("slack", self.slack_webhook_url), ("sns", self.sns_topic_arn))
            if value
        ]

    def sink(self, name: str) -> Notifier:
        """Build one remote sink; a malformed URL/ARN raises ValueError naming its env var."""
        if name == "slack" and self.slack_webhook_url:
            return SlackNotifier(
                self.slack_webhook_url,
                timeout=self.slack_timeout,
                retries=self.slack_retries,
                backoff=self.slack_backoff,
            )
        if name == "sns" and self.sns_topic_arn:
            return SnsNotifier(self.sns_topic_arn)
        raise KeyError(f"alert sink {name!r} is not configured")

    def sinks(self) -> dict[str, Notifier]:
        return {name: self.sink(name) for name in self.sink_names()}

    def notify(
        self, alerts: Sequence[Alert], log: AlertLog | None = None, logged: bool = True
    ) -> dict[str, int]:
        """Send `alerts` to every sink; how many each took (see `alerts.delivery`).
        `logged=False` leaves the log out, for a caller that prints the alerts itself."""
        remote = {name: (lambda name=name: self.sink(name)) for name in self.sink_names()}
        logger = log if log is not None else dg.get_dagster_logger("precalc_alerts")
        jsonl = JsonlNotifier(self.resolved_alerts_path())
        return deliver(alerts, jsonl, remote, logger if logged else None)


def notifier_resource_for(deployment: str) -> NotifierResource:
    """The notifier of a deployment; Slack and SNS only where their env vars are set.

    `dg.EnvVar` of an unset variable fails resource initialisation, and Dagster 1.13 has
    no optional `EnvVar`; so the choice is made here, when definitions are built (lazily,
    never at import). A set variable is passed as `dg.EnvVar`, so its value is read in the
    process that uses the resource and the UI shows the variable's name, not the secret.
    """
    check_deployment(deployment)
    return NotifierResource(
        slack_webhook_url=_env_var_if_set(SLACK_WEBHOOK_ENV),
        sns_topic_arn=_env_var_if_set(SNS_TOPIC_ENV),
    )


def _env_var_if_set(name: str) -> dg.EnvVar | None:
    return dg.EnvVar(name) if os.environ.get(name) else None


def resources_for(deployment: str) -> dict[str, object]:
    check_deployment(deployment)
    table = {
        "local": {
            "storage": ObjectStorageResource(),
            "serving": ServingTableResource(),
            "models": ModelPolicyResource(),
        },
        "aws": {
            "storage": ObjectStorageResource(url=dg.EnvVar("PRECALC_STORAGE_URL")),
            "serving": ServingTableResource(url=dg.EnvVar("PRECALC_SERVING_URL")),
            "models": ModelPolicyResource(
                models_file=_env_var_if_set(MODELS_FILE_ENV),
                http_allow=_env_var_if_set(HTTP_ALLOW_ENV),
                environments_dir=_env_var_if_set(ENVS_DIR_ENV),
            ),
        },
    }
    return {**table[deployment], "notifier": notifier_resource_for(deployment)}
