"""Logging safety: no log record, from any library, may quote the request being served.

A LogRecord factory (not a filter: filters on a logger do not see records from its children) checks each
record created while a request is in flight. A record whose message or traceback shares 16 or more
characters with the request's content, or contains the caller's key, is replaced by a notice.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from aether_policy._context import caller_secrets, inflight_content

WINDOW = 16
REDACTED = "[redacted: this log record quoted request content]"
_installed: list[Callable[..., logging.LogRecord]] = []


def leaks(text: str, pieces: frozenset[str], secrets: tuple[str, ...] = ()) -> bool:
    """Whether `text` contains a caller secret or any 16-character piece of the request's content."""
    if any(secret and secret in text for secret in secrets):
        return True
    return bool(pieces) and any(text[i : i + WINDOW] in pieces for i in range(len(text) - WINDOW + 1))


def _redact(record: logging.LogRecord) -> logging.LogRecord:
    inflight, secrets = inflight_content.get(), caller_secrets.get()
    if inflight is None and not secrets:
        return record
    content = inflight.pieces(WINDOW) if inflight is not None else frozenset()
    try:
        message = record.getMessage()
    except Exception:
        message = str(record.msg)
    if leaks(message, content, secrets):
        record.msg, record.args = REDACTED, None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        if leaks(text, content, secrets):
            kind = type(record.exc_info[1]).__name__
            record.exc_info = None
            record.exc_text = f"{REDACTED} ({kind})"
    return record


def install_log_redaction() -> None:
    """Idempotent: wraps the current record factory once per process."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redact(previous(*args, **kwargs))

    _installed.append(previous)
    logging.setLogRecordFactory(factory)
