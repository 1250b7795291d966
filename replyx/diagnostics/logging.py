"""Log configuration: one format for replyx and uvicorn, with every token redacted."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

_SECRETS = re.compile(
    r"(?i)\b((?:access_|site_|guest_)?token|password|api_key|secret)(=|%3D|\"?\s*:\s*\"?)([^&\s\"',;]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


# Every pattern above needs one of these words (or a JWT's "eyJ"): most lines, such as the
# per-delivery ones, have none and skip the three substitutions.
_HINTS = ("token", "password", "api_key", "secret", "bearer", "eyj")


def redact(text: str) -> str:
    """Replace token values in a log line with ``***``."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    text = _SECRETS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _BEARER.sub(r"\1 ***", text)
    return _JWT.sub("***", text)


class SecondCachingFormatter(logging.Formatter):
    """``formatTime`` as logging's default, with the date and time to the second made once a second.

    ``time.strftime`` is a third of the cost of a line, and a busy server logs a line per delivery.
    """

    _second: int | None = None
    _stamp = ""
    # logging.Formatter's own value, typed as a str: this formatter always formats milliseconds.
    default_msec_format: str = "%s,%03d"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The same text as ``logging.Formatter.formatTime``."""
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return self.default_msec_format % (self._stamp, record.msecs)


class RedactingFormatter(SecondCachingFormatter):
    """A text formatter whose output never contains a token."""

    def format(self, record: logging.LogRecord) -> str:
        """Format, then redact."""
        return redact(super().format(record))


class JsonFormatter(SecondCachingFormatter):
    """One JSON object per line, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """Redact the text, then format as JSON (redacting after would break the JSON quoting)."""
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def skip_unused_record_fields() -> None:
    """Make log records without what no replyx format prints: caller, thread and process.

    Finding the caller walks the stack on every line, and materializes a frame object that then
    lives as long as each open socket's coroutine; the thread and process names are looked up on
    every line too. The logging HOWTO lists these switches under "Optimization".
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def log_config(level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """A dictConfig for replyx and uvicorn loggers (uvicorn's access log included)."""
    formatter = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"()": RedactingFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            "replyx": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }
