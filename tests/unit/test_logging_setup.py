"""Log lines as an operator gets them: JSON or text, uvicorn's in the same shape,
written off the event loop, with no key value in any of them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import os
import sys
import threading
from typing import Any

import pytest

from gateway.config import LoggingSettings
from gateway.logging_setup import (
    FIELDS_ATTR,
    BackgroundStreamHandler,
    JsonFormatter,
    TextFormatter,
    logging_config,
    secret_values,
    utc_iso,
)
from tests.conftest import make_settings

SECRET = "sk-formatter-secret-42"


def record(message: str = "hello %s", *args: object, **fields: object) -> logging.LogRecord:
    entry = logging.LogRecord("arbiter.test", logging.WARNING, __file__, 1, message, args, None)
    if fields:
        setattr(entry, FIELDS_ATTR, fields)
    return entry


def test_json_lines_carry_time_level_logger_message_pid_and_fields():
    line = json.loads(JsonFormatter().format(record("hello %s", "world", model="demo", n=3)))
    assert line["message"] == "hello world"
    assert (line["level"], line["logger"]) == ("warning", "arbiter.test")
    assert line["time"].endswith("Z") and "T" in line["time"]
    assert isinstance(line["pid"], int)
    assert (line["model"], line["n"]) == ("demo", 3)


def test_times_are_utc_to_the_millisecond():
    assert utc_iso(0.5) == "1970-01-01T00:00:00.500Z"
    assert utc_iso(1748779200.25) == "2025-06-01T12:00:00.250Z"
    assert utc_iso(1748779201.0078125) == "2025-06-01T12:00:01.007Z"  # truncated


def test_json_lines_keep_a_traceback_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        entry = logging.LogRecord(
            "arbiter", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    text = JsonFormatter().format(entry)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]


def test_text_lines_are_for_people_with_fields_as_key_value():
    text = TextFormatter().format(record("served", model="demo", note="two words", none=None))
    assert " WARNING " in text and "arbiter.test: served" in text
    assert text.endswith('model=demo note="two words"')


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
def test_a_configured_secret_never_reaches_a_line(formatter):
    entry = record(f"upstream said: bad key {SECRET}", detail=f"Bearer {SECRET}")
    text = formatter(secrets=[SECRET]).format(entry)
    assert SECRET not in text
    assert text.count("[redacted]") == 2


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
def test_with_many_keys_configured_each_is_redacted_and_other_lines_are_untouched(formatter):
    keys = [f"sk-team-{n:02d}-{'x' * n}" for n in range(1, 40)]
    scrub = formatter(secrets=sorted(keys, key=len, reverse=True))
    for key in keys:
        text = scrub.format(record(f"bad key {key}", detail=f"Bearer {key}"))
        assert key not in text and text.count("[redacted]") == 2
    clean = scrub.format(record("nothing secret here", detail="sk-team-but-no-key"))
    assert "[redacted]" not in clean and "sk-team-but-no-key" in clean


def test_every_configured_secret_is_known_to_the_formatter():
    settings = make_settings(
        {
            "server": {"master_key": "sk-master-abc123"},
            "providers": {"up": {"type": "openai", "api_key": "sk-upstream-def456"}},
            "models": {"m": {"deployments": [{"provider": "up", "model": "x"}]}},
            "keys": [{"name": "team", "key": "sk-virtual-ghi789"}],
        }
    )
    assert set(secret_values(settings)) == {
        "sk-master-abc123",
        "sk-upstream-def456",
        "sk-virtual-ghi789",
    }


def test_the_config_shapes_uvicorn_logs_and_quiets_chatty_libraries():
    config = logging_config(LoggingSettings(level="debug", format="text"), [SECRET])
    assert config["root"]["level"] == "DEBUG"
    assert config["formatters"]["arbiter"]["()"].endswith("TextFormatter")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert config["loggers"][name]["propagate"] is True
        assert config["loggers"][name]["handlers"] == []
    assert config["loggers"]["httpx"] == {"level": "WARNING"}
    assert logging_config(LoggingSettings())["formatters"]["arbiter"]["()"].endswith(
        "JsonFormatter"
    )


def test_lines_are_written_by_a_background_thread_and_flushed_on_close():
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("arbiter.test.background")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for i in range(50):
            logger.warning("line %d", i, extra={FIELDS_ATTR: {"i": i}})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert [line["i"] for line in lines] == list(range(50))
    assert lines[0]["message"] == "line 0"


def logged_in_a_loop(logger: logging.Logger, count: int) -> None:
    """Logs ``count`` lines from a running event loop, the way the gateway does."""

    async def serve() -> None:
        for i in range(count):
            logger.warning("line %d", i, extra={FIELDS_ATTR: {"i": i}})

    asyncio.run(serve())


@pytest.fixture
def own_logger():
    """A logger whose only handler is Arbiter's, writing JSON lines to a stream;
    yields (logger, handler-for-a-stream)."""
    logger = logging.getLogger("arbiter.test.writer")
    logger.propagate = False
    handlers: list[BackgroundStreamHandler] = []

    def attach(stream: Any) -> BackgroundStreamHandler:
        handler = BackgroundStreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    yield logger, attach
    for handler in handlers:
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True


def test_lines_logged_on_a_loop_that_has_ended_are_written_on_close(own_logger):
    logger, attach = own_logger
    stream = io.StringIO()
    handler = attach(stream)
    logged_in_a_loop(logger, 30)  # the loop ends before its lines' batch is due
    logger.warning("after the loop")
    handler.close()
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [f"line {i}" for i in range(30)] + [
        "after the loop"
    ]


def test_lines_from_several_loops_and_threads_all_arrive(own_logger):
    logger, attach = own_logger
    stream = io.StringIO()
    handler = attach(stream)
    threads = [threading.Thread(target=logged_in_a_loop, args=(logger, 200)) for _ in range(3)]
    for thread in threads:
        thread.start()
    logged_in_a_loop(logger, 200)
    for thread in threads:
        thread.join()
    handler.close()
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert sorted(line["i"] for line in lines) == sorted(list(range(200)) * 4)


def test_a_full_stderr_pipe_never_stops_the_event_loop(own_logger):
    """Nobody reads the pipe until the loop has logged far more than it holds:
    the loop carries on, and every line arrives once the pipe is read."""
    logger, attach = own_logger
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    handler = attach(stream)
    count = 5000  # about 500 KB: several times what a pipe holds
    logged_in_a_loop(logger, count)  # returns although the writer is stuck on the pipe
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(read_all(read_end)))
    reader.start()
    handler.close()
    stream.close()
    reader.join()
    lines = [json.loads(text) for text in received.decode().splitlines()]
    assert [line["i"] for line in lines] == list(range(count))


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
