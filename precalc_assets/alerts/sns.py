"""An SNS topic, through boto3's default chain."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from precalc_assets.alerts.alert import Alert
from precalc_assets.alerts.delivery import AlertDeliveryError
from precalc_assets.stores.aws import client_config

SNS_TOPIC_ENV = "PRECALC_ALERTS_SNS_TOPIC_ARN"


class SnsNotifier:
    """Publishes each alert to an SNS topic: Subject (title), Message (JSON), attributes
    `severity`, `kind`, `model`, `check` for subscription filter policies."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        parts = topic_arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns":
            raise ValueError(
                f"{topic_arn!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>); "
                f"check {SNS_TOPIC_ENV}"
            )
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> Any:
        """boto3's default chain (credentials, AWS_ENDPOINT_URL); the region is the topic's."""
        if self._client is None:
            region = self.topic_arn.split(":")[3] or None
            self._client = boto3.client("sns", region_name=region, config=client_config(5))
        return self._client

    def publish_args(self, alert: Alert) -> dict[str, Any]:
        attributes = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in (
                ("severity", alert.severity),
                ("kind", alert.kind),
                ("model", alert.model),
                ("check", alert.check),
            )
            if value  # SNS rejects empty attribute values
        }
        return {
            "TopicArn": self.topic_arn,
            "Subject": alert.subject(),
            "Message": json.dumps(alert.to_dict(), sort_keys=True),
            "MessageAttributes": attributes,
        }

    def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            try:
                self.client.publish(**self.publish_args(alert))
            except ClientError as exc:
                error = exc.response.get("Error", {})
                raise AlertDeliveryError(
                    f"SNS publish to {self.topic_arn} failed: {error.get('Code')}: "
                    f"{error.get('Message')}"
                ) from exc
            except BotoCoreError as exc:
                raise AlertDeliveryError(
                    f"SNS publish to {self.topic_arn} failed: {type(exc).__name__}: {exc}"
                ) from exc
