"""`precalc_console`: the console logger of `precalc run`, one line per event.

A failed partition is reported by `precalc run` itself, in one line with its cause and
its run; this logger keeps warnings (a drift WARN, quarantined rows) to their first
paragraph, and leaves out errors (the failed step, each step it skips, the run's
failure: ~10 lines per failed partition), which Dagster's event log keeps whole. Runs
from the UI and the daemon keep Dagster's own console.
"""

import logging

import dagster as dg

from precalc_assets.orchestration.progress import ProgressFile

STACK_TRACE = "\n\nStack Trace:"


class _FirstParagraph(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return line.split(STACK_TRACE, 1)[0].split("\n\n", 1)[0]


def _below_error(record: logging.LogRecord) -> bool:
    return record.levelno < logging.ERROR


class _ToProgress(logging.Handler):
    """A run's console lines told to `precalc run` (printed above its progress bar)."""

    def __init__(self, progress: ProgressFile) -> None:
        super().__init__()
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.line(self.format(record))


def _console(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(
        _FirstParagraph(
            "%(asctime)s - dagster - %(levelname)s - %(message)s", "%Y-%m-%d %H:%M:%S %z"
        )
    )
    handler.addFilter(_below_error)
    return handler


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, default_value="WARNING"),
        "progress_dir": dg.Field(
            str, default_value="", description="Tell the lines to `precalc run` there."
        ),
    },
    description="One line per event from log_level up to warnings; no errors, no stack traces.",
)
def precalc_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    if config["progress_dir"] and init_context.run_id:
        # This run's own logger (not kept by `logging`): its lines go to its progress file.
        logger = logging.Logger("precalc", config["log_level"])
        logger.addHandler(
            _console(_ToProgress(ProgressFile.of_run(config["progress_dir"], init_context.run_id)))
        )
        return logger
    logger = logging.getLogger("precalc")
    logger.setLevel(config["log_level"])
    if not logger.handlers:
        logger.addHandler(_console(logging.StreamHandler()))
    logger.propagate = False
    return logger


LOGGERS = {"console": dg.colored_console_logger, "precalc_console": precalc_console}
