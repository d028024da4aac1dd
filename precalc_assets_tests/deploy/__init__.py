"""Tests of the production deployment in `deploy/`, and what they share: where its files
are, how the Dockerfile is read (there is no Docker here), a free loopback port."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dockerfile_instructions(path: Path = DEPLOY / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_cmd(path: Path = DEPLOY / "Dockerfile") -> list[str]:
    """The image's CMD, which must be in exec (JSON) form."""
    cmds = [args for keyword, args in dockerfile_instructions(path) if keyword == "CMD"]
    assert len(cmds) == 1, cmds
    return json.loads(cmds[0])


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    """`argv` with the value following `option` replaced."""
    at = argv.index(option)
    return [*argv[: at + 1], value, *argv[at + 2 :]]
