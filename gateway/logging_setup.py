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

import asyncio
import logging
import logging.config
import os
import queue
import re
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
    "sole_handler",
    "utc_iso",
]

# A record's structured fields: ``log.info(msg, extra={FIELDS_ATTR: {...}})``.
FIELDS_ATTR = "fields"
_REDACTED = "[redacted]"
# Chatty at debug/info and of no use to an operator; httpx's request lines would
# also print upstream URLs, which some providers authenticate with a query string.
_QUIET = ("httpx", "httpcore", "hpack", "asyncio", "multipart")
_MIN_SECRET = 4
_FEW_SECRETS = 3  # up to this many, an ``in`` check per secret is the cheaper scan
# Every JSON line carries the pid; os.getpid() is a system call each time.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


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
# ".000Z" to ".999Z": a lookup costs a quarter of formatting the number (about
# 50 KB once per process; every access line needs one).
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def utc_iso(created: float) -> str:
    """An epoch time as ISO 8601 UTC with milliseconds: 2025-06-01T12:00:00.123Z.
    The seconds part is formatted once per second (every access line needs it)."""
    global _last_second
    whole = int(created)
    if _last_second[0] != whole:
        _last_second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return _last_second[1] + _MILLIS[int(created % 1 * 1000)]


class _Redacting(logging.Formatter):
    """Arbiter's formatters: a record's line is ``line(...)`` of its parts, which the
    access log also calls directly (``BackgroundStreamHandler.write_fields``), so a
    line formatted either way is the same text."""

    def __init__(self, secrets: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secrets = tuple(secrets)
        # One scan of the line for any secret costs about as much as two ``in``
        # checks, however many secrets there are: with many keys, lines without a
        # secret (nearly all) are let through after that one scan.
        self._finds_secret = (
            re.compile("|".join(map(re.escape, self.secrets))).search
            if len(self.secrets) > _FEW_SECRETS
            else None
        )

    def redact(self, line: str) -> str:
        if self._finds_secret is not None and self._finds_secret(line) is None:
            return line
        for secret in self.secrets:  # longest first: what a line shows does not change
            if secret in line:
                line = line.replace(secret, _REDACTED)
        return line

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, FIELDS_ATTR, None)
        return self.line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            fields if isinstance(fields, Mapping) else None,
            self.formatException(record.exc_info) if record.exc_info else None,
        )

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: Mapping[str, Any] | None,
        exception: str | None = None,
    ) -> str:
        """One redacted line from a record's parts (``level`` as in ``INFO``)."""
        raise NotImplementedError


class JsonFormatter(_Redacting):
    """One JSON object per line; structured fields are merged at the top level."""

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: Mapping[str, Any] | None,
        exception: str | None = None,
    ) -> str:
        line: dict[str, Any] = {
            # A field named time (the access log's) takes this place and value.
            "time": None if fields and "time" in fields else utc_iso(created),
            "level": level.lower(),
            "logger": logger,
            "message": message,
            "pid": _pid,  # not record.process: configure_logging turns that off
        }
        if fields:
            line.update(fields)
        if exception is not None:
            line["exception"] = exception
        return self.redact(orjson.dumps(line, default=str).decode())


def _logfmt(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    if text == "" or " " in text or "=" in text or '"' in text:
        return orjson.dumps(text).decode()
    return text


class TextFormatter(_Redacting):
    """``time LEVEL logger: message key=value ...``, for people reading a terminal."""

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: Mapping[str, Any] | None,
        exception: str | None = None,
    ) -> str:
        text = f"{utc_iso(created)} {level:<7} {logger}: {message}"
        if fields is not None:
            pairs = " ".join(f"{k}={_logfmt(v)}" for k, v in fields.items() if v is not None)
            text = f"{text} {pairs}"
        if exception is not None:
            text = f"{text}\n{exception}"
        return self.redact(text)


_GATHER_S = 0.02  # how long lines gather before they are written
_Loop = asyncio.AbstractEventLoop


class BackgroundStreamHandler(logging.Handler):
    """Formats on the caller's thread, writes to a stream (stderr) from a thread of
    its own, so the event loop never waits on a slow terminal or a full pipe.

    A line logged on a running event loop is appended to that loop's batch; the
    first line of a batch arms a timer, and the timer hands the whole batch to the
    writer thread as one string. Handing over each line instead woke the writer
    (and made it take the GIL) per line, which cost the loop more than formatting
    the line. Lines logged off any loop (startup, other threads) go to the writer
    one by one, which lets a burst of them gather before writing.

    Stderr is never made non-blocking: it is shared with the parent process (a
    terminal, a supervisor's pipe) and uvicorn's other workers, which would then
    get EAGAIN on their own writes.

    ``close`` (called by ``logging.shutdown`` at exit, and when logging is
    reconfigured) writes out every batch and queued line."""

    _END = None

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self._stream = stream or sys.stderr
        self._texts: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        # Each running loop's batch; only that loop's thread appends to it. Adding
        # and removing loops, and flushing, happen under _batches_lock.
        self._batches: dict[_Loop, list[str]] = {}
        self._batches_lock = threading.Lock()
        self._closed = False
        self._writer = threading.Thread(target=self._write, name="arbiter-log", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_line(self.format(record))
        except Exception:  # noqa: BLE001 - logging's contract: a bad record is reported, not raised
            self.handleError(record)

    def write_fields(self, logger: str, message: str, fields: Mapping[str, Any]) -> bool:
        """Writes an INFO line as this handler would format a record with these
        parts; False (nothing written) if its formatter or filters are not
        Arbiter's own plain ones, and the caller should log a record instead."""
        formatter = self.formatter
        if type(formatter) not in _OWN_FORMATTERS or self.filters or self.level > logging.INFO:
            return False
        assert isinstance(formatter, _Redacting)
        try:
            line = formatter.line(time.time(), "INFO", logger, message, fields)
        except Exception:  # noqa: BLE001 - the record path reports it (handleError)
            return False
        self.write_line(line)
        return True

    def write_line(self, line: str) -> None:
        """Queues a formatted line (without its newline) for the writer thread."""
        loop = asyncio._get_running_loop()
        if loop is not None:
            batch = self._batches.get(loop)
            if batch is not None:
                batch.append(line)
                if len(batch) == 1:
                    loop.call_later(_GATHER_S, self._flush, loop)
                return
        self._first_on(loop, line)

    def _first_on(self, loop: _Loop | None, line: str) -> None:
        """A line from a loop without a batch yet, or from no loop at all."""
        with self._batches_lock:
            # Batches of loops that stopped before their timer fired, written now,
            # and forgotten, so a closed loop is not kept alive.
            for stopped in [other for other in self._batches if not other.is_running()]:
                self._hand_over(self._batches.pop(stopped))
            if loop is None or self._closed:
                self._texts.put(line)
                return
            self._batches[loop] = [line]
        loop.call_later(_GATHER_S, self._flush, loop)

    def _flush(self, loop: _Loop) -> None:
        """The batch timer, on the loop's own thread."""
        with self._batches_lock:
            batch = self._batches.get(loop)
            if batch:
                self._hand_over(batch)

    def _hand_over(self, batch: list[str]) -> None:
        if batch:
            self._texts.put("\n".join(batch))
            batch.clear()

    def _write(self) -> None:
        texts = self._texts
        while True:
            gathered = [texts.get()]  # asleep until there is something to write...
            # ...then a pause, so a burst of single lines is one wake-up and one
            # write: each wake-up of this thread takes the GIL from the event loop.
            time.sleep(_GATHER_S)
            while not texts.empty():
                gathered.append(texts.get_nowait())
            ended = self._END in gathered
            text = [line for line in gathered if line is not self._END]
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
            with self._batches_lock:
                self._closed = True
                for batch in self._batches.values():
                    self._hand_over(batch)
                self._batches.clear()
            self._texts.put(self._END)
            self._writer.join(timeout=10)
        super().close()


_OWN_FORMATTERS = (JsonFormatter, TextFormatter)


def sole_handler(logger: logging.Logger) -> BackgroundStreamHandler | None:
    """The handler that alone sees an INFO record of ``logger``, if it is Arbiter's
    own and the logger filters nothing: the access log then hands it the line's
    parts, without a ``LogRecord``. Checked per line, because a handler added later
    (pytest's caplog, an error tracker) must see every record."""
    if logger.filters or logger.disabled:
        return None
    found = None
    node: logging.Logger | None = logger
    while node is not None:
        handlers = node.handlers
        if handlers:
            if found is not None or len(handlers) != 1:
                return None
            found = handlers[0]
        node = node.parent if node.propagate else None
    return found if isinstance(found, BackgroundStreamHandler) else None


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
