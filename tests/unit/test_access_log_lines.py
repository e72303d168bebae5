"""An access line reads the same whether Arbiter's own handler writes it straight
from the request's fields (``arbiter serve``) or any other handler is listening
(an error tracker, pytest's caplog) and the line goes through a log record: same
keys in the same order, same values, same redaction, in JSON and in text."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from gateway.access_log import AccessLogHook
from gateway.auth import Caller
from gateway.context import RequestContext
from gateway.logging_setup import BackgroundStreamHandler, JsonFormatter, TextFormatter
from providers.types import ChatRequest
from tests.conftest import ACCESS_LINE_FIELDS

SECRET = "sk-access-line-secret-77"
# Every JSON line starts with these; the access log's fields follow, "time" first in place.
ORDER = ["time", "level", "logger", "message", "pid", *ACCESS_LINE_FIELDS[1:]]


def served_request() -> RequestContext:
    """A finished request whose client sent a key as its request id."""
    chat = ChatRequest.model_validate(
        {"model": "demo", "messages": [{"role": "user", "content": "How far is the moon?"}]}
    )
    ctx = RequestContext(f"id-{SECRET}", Caller(name="team-a", models=None), chat)
    ctx.model, ctx.provider, ctx.upstream_model, ctx.attempts = "demo", "local", "mock-1", 1
    ctx.latency_s, ctx.cost_usd = 0.25, 0.000123
    ctx.usage = {"prompt_tokens": 14, "completion_tokens": 40, "total_tokens": 54}
    return ctx


class Listener(logging.Handler):
    """Another handler on the access logger: it must get every access record."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_logger() -> Iterator[logging.Logger]:
    """``arbiter.access`` with no handler above it, as after ``configure_logging``."""
    logger = logging.getLogger("arbiter.access")
    level, logger.propagate = logger.level, False
    logger.setLevel(logging.INFO)
    yield logger
    logger.handlers.clear()
    logger.setLevel(level)
    logger.propagate = True


def access_lines(logger: logging.Logger, formatter: logging.Formatter, *, listened: bool):
    """What the handler writes for one request; a second handler if ``listened``."""
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    handler.setFormatter(formatter)
    listener = Listener()
    logger.addHandler(handler)
    if listened:
        logger.addHandler(listener)
    AccessLogHook(secrets=[SECRET]).on_response(served_request())
    logger.removeHandler(listener)
    logger.removeHandler(handler)
    handler.close()
    return stream.getvalue().splitlines(), listener.records


@pytest.mark.parametrize("listened", [False, True])
def test_an_access_line_has_its_keys_in_order_and_no_secret(access_logger, listened):
    [text], _ = access_lines(access_logger, JsonFormatter(secrets=[SECRET]), listened=listened)
    line = json.loads(text)
    assert list(line) == ORDER
    assert (line["level"], line["logger"], line["message"]) == (
        "info",
        "arbiter.access",
        "demo ok 200",
    )
    assert line["request_id"] == "id-[redacted]"
    assert SECRET not in text


def test_a_json_access_line_is_the_same_with_another_handler_listening(access_logger):
    formatter = JsonFormatter(secrets=[SECRET])
    [alone], _ = access_lines(access_logger, formatter, listened=False)
    [listened], records = access_lines(access_logger, formatter, listened=True)
    # The request's arrival time is taken when its line is logged: it may differ.
    assert re.sub('"time":"[^"]*"', "", alone) == re.sub('"time":"[^"]*"', "", listened)
    [record] = records
    assert record.name == "arbiter.access" and record.levelno == logging.INFO


def test_a_text_access_line_is_the_same_with_another_handler_listening(access_logger):
    formatter = TextFormatter(secrets=[SECRET])
    [alone], _ = access_lines(access_logger, formatter, listened=False)
    [listened], _ = access_lines(access_logger, formatter, listened=True)

    def timeless(text: str) -> str:
        return re.sub(r"time=\S+ ", "", text.split(" ", 1)[1])

    assert timeless(alone) == timeless(listened)
    assert timeless(alone).startswith(
        "INFO    arbiter.access: demo ok 200 request_id=id-[redacted] "
    )
    assert SECRET not in alone
