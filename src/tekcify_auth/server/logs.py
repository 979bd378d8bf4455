"""How the server's log records are written (``TEKCIFY_LOG_FORMAT``).

* ``text`` (the default, as before): the access log is one JSON line per request on
  standard output; every other record is ``time level logger: message`` on standard
  error, a traceback on the lines after it.
* ``json``: every record of the process (the access log, the server's own, uvicorn's
  start-up and error records, warnings, uncaught exceptions) is one JSON object on one
  line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id``
  when written during a request, ``exception`` (the traceback, as one string) when
  there is one, and the record's ``fields`` (the access log's method, path, status...).

The request id is kept in a context variable for the request's duration
(:data:`request_id`, set by ``middleware.py``), so any record written while serving it,
in the event loop or a worker thread, carries it.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Literal

__all__ = [
    "JsonFormatter", "capture_stray_output", "json_line", "log_config", "request_id",
]

LogFormat = Literal["json", "text"]

#: The id of the request being served, ``None`` outside a request.
request_id: ContextVar[str | None] = ContextVar("tekcify_request_id", default=None)

_JSON: Final = "tekcify_auth.server.logs.JsonFormatter"
_TEXT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ).replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": getattr(record, "summary", None) or _message(record),
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(str(key), value)
        return json.dumps(entry, separators=(",", ":"), default=str, ensure_ascii=True)


def _message(record: logging.LogRecord) -> str:
    # A record whose arguments do not fit its format would otherwise end in logging's
    # "--- Logging error ---" lines on stderr: the format alone, never the arguments.
    try:
        return record.getMessage()
    except Exception:
        return f"{record.msg} (its arguments did not fit the format)"


def json_line(logger: str, level: str, message: str) -> str:
    """``message`` as the JSON line of a record of ``logger`` at ``level`` (for what is
    written before logging is set up: ``serve`` refusing to start)."""
    record = logging.LogRecord(
        logger, logging.getLevelNamesMapping()[level], __file__, 0, message, (), None
    )
    return JsonFormatter().format(record)


def log_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``tekcify-auth serve`` (given to uvicorn).

    The access log goes to standard output, everything else to standard error; with
    ``json`` the root logger is written too (WARNING and up), so a library's record is
    a JSON line like the others rather than Python's bare last-resort line.
    """
    json_format = fmt == "json"
    access = {"class": _JSON} if json_format else {"format": "%(message)s"}
    default = {"class": _JSON} if json_format else {"format": _TEXT}
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"access": access, "default": default},
        "handlers": {
            "access": {
                "class": "logging.StreamHandler", "formatter": "access",
                "stream": "ext://sys.stdout",
            },
            "default": {
                "class": "logging.StreamHandler", "formatter": "default",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            # The access lines are INFO records: TEKCIFY_LOG_LEVEL=WARNING turns them off.
            "tekcify_auth.server.access": {
                "handlers": ["access"], "level": level, "propagate": False,
            },
            "tekcify_auth": {"handlers": ["default"], "level": level, "propagate": False},
            # The start-up banner (with TEKCIFY_LOG_FORMAT=json; printed otherwise).
            "tekcify_auth.cli": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
    if json_format:
        config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config


def capture_stray_output(fmt: LogFormat) -> None:
    """With ``json``: warnings and uncaught exceptions (of the main thread and of other
    threads) become log records, so nothing reaches standard error unformatted."""
    if fmt != "json":
        return
    logging.captureWarnings(True)
    logger = logging.getLogger("tekcify_auth.server")

    def uncaught(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        logger.critical("uncaught exception", exc_info=(kind, value, tb))

    def uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        logger.critical(
            "uncaught exception in thread %s",
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = uncaught
    threading.excepthook = uncaught_in_thread
