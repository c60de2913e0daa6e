"""Logging helpers with Parsl's names, for scripts that want parlay's log on the console or in a file of their
choosing (the run's own `parlay.log` is written whatever these do)."""

from __future__ import annotations

import logging
from typing import IO

_FORMAT = "%(asctime)s %(name)s:%(lineno)d %(threadName)s %(levelname)s %(message)s"


def set_stream_logger(
    name: str = "parlay", level: int = logging.DEBUG, format_string: str | None = None, stream: IO[str] | None = None
) -> logging.Logger:
    """Send the `name` logger's records at `level` and above to `stream` (standard error by default)."""
    return _add(name, level, logging.StreamHandler(stream), format_string)


def set_file_logger(
    filename: str, name: str = "parlay", level: int = logging.DEBUG, format_string: str | None = None
) -> logging.Logger:
    """Append the `name` logger's records at `level` and above to `filename`."""
    return _add(name, level, logging.FileHandler(filename), format_string)


def _add(name: str, level: int, handler: logging.Handler, format_string: str | None) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(min(level, logger.level or level))
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(format_string or _FORMAT))
    logger.addHandler(handler)
    return logger
