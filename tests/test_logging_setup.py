"""configure_logging(): fullon_log's LOG_* variables on standard-library logging."""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from fullon_cache_api.logging_setup import UVICORN_LOGGERS, configure_logging

log = logging.getLogger("fullon.api.cache.test")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root and uvicorn loggers back as they were (pytest's handlers included)."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in UVICORN_LOGGERS
        for lg in [logging.getLogger(name)]
    }
    yield
    for handler in root.handlers[:]:
        if handler not in saved_root[0]:
            root.removeHandler(handler)
            handler.close()
    root.handlers[:] = saved_root[0]
    root.setLevel(saved_root[1])
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


def _configure(**env: str) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(env, stream=stream)
    return stream


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if not type(h).__module__.startswith("_pytest")]


def test_json_lines_carry_extra_fields() -> None:
    stream = _configure(LOG_FORMAT="json")
    log.info("ticker %s", "BTC/USDT", extra={"exchange": "binance", "latency_ms": 1.5})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed", extra={"level": "shadowed"})

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"ts", "level", "logger", "message", "exchange", "latency_ms"}
    assert first["level"] == "INFO"
    assert first["logger"] == "fullon.api.cache.test"
    assert first["message"] == "ticker BTC/USDT"
    assert first["exchange"] == "binance" and first["latency_ms"] == 1.5
    assert first["ts"].endswith("Z")
    assert second["level"] == "ERROR" and second["extra_level"] == "shadowed"
    assert "RuntimeError: boom" in second["exception"]


def test_json_survives_values_orjson_cannot_encode() -> None:
    stream = _configure(LOG_FORMAT="json")
    log.info("odd", extra={"obj": object(), "huge": 2**80})
    record = json.loads(stream.getvalue())
    assert record["huge"] == str(2**80)
    assert record["obj"].startswith("<object object")


@pytest.mark.parametrize("fmt", ["beautiful", "minimal", "development", "detailed", "trading"])
def test_text_formats(fmt: str) -> None:
    stream = _configure(LOG_FORMAT=fmt)
    log.warning("hello", extra={"symbol": "ETH/USDT"})
    text = stream.getvalue()
    assert "hello" in text and "WARNING" in text
    assert "\x1b[" not in text  # a StringIO is not a terminal: no colours by default
    assert ("symbol='ETH/USDT'" in text) is (fmt != "minimal")


def test_colors_on_request() -> None:
    stream = _configure(LOG_COLORS="true")
    log.error("red")
    assert "\x1b[31m" in stream.getvalue()


def test_level_filtering() -> None:
    stream = _configure(LOG_LEVEL="warning")
    log.info("hidden")
    log.debug("hidden too")
    log.warning("shown")
    assert "hidden" not in stream.getvalue()
    assert "shown" in stream.getvalue()

    stream = _configure(LOG_LEVEL="DEBUG")
    log.debug("debug shown")
    assert "debug shown" in stream.getvalue()


def test_file_sink_without_console(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "api.log"
    stream = _configure(LOG_FILE_PATH=str(path), LOG_CONSOLE="false", LOG_COLORS="true")
    log.info("to the file", extra={"n": 1})
    for handler in _ours():
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "to the file" in text and "n=1" in text
    assert "\x1b[" not in text  # files are never coloured
    assert stream.getvalue() == ""


def test_no_console_and_no_file_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging({"LOG_CONSOLE": "false"})
    logging.getLogger("fullon.api.cache.test").error("nowhere")
    assert [type(h) for h in _ours()] == [logging.NullHandler]
    assert "nowhere" not in capsys.readouterr().err


def test_size_rotation(tmp_path: Path) -> None:
    _configure(
        LOG_FILE_PATH=str(tmp_path / "a.log"),
        LOG_ROTATION="1 KB",
        LOG_RETENTION="2",
        LOG_CONSOLE="false",
    )
    (handler,) = _ours()
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert (handler.maxBytes, handler.backupCount) == (1000, 2)
    for i in range(100):
        log.info("line %d with some padding to fill the file quickly", i)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log", "a.log.1", "a.log.2"]


def test_time_rotation_with_period_retention(tmp_path: Path) -> None:
    _configure(
        LOG_FILE_PATH=str(tmp_path / "b.log"),
        LOG_ROTATION="12 hours",
        LOG_RETENTION="7 days",
        LOG_CONSOLE="false",
    )
    (handler,) = _ours()
    assert isinstance(handler, logging.handlers.TimedRotatingFileHandler)
    assert (handler.when, handler.interval, handler.backupCount) == ("H", 12 * 3600, 14)


def test_uvicorn_loggers_use_the_same_handlers() -> None:
    # As uvicorn's own dictConfig leaves them: private handlers, no propagation.
    private = logging.StreamHandler(io.StringIO())
    for name in UVICORN_LOGGERS:
        logging.getLogger(name).addHandler(private)
        logging.getLogger(name).propagate = False
        logging.getLogger(name).setLevel(logging.CRITICAL)

    stream = _configure(LOG_FORMAT="json")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/graphql", "1.1", 200
    )
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["logger"], r["message"]) for r in records] == [
        ("uvicorn.error", "Started server process"),
        ("uvicorn.access", '127.0.0.1:5000 - "POST /graphql HTTP/1.1" 200'),
    ]
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        assert uvicorn_logger.handlers == [] and uvicorn_logger.propagate


def test_reconfiguring_replaces_handlers() -> None:
    first = _configure()
    second = _configure()
    log.info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1
    assert len(_ours()) == 1


@pytest.mark.parametrize(
    "env",
    [
        {"LOG_LEVEL": "LOUD"},
        {"LOG_FORMAT": "xml"},
        {"LOG_CONSOLE": "maybe"},
        {"LOG_FILE_PATH": "x.log", "LOG_ROTATION": "sometimes"},
        {"LOG_FILE_PATH": "x.log", "LOG_ROTATION": "1 MB", "LOG_RETENTION": "forever"},
    ],
)
def test_invalid_settings_raise_before_changing_anything(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = logging.getLogger().handlers[:]
    with pytest.raises(ValueError):
        configure_logging(env, stream=io.StringIO())
    assert logging.getLogger().handlers == before
