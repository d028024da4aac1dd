"""Debian packages the tests need (PostgreSQL, Chromium), installed like any other
dependency: `apt-get install` when missing (CI runs as root)."""

from __future__ import annotations

import os
import subprocess

import pytest


def apt_install(package: str, why: str) -> None:
    """Install a Debian package, or fail the test saying how to; `why` names what was
    not found (e.g. "no initdb in /usr/lib/postgresql/<version>/bin or on PATH")."""
    if os.geteuid() != 0:
        pytest.fail(
            f"{package} is not installed ({why}) and installing it needs root: run "
            f"`apt-get install -y {package}` as root, then run the tests again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.fail(f"`{' '.join(install)}` failed:\n{result.stdout[-2000:]}{result.stderr}")
