"""Links into the Dagster UI, so a line about a run leads to its page (logs, events)."""

from __future__ import annotations

from urllib.parse import quote


def run_url(ui_url: str, run_id: str) -> str:
    """The run's page on the webserver at `ui_url` (Settings.ui_url)."""
    return f"{ui_url.rstrip('/')}/runs/{quote(run_id)}"
