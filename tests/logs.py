"""Capture every log record, including from loggers that do not propagate to the root."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def recorded() -> Iterator[list[logging.LogRecord]]:
    """Every record at every level from the root and every configured logger (``django``
    and ``untold`` do not propagate, so caplog alone would miss them)."""
    recorder = Recorder()
    loggers = [logging.getLogger(name) for name in ["", *settings.LOGGING["loggers"]]]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(recorder)
        logger.setLevel(logging.DEBUG)
    try:
        yield recorder.records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(recorder)
            logger.setLevel(level)
