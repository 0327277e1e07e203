"""Logs: plain text for people, or one JSON object a line for log collectors, the run id on every line.

`TOKENBOOKS_LOG_FORMAT=json` (the container image's default) writes JSON lines through
python-json-logger: time (ISO 8601 in UTC, so a collector never guesses the zone), level, logger, message,
and the `run_id` and `entity` of the run the line belongs to (null outside a run). The run is known from a context variable that `RunRecorder` sets when
a run starts and clears when it finishes, so a log line written anywhere during the run — a ledger
adapter, the retry policy, a library — carries it; the scheduler's job threads each have their own.
Every line goes through the secret redaction first (`connector/redaction.py`).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from connector.redaction import RedactingFilter

CURRENT_RUN: ContextVar[tuple[str, str | None] | None] = ContextVar("tokenbooks_run", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(run_label)s]: %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message", "run_id", "entity"]
# Record attributes that are not fields of a JSON line: our text lines' label (run_id and entity say it),
# and uvicorn's copy of its message with terminal colour codes in it.
NOT_JSON_FIELDS = [*RESERVED_ATTRS, "run_label", "color_message"]


def start_run(run_id: str, entity: str | None) -> None:
    """From now on, this thread's log lines belong to `run_id`."""
    CURRENT_RUN.set((run_id, entity))


def end_run() -> None:
    CURRENT_RUN.set(None)


class RunContext(logging.Filter):
    """Adds `run_id` and `entity` to every record (None outside a run), and for text lines `run_label`:
    the run and its entity, since the runs of several entities interleave on one stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        run = CURRENT_RUN.get()
        record.run_id, record.entity = run if run else (None, None)
        record.run_label = "no run" if not run else f"run {run[0]} of {run[1]}" if run[1] else f"run {run[0]}"
        return True


def configure_logging(
    fmt: str = "text", level: str = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """One handler (on stderr) for the whole process, replacing any set before; returns it. Without a
    stream it writes to whatever `sys.stderr` is when a line is logged: a handler holding the stderr of
    the moment it was configured writes into a closed file once that is replaced (a command run in
    process, its output captured, then a thread's late line)."""
    handler: logging.StreamHandler = logging.StreamHandler(stream) if stream else _CurrentStderr()
    handler.addFilter(RunContext())
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(
            UtcJsonFormatter(
                JSON_FIELDS,
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                reserved_attrs=NOT_JSON_FIELDS,
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


class UtcJsonFormatter(JsonFormatter):
    """JSON lines whose `time` is ISO 8601 in UTC with its offset (`2026-12-07T02:30:00.125+00:00`): the
    text format's local time without a zone would be read in whatever zone the collector assumes."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever `sys.stderr` is when a line is logged (as Python's own last resort)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def redact_last_resort() -> None:
    """A command that configures no logging (import, pull, close …) still writes warnings and errors to
    stderr through Python's last-resort handler, which knows nothing of secrets: a run's failure reason
    quoting a provider's error went out as the provider wrote it. The last resort is now redacted."""
    handler = _CurrentStderr()
    handler.setLevel(logging.WARNING)
    handler.addFilter(RedactingFilter())
    logging.lastResort = handler
