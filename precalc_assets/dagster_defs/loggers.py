"""`precalc_console`: the console logger of `precalc run`, one line per event.

A failed partition is reported by `precalc run` itself, in one line with its cause and
its run; this logger keeps warnings (a drift WARN, quarantined rows) to their first
paragraph, and leaves out errors (the failed step, each step it skips, the run's
failure: ~10 lines per failed partition), which Dagster's event log keeps whole. Runs
from the UI and the daemon keep Dagster's own console.
"""

import logging

import dagster as dg

STACK_TRACE = "\n\nStack Trace:"


class _FirstParagraph(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return line.split(STACK_TRACE, 1)[0].split("\n\n", 1)[0]


def _below_error(record: logging.LogRecord) -> bool:
    return record.levelno < logging.ERROR


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="WARNING")},
    description="One line per event from log_level up to warnings; no errors, no stack traces.",
)
def precalc_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLogger("precalc")
    logger.setLevel(init_context.logger_config["log_level"])
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            _FirstParagraph(
                "%(asctime)s - dagster - %(levelname)s - %(message)s", "%Y-%m-%d %H:%M:%S %z"
            )
        )
        handler.addFilter(_below_error)
        logger.addHandler(handler)
    logger.propagate = False
    return logger


LOGGERS = {"console": dg.colored_console_logger, "precalc_console": precalc_console}
