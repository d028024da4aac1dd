"""How `precalc run` learns the progress of its runs, whichever process runs them.

A run given a progress directory (its `precalc/progress` tag, and its console logger's
config) appends what it does to a file of its own there, `<run id>.jsonl`: the molecules
a model has just answered (a batch, a chunk) of a partition, a partition published, and
its console lines (so that they print above the progress bar, not through it). The
driving process reads the lines new in every file as they land. Plain JSON lines, each
one `write` on an O_APPEND descriptor: the model's threads of one run never interleave
partial lines, and a line half-written is read once it is whole.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precalc_assets import keys

COMPUTED, PUBLISHED, LINE, PARTITION = "computed", "published", "line", "partition"


def progress_directory(instance_root: str | os.PathLike[str]) -> Path:
    """This process's progress directory under the instance (one per `precalc run`)."""
    return Path(instance_root) / "precalc" / "progress" / str(os.getpid())


class ProgressFile:
    """What one run tells; a run with no progress directory tells nobody."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def of_run(cls, directory: str, run_id: str) -> ProgressFile:
        return cls(Path(directory) / f"{run_id}.jsonl" if directory else None)

    @classmethod
    def from_tags(cls, tags: Mapping[str, str], run_id: str) -> ProgressFile:
        return cls.of_run(tags.get(keys.PROGRESS_TAG, ""), run_id)

    def computed(self, partition: str, molecules: int) -> None:
        """`molecules` more of the partition answered by its model."""
        self._append({PARTITION: partition, COMPUTED: molecules})

    def published(self, partition: str) -> None:
        self._append({PARTITION: partition, PUBLISHED: True})

    def line(self, text: str) -> None:
        self._append({LINE: text})

    def _append(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        data = (json.dumps(record) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


@dataclass
class ProgressReader:
    """The records new in a progress directory since the last read, file by file."""

    directory: Path

    def __post_init__(self) -> None:
        self.offsets: dict[Path, int] = {}

    def create(self) -> None:
        """A fresh directory (one a killed `precalc run` of the same pid left is emptied)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def new_records(self) -> list[dict[str, Any]]:
        records = []
        for path in sorted(self.directory.glob("*.jsonl")):
            with path.open("rb") as f:
                f.seek(self.offsets.get(path, 0))
                data = f.read()
            whole = data[: data.rfind(b"\n") + 1]  # a line still being written waits
            self.offsets[path] = self.offsets.get(path, 0) + len(whole)
            records += [json.loads(line) for line in whole.splitlines() if line.strip()]
        return records
