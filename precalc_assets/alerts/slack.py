"""A Slack incoming webhook. Its URL is a secret: errors name its host only."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlsplit

from precalc_assets.alerts.alert import Alert
from precalc_assets.alerts.delivery import AlertDeliveryError

SLACK_WEBHOOK_ENV = "PRECALC_SLACK_WEBHOOK_URL"
_RETRY_AFTER_MAX = 30.0


class SlackNotifier:
    """POSTs `{"text": ...}` per alert to a Slack incoming webhook, retrying 429 and 5xx."""

    def __init__(
        self, webhook_url: str, timeout: float = 10, retries: int = 3, backoff: float = 1.0
    ) -> None:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"the Slack webhook URL must be http(s)://host/...; got scheme {parts.scheme!r} "
                f"(set {SLACK_WEBHOOK_ENV} to the webhook's URL)"
            )
        self._url = webhook_url
        self.host = parts.hostname
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"SlackNotifier(host={self.host!r})"  # never the secret path

    def _redact(self, text: str) -> str:
        path = urlsplit(self._url).path
        text = text.replace(self._url, f"<webhook on {self.host}>")
        return text.replace(path, "/<redacted>") if len(path) > 1 else text

    def _post(self, body: bytes) -> tuple[int | None, str, float | None]:
        """One attempt: (status or None if no answer, short reason, Retry-After seconds)."""
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, "", None
        except urllib.error.HTTPError as exc:
            with exc:
                reason = exc.read(200).decode("utf-8", "replace").strip() or str(exc.reason)
            return exc.code, self._redact(reason), _retry_after(exc.headers.get("Retry-After"))
        except urllib.error.URLError as exc:
            return None, self._redact(str(exc.reason)), None
        except (OSError, ValueError) as exc:  # timeouts, resets, malformed answers
            return None, self._redact(f"{type(exc).__name__}: {exc}"), None

    def send_one(self, alert: Alert) -> None:
        body = json.dumps({"text": alert.text()}).encode("utf-8")
        for attempt in range(self.retries + 1):
            status, reason, retry_after = self._post(body)
            if status is not None and 200 <= status < 300:
                return
            retryable = status is None or status == 429 or status >= 500
            if not retryable or attempt == self.retries:
                answer = f"HTTP {status}" if status is not None else "no answer"
                tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
                raise AlertDeliveryError(
                    f"Slack webhook on {self.host} refused the alert {tries}: {answer}"
                    + (f" ({reason})" if reason else "")
                    + (
                        f"; check {SLACK_WEBHOOK_ENV}"
                        if status is not None and 400 <= status < 500
                        else ""
                    )
                ) from None
            delay = self.backoff * 2**attempt
            if retry_after is not None:
                delay = max(delay, retry_after)
            time.sleep(min(delay, _RETRY_AFTER_MAX))

    def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self.send_one(alert)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
