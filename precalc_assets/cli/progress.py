"""A progress bar for `precalc run`: partitions done of the total, molecules per
second and the time left. On a terminal only; elsewhere the per-run lines say it all."""

from __future__ import annotations

import sys
import time
from types import TracebackType

import click
from tqdm import tqdm

from precalc_assets import keys


class RunProgress:
    """Counts partitions and their molecules as the runs end; prints lines above the bar."""

    def __init__(self, partitions: int, rows_by_slice: dict[str, int], what: str):
        self.rows_by_slice = rows_by_slice
        self.molecules = 0
        self.started = time.perf_counter()
        self.bar = tqdm(
            total=partitions,
            unit="partition",
            desc=what,
            disable=not sys.stderr.isatty(),
            dynamic_ncols=True,
        )

    def echo(self, line: str) -> None:
        if self.bar.disable:
            click.echo(line)
        else:
            self.bar.write(line)

    def partitions_ended(self, done: list[str], failed: list[str]) -> None:
        self.molecules += sum(
            self.rows_by_slice.get(keys.split_partition_id(k)[1], 0) for k in done
        )
        seconds = max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix_str(f"{self.molecules / seconds:,.0f} molecules/s", refresh=False)
        self.bar.update(len(done) + len(failed))

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.close()
