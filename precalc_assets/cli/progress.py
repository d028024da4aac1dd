"""The progress bar of `precalc run`: molecules done of the total (per batch as the
models answer, a whole partition once it is published), partitions published,
molecules/s and the time left. The runs tell their progress in files
(`orchestration.progress`), read here a few times a second, whichever process runs
them; their console lines, and this process's, print above the bar.

On a terminal only: elsewhere nothing is followed, and the lines print as they are."""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import click
from tqdm import tqdm

from precalc_assets.orchestration.progress import (
    COMPUTED,
    LINE,
    PARTITION,
    PUBLISHED,
    ProgressReader,
)

READ_EVERY_S = 0.5
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:,}/{total:,} molecules{postfix}"


@dataclass
class MoleculeTally:
    """Molecules done of the planned partitions, from what the runs tell: a partition
    counts its molecules answered so far, all of its slice's rows once published, and
    nothing once it failed or was left to another run (its rows leave the total). The
    rate is that of the molecules done up to the last one (`at`: when it was told), so
    the checks after the last publication do not slow it down."""

    molecules: dict[str, int]  # partition -> its slice's rows
    started: float
    answered: dict[str, int] = field(default_factory=dict)
    published: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    latest: float = 0.0  # when the molecules done last changed

    def told(self, record: dict[str, Any], at: float) -> str | None:
        """Count what a run told; the line it told, if that is what it was."""
        if LINE in record:
            return str(record[LINE])
        partition = str(record.get(PARTITION, ""))
        if partition not in self.molecules:
            return None
        before = self.done
        if record.get(PUBLISHED):
            self.published.add(partition)
        elif COMPUTED in record:
            self.answered[partition] = self.answered.get(partition, 0) + int(record[COMPUTED])
        self._moved(before, at)
        return None

    def ended(self, done: list[str], dropped: list[str], at: float) -> None:
        """A run's partitions, as its summary says: done, or failed / left to others."""
        before = self.done
        self.published |= {p for p in done if p in self.molecules}
        self.dropped |= {p for p in dropped if p in self.molecules}
        self.published -= self.dropped
        self._moved(before, at)

    def _moved(self, before: int, at: float) -> None:
        if self.done != before:
            self.latest = at

    @property
    def total(self) -> int:
        return sum(n for p, n in self.molecules.items() if p not in self.dropped)

    @property
    def done(self) -> int:
        return sum(
            n if p in self.published else min(self.answered.get(p, 0), n)
            for p, n in self.molecules.items()
            if p not in self.dropped
        )

    @property
    def partitions(self) -> int:
        return len(self.molecules) - len(self.dropped)

    @property
    def rate(self) -> float:
        """Molecules done per second, from the start to the last one done."""
        seconds = self.latest - self.started
        return self.done / seconds if seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """At the rate so far; None until something is done."""
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def postfix(self) -> str:
        left = self.seconds_left
        dropped = f", {len(self.dropped)} failed or left to others" if self.dropped else ""
        return (
            f"{len(self.published)}/{self.partitions} partitions{dropped}, "
            f"{self.rate:,.0f} molecules/s, "
            f"{tqdm.format_interval(left) if left is not None else '?'} left"
        )


class RunProgress:
    """The bar, fed by the runs' progress files and by each run's end; the lines of the
    runs and of `precalc run` print above it."""

    def __init__(
        self,
        molecules: dict[str, int],
        directory: Path,
        what: str,
        file: TextIO | None = None,
        on_terminal: bool | None = None,
    ) -> None:
        shown = (file or sys.stderr).isatty() if on_terminal is None else on_terminal
        # The terminal as it is now: a step run in this process has its stdout and stderr
        # captured (Dagster's compute logs), and the bar belongs in neither. The lines go
        # where the bar is, so that tqdm clears the bar before each and draws it after.
        own = _own(sys.stderr) if file is None and shown else None
        self.own = own
        self.out = out = file or own
        self.bar = tqdm(
            total=sum(molecules.values()),
            desc=what,
            file=out,
            disable=not shown,
            dynamic_ncols=True,
            bar_format=BAR_FORMAT,
        )
        self.tally = MoleculeTally(molecules, time.monotonic())
        self.reader = ProgressReader(directory)
        self.directory = str(directory) if shown else ""
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.follower = threading.Thread(target=self._follow, name="progress", daemon=True)

    def echo(self, line: str) -> None:
        if self.bar.disable:
            click.echo(line)
            return
        with self.lock:
            self._read_told()  # a run's own lines before the line saying how it ended
            self.bar.write(line, file=self.out)

    def partitions_ended(self, done: list[str], dropped: list[str]) -> None:
        with self.lock:
            self.tally.ended(done, dropped, time.monotonic())
            self._show()

    def _follow(self) -> None:
        while not self.stopped.wait(READ_EVERY_S):
            self._read()

    def _read(self) -> None:
        with self.lock:
            self._read_told()
            self._show()

    def _read_told(self) -> None:
        for record in self.reader.new_records():
            line = self.tally.told(record, time.monotonic())
            if line is not None:
                self.bar.write(line, file=self.out)

    def _show(self) -> None:
        if self.bar.disable:
            return
        self.bar.total = self.tally.total
        self.bar.n = self.tally.done
        self.bar.set_postfix_str(self.tally.postfix(), refresh=False)
        self.bar.refresh()

    def __enter__(self) -> RunProgress:
        if self.directory:
            self.reader.create()
            self.follower.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.directory:
            self.stopped.set()
            self.follower.join()
            self._read()  # the last lines told
            self.reader.remove()
        self.bar.close()
        if self.own is not None:
            self.own.close()


def _own(stream: TextIO) -> TextIO:
    """A stream of its own on the same file as `stream` (a duplicate descriptor)."""
    return os.fdopen(os.dup(stream.fileno()), "w", buffering=1, encoding=stream.encoding)
