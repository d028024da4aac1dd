"""The command blocks of the README and `docs/`, run as a reader runs them: verbatim, in
bash, from a project folder of their own (`.venv`, `Makefile` and `deploy/` as a clone
has them), with none of the test session's settings.

Two programs the docs call need what this machine lacks, and get stand-ins on `PATH`:
- `git clone https://github.com/ersilia-os/<id> DIR` (no network to GitHub): `eos8a4x`
  becomes the tests' descriptor repository, any other ID `precalc example-repo`'s;
- `ersilia serve <id> --port P` (no Ersilia here): the tests' stand-in hub server on port
  P, left running in the background as Ersilia leaves its server.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = ("README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")))
DOCS = (*DOC_FILES, "deploy/README.md")
COMMAND_LANGUAGES = ("bash", "sh", "shell")
# What a clone holds that the blocks use; the rest of the package is installed in `.venv`.
PROJECT_FILES = ("Makefile", "pyproject.toml", "setup.py", "deploy")
# Settings of the test session that a reader's shell does not have.
FOREIGN_SETTINGS = ("PRECALC_", "DAGSTER_", "AWS_", "PYTEST_", "PIP_REQUIRE")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One fenced block of a doc: where it is, its language and its text."""

    file: str
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def blocks(files: tuple[str, ...] = DOCS) -> list[Block]:
    found = []
    for file in files:
        text = (REPO / file).read_text()
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Block(file, line, match.group(1), match.group(2)))
    return found


def command_blocks() -> list[Block]:
    return [b for b in blocks() if b.language in COMMAND_LANGUAGES]


def block(file: str, holding: str) -> Block:
    """The one block of `file` whose text holds `holding`."""
    matches = [b for b in blocks((file,)) if holding in b.text]
    assert len(matches) == 1, f"{len(matches)} blocks of {file} hold {holding!r}"
    return matches[0]


def _newer(path: Path, than: Path) -> bool:
    return path.exists() and path.stat().st_mtime >= than.stat().st_mtime


def project_folder(path: Path) -> Path:
    """A folder laid out as a clone with `make install` done: the files the blocks name,
    linked, and this test session's virtual environment as `.venv`."""
    stamp = Path(sys.prefix) / ".installed"
    stale = [n for n in ("pyproject.toml", "setup.py") if not _newer(stamp, REPO / n)]
    # Else `make` in the folder would install the package again, from the folder.
    assert not stale, f"{stamp} is older than {stale}: run `make install` first"
    path.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        (path / name).symlink_to(REPO / name)
    (path / ".venv").symlink_to(Path(sys.prefix))
    return path


_GIT = f"""#!{sys.executable}
import os, sys
sys.path.insert(0, {str(REPO)!r})
args = sys.argv[1:]
if args[:1] != ["clone"] or not args[1].startswith("https://github.com/ersilia-os/"):
    os.execvp("/usr/bin/git", ["git", *args])
model_id, folder = args[1].rstrip("/").rsplit("/", 1)[-1], args[2]
if os.path.exists(folder):
    sys.exit(f"fatal: destination path {{folder!r}} already exists and is not an empty directory.")
print(f"Cloning into {{folder!r}}... (the tests' offline stand-in for {{model_id}})")
if model_id == "eos8a4x":
    from importlib.metadata import version
    from pathlib import Path
    from precalc_assets_tests.model_repo import make_descriptor_repo
    make_descriptor_repo(Path(folder), pins=[("rdkit", version("rdkit"))])
else:
    from precalc_assets.models.example_repo import write_example_repo
    write_example_repo(folder)
"""

_ERSILIA = f"""#!{sys.executable}
import os, socket, subprocess, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
if args[:1] != ["serve"] or "--port" not in args:
    sys.exit("the tests' stand-in for ersilia knows only `ersilia serve <id> --port P`")
port = args[args.index("--port") + 1]
log = open(os.path.join(HERE, "ersilia.log"), "ab")
server = subprocess.Popen(
    [sys.executable, "-m", "precalc_assets_tests.model_server", "--port", port],
    cwd={str(REPO)!r}, stdout=log, stderr=log, start_new_session=True,
)
with open(os.path.join(HERE, "ersilia.pids"), "a") as handle:
    handle.write(f"{{server.pid}}\\n")
for _ in range(300):
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", int(port))) == 0:
            print(f"model {{args[1]}} served at http://127.0.0.1:{{port}}")
            sys.exit(0)
    time.sleep(0.1)
sys.exit(f"the stand-in server did not start on port {{port}}")
"""


def _as_a_terminal_starts_it() -> None:
    """A terminal's shell starts a command with Ctrl-C (SIGINT) and SIGQUIT at their
    defaults, whatever the test session ignores (run in the background, it ignores both)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@dataclass
class Shell:
    """Runs blocks in bash in one project folder, as a reader's terminal would."""

    project: Path
    groups: list[int] = field(default_factory=list)

    @property
    def stand_ins(self) -> Path:
        return self.project.parent / f"{self.project.name}-bin"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_SETTINGS)}
        env["PATH"] = f"{self.stand_ins}{os.pathsep}{env.get('PATH', '')}"
        return env

    def write_stand_ins(self) -> None:
        self.stand_ins.mkdir(exist_ok=True)
        for name, text in (("git", _GIT), ("ersilia", _ERSILIA)):
            (self.stand_ins / name).write_text(text)
            (self.stand_ins / name).chmod(0o755)

    def log(self, process: subprocess.Popen[bytes]) -> str:
        """What `process` printed so far."""
        return (self.stand_ins / f"terminal-{process.pid}.log").read_text(errors="replace")

    def start(self, *run: Block, answers: str = "") -> subprocess.Popen[bytes]:
        """Start `run` in one bash, in a process group of its own (a terminal's
        foreground job), its output to a file (not a pipe: a server left running in
        the background keeps its output open; read it with `log`); each block's output
        follows a `::block <where>` line."""
        self.write_stand_ins()
        script = ["set -euo pipefail"]
        for each in run:
            script += [f"printf '\\n::block {each.where}\\n'", each.text]
        log = self.stand_ins / f"terminal-{len(self.groups)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", "\n".join(script)],
                cwd=self.project,
                env=self.environ(),
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_as_a_terminal_starts_it,
            )
        log.rename(self.stand_ins / f"terminal-{process.pid}.log")  # the file stays open
        self.groups.append(process.pid)
        assert process.stdin is not None
        process.stdin.write(answers.encode())
        process.stdin.close()
        return process

    def run(self, *run: Block, answers: str = "", timeout: float = 900) -> dict[str, str]:
        """Run the blocks to their end; their output by block. A failing command fails
        the test with the output so far."""
        process = self.start(*run, answers=answers)
        process.wait(timeout=timeout)
        out = self.log(process)
        assert process.returncode == 0, f"exit {process.returncode}:\n{out[-6000:]}"
        return by_block(out)

    def stop_all(self) -> None:
        """End what the blocks left running: servers started with `&` (in their
        shell's process group) and the stand-in hub servers (in groups of their own)."""
        pids = self.stand_ins / "ersilia.pids"
        stand_ins = [int(pid) for pid in pids.read_text().split()] if pids.exists() else []
        for group in [*self.groups, *stand_ins]:
            with suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def by_block(output: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    where = ""
    for line in output.splitlines(keepends=True):
        if line.startswith("::block "):
            where = line.removeprefix("::block ").strip()
            parts[where] = ""
        else:
            parts[where] = parts.get(where, "") + line
    return parts


@contextmanager
def shell(path: Path) -> Iterator[Shell]:
    """A reader's shell in a new project folder at `path`; whatever its blocks leave
    running is ended afterwards."""
    terminal = Shell(project_folder(path))
    try:
        yield terminal
    finally:
        terminal.stop_all()


def without_lines(each: Block, starting: str) -> Block:
    """`each` without its lines that start with `starting` (a command run elsewhere)."""
    kept = [line for line in each.text.splitlines() if not line.startswith(starting)]
    return Block(each.file, each.line, each.language, "\n".join(kept) + "\n")


# The blocks each walkthrough runs, in order, as (file, text the block holds).
QUICK_START = (("README.md", "make demo"),)
LOCAL_WALKTHROUGH = (
    ("README.md", "add-library library.smi"),
    ("README.md", "dg launch"),
    ("docs/serving.md", "lookup --model eos3b5e --model rdkit-physchem"),
    ("docs/serving.md", "precalc serve --allow-compute"),
    ("deploy/README.md", "aws_lambda import handler"),
    ("docs/running.md", "add-library library.smi --slice-size 10000"),
    ("docs/running.md", "remove-model rdkit-physchem"),
    ("docs/running.md", "moto_server"),
)
DAEMON_WALKTHROUGH = (
    ("docs/running.md", "moto_server"),
    ("docs/running.md", "\nmake dev"),
    ("docs/running.md", "rdkit-physchem.json"),
)
README_HUB_MODELS = (
    ("README.md", "git clone https://github.com/ersilia-os/eos8a4x"),
    ("README.md", "eos8a4x.json"),
    ("README.md", ".venv/bin/precalc run\n"),
)
RUNNING_HUB_MODELS = (
    ("docs/running.md", "add-library library.smi --slice-size 10000"),
    ("docs/running.md", 'repo": "models/eos3b5e'),
    ("docs/running.md", "example-repo models/example-mw"),
    ("docs/running.md", "ersilia serve"),
)
# Blocks that cannot run here, and the test that checks them instead.
CHECKED_ELSEWHERE = {
    ("deploy/README.md", "sam build"): "docs/test_blocks.py: parameters against the template",
    ("deploy/README.md", "describe-stacks"): "docs/test_blocks.py: outputs against the template",
}
WALKTHROUGHS = (
    QUICK_START,
    LOCAL_WALKTHROUGH,
    DAEMON_WALKTHROUGH,
    README_HUB_MODELS,
    RUNNING_HUB_MODELS,
    tuple(CHECKED_ELSEWHERE),
)


def walkthrough(steps: tuple[tuple[str, str], ...]) -> list[Block]:
    return [block(file, holding) for file, holding in steps]
