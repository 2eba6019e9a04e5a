"""Structured logs: one JSON object per line on stderr, whoever writes them (our code,
uvicorn, alembic, Python warnings from numpy or any library, uncaught exceptions in any
thread)."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

ACCESS_LOGGER = "stepsize_server.access"


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...fields}`; `extra={"fields": {...}}` adds
    keys, and a traceback goes under "exc"."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send every log record (ours, uvicorn's, alembic's) to stderr as JSON lines, and
    everything else that would write to stderr through them too: Python warnings (a
    numpy RuntimeWarning, a library's DeprecationWarning) and uncaught exceptions, in the
    main thread or any other."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our access log replaces uvicorn's.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # warnings.showwarning would print "file:line: Warning: ..." lines; as log records
    # (logger "py.warnings", level WARNING) they are JSON like the rest.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """sys.excepthook: an uncaught exception as one JSON record (the traceback in "exc")."""
    logging.getLogger("stepsize_server.uncaught").critical(
        "uncaught exception", exc_info=(kind, exc, tb)
    )


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: an exception that ended a thread, as one JSON record."""
    if args.exc_value is None:
        return
    logging.getLogger("stepsize_server.uncaught").error(
        "uncaught exception in a thread",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        extra={"fields": {"thread": args.thread.name if args.thread else None}},
    )
