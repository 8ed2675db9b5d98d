"""Standard-library logging configured from fullon_log's environment variables.

=================  =========================================================================
``LOG_LEVEL``      DEBUG, INFO (default), WARNING, ERROR, CRITICAL or a number
``LOG_FORMAT``     beautiful (default), minimal, development, detailed, trading, json
``LOG_CONSOLE``    log to stderr (default true)
``LOG_COLORS``     colour the console (default: true when stderr is a terminal)
``LOG_FILE_PATH``  also log to this file (never coloured)
``LOG_ROTATION``   rotate the file by size (``"10 MB"``) or by time (``"1 day"``, ``"midnight"``)
``LOG_RETENTION``  rotated files kept: a count (``"7"``) or a period (``"7 days"``)
=================  =========================================================================

Handlers are installed on the root logger, so the API's ``fullon.api.cache.*`` loggers,
uvicorn's loggers and any library share them. ``json`` writes one object per line with
``ts``, ``level``, ``logger``, ``message`` and the record's ``extra={...}`` fields.

Size rotation keeps 5 files unless ``LOG_RETENTION`` says otherwise; time rotation keeps
all of them unless told. A period as retention becomes a number of files: the period
divided by the rotation interval for time rotation, its number for size rotation.
"""

from __future__ import annotations

import logging
import logging.handlers
import math
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

__all__ = ["FORMATS", "JsonFormatter", "TextFormatter", "configure_logging"]

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
DEFAULT_SIZE_BACKUPS = 5

# %(level)s is the level name, padded and (on a colour console) coloured by TextFormatter.
_TEXT_FORMATS: dict[str, tuple[str, str | None, bool]] = {
    # name: (format, date format or None for "date time.ms", append extra fields)
    "beautiful": ("%(asctime)s | %(level)s | %(name)s | %(message)s", None, True),
    "minimal": ("%(asctime)s %(level)s %(message)s", "%H:%M:%S", False),
    "development": (
        "%(asctime)s | %(level)s | %(name)s:%(funcName)s:%(lineno)d | %(message)s",
        None,
        True,
    ),
    "detailed": (
        "%(asctime)s | %(level)s | %(process)d:%(threadName)s | "
        "%(name)s:%(module)s:%(funcName)s:%(lineno)d | %(message)s",
        None,
        True,
    ),
    "trading": ("%(asctime)s %(level)s %(name)s | %(message)s", None, True),
}
FORMATS = (*_TEXT_FORMATS, "json")

_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "TRACE": "DEBUG", "SUCCESS": "INFO"}
_COLORS = {
    logging.DEBUG: "\x1b[36m",  # cyan
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;41m",  # bold on red
}
_RESET = "\x1b[0m"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Attributes every LogRecord has; anything else came from ``extra={...}``.
# ``color_message`` is uvicorn's ANSI copy of the message, not data.
_RECORD_ATTRS = frozenset(
    {*logging.makeLogRecord({}).__dict__, "message", "asctime", "taskName", "color_message"}
)
_JSON_KEYS = ("ts", "level", "logger", "message")

# Handlers installed by the last configure_logging() call, replaced by the next one.
_installed: list[logging.Handler] = []


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}


class TextFormatter(logging.Formatter):
    """One of the human-readable formats; colours the level name when asked to."""

    default_msec_format = "%s.%03d"

    def __init__(
        self, fmt: str, datefmt: str | None = None, *, colors: bool = False, extras: bool = True
    ) -> None:
        super().__init__(fmt, datefmt)
        self.colors = colors
        self.extras = extras

    def format(self, record: logging.LogRecord) -> str:
        extra = _extras(record) if self.extras else {}
        record = logging.makeLogRecord(record.__dict__)  # other handlers see the original
        level = f"{record.levelname:<8}"
        if self.colors:
            level = f"{_COLORS.get(record.levelno, '')}{level}{_RESET}"
        record.level = level
        record.extra_text = " ".join(f"{key}={value!r}" for key, value in extra.items())
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        extra_text: str = getattr(record, "extra_text", "")
        return f"{text} | {extra_text}" if extra_text else text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, then the extra fields.

    An extra field named like one of the four is written as ``extra_<name>``.
    """

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            payload[f"extra_{key}" if key in _JSON_KEYS else key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(payload, default=str).decode()
        except (orjson.JSONEncodeError, TypeError):  # e.g. an int beyond 64 bits
            safe = {k: v if k in _JSON_KEYS else str(v) for k, v in payload.items()}
            return orjson.dumps(safe).decode()


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def _level(raw: str) -> int:
    value = raw.strip().upper()
    if value.isdigit():
        return int(value)
    level = logging.getLevelNamesMapping().get(_LEVEL_ALIASES.get(value, value))
    if level is None:
        raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {raw!r}")
    return level


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}

_PERIOD_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)
_PERIOD_UNITS = {
    "second": 1,
    "sec": 1,
    "s": 1,
    "minute": 60,
    "min": 60,
    "m": 60,
    "hour": 3600,
    "h": 3600,
    "day": 86400,
    "d": 86400,
    "week": 7 * 86400,
    "w": 7 * 86400,
}
# word: (when, interval, seconds)
_NAMED_PERIODS = {
    "hourly": ("H", 1, 3600),
    "daily": ("D", 1, 86400),
    "midnight": ("midnight", 1, 86400),
    "weekly": ("D", 7, 7 * 86400),
}


def _size(text: str) -> int | None:
    match = _SIZE_RE.match(text)
    if match is None:
        return None
    return max(1, int(float(match[1]) * _SIZE_UNITS[match[2].lower()]))


def _period(text: str) -> tuple[str, int, int] | None:
    """``"2 days"`` -> ``("D", 2, 172800)``: (when, interval, seconds)."""
    named = _NAMED_PERIODS.get(text.strip().lower())
    if named is not None:
        return named
    match = _PERIOD_RE.match(text)
    if match is None:
        return None
    unit = match[2].lower()
    if unit not in _PERIOD_UNITS and len(unit) > 2 and unit.endswith("s"):
        unit = unit[:-1]  # plural ("days"), never "ms" -> "m"
    if unit not in _PERIOD_UNITS:
        return None
    seconds = max(1, round(float(match[1]) * _PERIOD_UNITS[unit]))
    for when, unit_seconds in (("D", 86400), ("H", 3600), ("M", 60)):  # coarsest exact unit
        if seconds % unit_seconds == 0:
            return when, seconds // unit_seconds, seconds
    return "S", seconds, seconds


def _backup_count(retention: str | None, rotation_seconds: int | None) -> int | None:
    """Rotated files to keep, or None when ``LOG_RETENTION`` is not set."""
    if retention is None or not retention.strip():
        return None
    text = retention.strip()
    if text.isdigit():
        return int(text)
    period = _period(text)
    if period is None:
        raise ValueError(f"LOG_RETENTION must be a count or a period like '7 days', not {text!r}")
    if rotation_seconds is None:  # size rotation: the period's number
        match = _PERIOD_RE.match(text)
        return max(1, round(float(match[1]))) if match else 1
    return max(1, math.ceil(period[2] / rotation_seconds))


def _file_handler(path: str, rotation: str | None, retention: str | None) -> logging.Handler:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    filename = str(Path(path).expanduser())
    if rotation is None or not rotation.strip():
        return logging.FileHandler(filename, encoding="utf-8")
    size = _size(rotation)
    if size is not None:
        keep = _backup_count(retention, None)
        return logging.handlers.RotatingFileHandler(
            filename,
            maxBytes=size,
            backupCount=DEFAULT_SIZE_BACKUPS if keep is None else keep,
            encoding="utf-8",
        )
    period = _period(rotation)
    if period is None:
        raise ValueError(
            f"LOG_ROTATION must be a size like '10 MB' or a period like '1 day', not {rotation!r}"
        )
    when, interval, seconds = period
    return logging.handlers.TimedRotatingFileHandler(
        filename,
        when=when,
        interval=interval,
        backupCount=_backup_count(retention, seconds) or 0,
        encoding="utf-8",
        utc=True,
    )


def _formatter(name: str, *, colors: bool) -> logging.Formatter:
    if name == "json":
        return JsonFormatter()
    fmt, datefmt, extras = _TEXT_FORMATS[name]
    return TextFormatter(fmt, datefmt, colors=colors, extras=extras)


def configure_logging(
    env: Mapping[str, str] | None = None, *, stream: TextIO | None = None
) -> None:
    """(Re)configure logging from ``env`` (default ``os.environ``).

    ``stream`` is the console (default ``sys.stderr``). Calling it again replaces the
    handlers the previous call installed. Raises ValueError on an invalid setting,
    before changing anything.
    """
    env = os.environ if env is None else env
    stream = sys.stderr if stream is None else stream
    level = _level(env.get("LOG_LEVEL") or "INFO")
    fmt = (env.get("LOG_FORMAT") or "beautiful").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    console = _flag(env, "LOG_CONSOLE", True)
    isatty = getattr(stream, "isatty", None)
    tty = bool(isatty()) if callable(isatty) else False
    colors = _flag(env, "LOG_COLORS", tty and "NO_COLOR" not in env)

    handlers: list[logging.Handler] = []
    file_path = (env.get("LOG_FILE_PATH") or "").strip()
    if file_path:
        handler = _file_handler(file_path, env.get("LOG_ROTATION"), env.get("LOG_RETENTION"))
        handler.setFormatter(_formatter(fmt, colors=False))
        handlers.append(handler)
    if console:
        console_handler = logging.StreamHandler(stream)
        console_handler.setFormatter(_formatter(fmt, colors=colors))
        handlers.append(console_handler)
    if not handlers:  # keep logging's last-resort handler from printing warnings anyway
        handlers.append(logging.NullHandler())

    root = logging.getLogger()
    for old in _installed:
        root.removeHandler(old)
        old.close()
    _installed[:] = handlers
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own dictConfig (not used: we pass log_config=None) would give its loggers
    # private handlers; make sure they propagate to ours whatever ran before.
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        for old in list(uvicorn_logger.handlers):
            uvicorn_logger.removeHandler(old)
        uvicorn_logger.setLevel(logging.NOTSET)
        uvicorn_logger.propagate = True
