"""Log level and format (``logging.level``, ``logging.format``: json | text), applied
by ``arbiter serve`` to Arbiter's loggers and uvicorn's alike.

``logging_config`` returns a ``logging.config.dictConfig`` dict; the CLI passes
it to uvicorn as ``log_config``, so every worker process applies the same one.

- json: one object per line, ``{"time", "level", "logger", "message", "pid", ...}``
  plus the record's structured fields (the access log's, see ``access_log.py``).
- text: ``time LEVEL logger: message`` plus the structured fields as ``key=value``.

Lines are formatted where they are logged and written to stderr by a background
thread, so the event loop never blocks on a slow terminal or pipe. Every
configured secret (master, virtual and provider keys) is replaced by
``[redacted]`` in every line, whatever logged it.
"""

from __future__ import annotations

import logging
import logging.config
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from gateway.config import LoggingSettings, Settings

__all__ = [
    "FIELDS_ATTR",
    "BackgroundStreamHandler",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "logging_config",
    "secret_values",
    "utc_iso",
]

# A record's structured fields: ``log.info(msg, extra={FIELDS_ATTR: {...}})``.
FIELDS_ATTR = "fields"
_REDACTED = "[redacted]"
# Chatty at debug/info and of no use to an operator; httpx's request lines would
# also print upstream URLs, which some providers authenticate with a query string.
_QUIET = ("httpx", "httpcore", "hpack", "asyncio", "multipart")
_MIN_SECRET = 4


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, to scrub from log lines."""
    values = []
    if settings.server.master_key:
        values.append(settings.server.master_key.get_secret_value())
    for provider in settings.providers.values():
        key = provider.resolved_key()
        if key:
            values.append(key.get_secret_value())
        for extra in (provider.aws_secret_access_key, provider.aws_session_token):
            if extra:
                values.append(extra.get_secret_value())
    values.extend(k.key.get_secret_value() for k in settings.keys if k.key)
    return sorted({v for v in values if len(v) >= _MIN_SECRET}, key=len, reverse=True)


_last_second: tuple[int, str] = (-1, "")


def utc_iso(created: float) -> str:
    """An epoch time as ISO 8601 UTC with milliseconds: 2025-06-01T12:00:00.123Z.
    The seconds part is formatted once per second (every access line needs it)."""
    global _last_second
    whole = int(created)
    if _last_second[0] != whole:
        _last_second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_last_second[1]}.{int(created % 1 * 1000):03d}Z"


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secrets = tuple(secrets)

    def redact(self, line: str) -> str:
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, _REDACTED)
        return line


class JsonFormatter(_Redacting):
    """One JSON object per line; structured fields are merged at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": utc_iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),  # not record.process: configure_logging turns that off
        }
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, Mapping):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        text = orjson.dumps(line, default=str).decode()
        return self.redact(text)


def _logfmt(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    if text == "" or any(c in text for c in ' ="'):
        return orjson.dumps(text).decode()
    return text


class TextFormatter(_Redacting):
    """``time LEVEL logger: message key=value ...``, for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = utc_iso(record.created)
        text = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, Mapping):
            pairs = " ".join(f"{k}={_logfmt(v)}" for k, v in fields.items() if v is not None)
            text = f"{text} {pairs}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return self.redact(text)


_GATHER_S = 0.02  # how long the writer lets lines gather before writing


class BackgroundStreamHandler(logging.Handler):
    """Formats on the caller's thread, writes to a stream (stderr) from a thread of
    its own, so the event loop never waits on a slow terminal or pipe.

    ``close`` (called by ``logging.shutdown`` at exit, and when logging is
    reconfigured) writes out whatever is still queued."""

    _END = None

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self._stream = stream or sys.stderr
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="arbiter-log", daemon=True)
        self._writer.start()
        self._closed = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.put(self.format(record))
        except Exception:  # noqa: BLE001 - logging's contract: a bad record is reported, not raised
            self.handleError(record)

    def _write(self) -> None:
        lines = self._lines
        while True:
            batch = [lines.get()]  # asleep until there is something to write...
            # ...then a pause, so a burst is one wake-up and one write, not one per
            # line: each wake-up of this thread takes the GIL from the event loop.
            time.sleep(_GATHER_S)
            while not lines.empty():
                batch.append(lines.get_nowait())
            ended = self._END in batch
            text = [line for line in batch if line is not self._END]
            if text:
                try:
                    self._stream.write("\n".join(text) + "\n")
                    self._stream.flush()
                except (OSError, ValueError):
                    pass  # the stream is gone (closed pipe): nothing left to tell
            if ended:
                return

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._lines.put(self._END)
            self._writer.join(timeout=10)
        super().close()


def logging_config(settings: LoggingSettings, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The dictConfig for Arbiter's and uvicorn's loggers."""
    level = settings.level.upper()
    formatter = JsonFormatter if settings.format == "json" else TextFormatter

    def passed_on() -> dict[str, Any]:
        return {"level": level, "handlers": [], "propagate": True}

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "arbiter": {
                "()": f"{formatter.__module__}.{formatter.__qualname__}",
                "secrets": list(secrets),
            }
        },
        "handlers": {
            "stderr": {
                "()": f"{__name__}.BackgroundStreamHandler",
                "formatter": "arbiter",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": passed_on(),
            "uvicorn.error": passed_on(),
            "uvicorn.access": passed_on(),
            **{name: {"level": "WARNING"} for name in _QUIET},
        },
    }


def configure_logging(settings: Settings) -> dict[str, Any]:
    """Applies the config's logging section in this process; returns the dict for
    uvicorn, which applies it again in every worker."""
    secrets = secret_values(settings)
    # Nothing Arbiter writes shows a record's thread or process names; not looking
    # them up makes every record (one access line per request) cheaper.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.config.dictConfig(logging_config(settings.logging, secrets))
    return logging_config(settings.logging, secrets)  # dictConfig consumes what it is given
