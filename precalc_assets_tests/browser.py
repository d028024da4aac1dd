"""The UI as users see it: `dagster dev` (webserver and daemon) on a prepared home, and
Debian's Chromium driven by Playwright (its own browser download is not reachable, so
`executable_path` points at the Debian package, installed when missing)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from precalc_assets_tests.deploy import free_port
from precalc_assets_tests.system_packages import apt_install

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
LOCATION = "precalc_assets"  # the code location `dagster dev -m precalc_assets` loads
# Where screenshots go: docs/img/ when asked (`make screenshots`), else the test's tmp dir.
SCREENSHOTS_ENV = "PRECALC_UI_SCREENSHOTS"
VIEWPORT = {"width": 1280, "height": 800}
_WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""


def chromium() -> str:
    """Debian's Chromium, installed with apt-get when it is missing."""
    found = shutil.which("chromium")
    if found is None:
        apt_install("chromium", "no chromium on PATH")
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("Debian's chromium is installed but `chromium` is not on PATH")
    return found


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def _loaded(url: str) -> bool:
    """Whether the webserver answers and the code location is loaded; a location that
    failed to load fails the test with its error."""
    try:
        workspace = graphql(url, _WORKSPACE)["workspaceOrError"]
    except (urllib.error.URLError, OSError, KeyError, TypeError, ValueError):
        return False
    entries = {e["name"]: e for e in workspace.get("locationEntries", [])}
    entry = entries.get(LOCATION)
    if entry is None or entry["loadStatus"] != "LOADED":
        return False
    loaded = entry["locationOrLoadError"] or {}
    if loaded.get("__typename") == "PythonError":
        pytest.fail(f"code location {LOCATION} failed to load: {loaded['message']}")
    return True


def _restore_sigint() -> None:
    # A background process starts with SIGINT ignored; `dagster dev` stops on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def dagster_dev(env: dict[str, str], log: Path, timeout_s: float = 240) -> Iterator[str]:
    """`dagster dev` on a free loopback port until the block ends; yields its URL once
    the code location is loaded. Stopped with SIGINT (its own clean shutdown), then
    SIGKILL for whatever is left of its process group."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "dagster"), "dev", "-m", LOCATION, "-h", "127.0.0.1", "-p", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_restore_sigint,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not _loaded(url):
            if process.poll() is not None:
                pytest.fail(f"dagster dev exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"dagster dev not loaded after {timeout_s} s:\n{log.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with suppress(subprocess.TimeoutExpired):
        process.wait(30)
    # The daemon and the code servers are in its process group: nothing is left behind.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def screenshot_dir(tmp: Path) -> Path:
    """docs/img/ when the run was asked for the README's screenshots, else `tmp`."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    path = (REPO / chosen) if chosen else tmp
    path.mkdir(parents=True, exist_ok=True)
    return path
