"""Logging safety: no log record, from any library or thread, may quote a request being served.

A LogRecord factory (not a filter: filters on a logger do not see records from its children) checks each
record created while requests are in flight: its message, each of its arguments, its `extra=` attributes,
its traceback and stack. A record created in a request's context is checked against that request; one
created outside any (a thread the request started, a server callback) against every request in flight.
A record quoting 16 bytes of content (in any of the escaped forms `_unescape` undoes) or a caller's key
is redacted piece by piece, keeping its shape: the same number and kinds of arguments, so formatters that
read the arguments themselves (uvicorn's access log) still format it.
"""

from __future__ import annotations

import logging
import numbers
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aether_policy._content_index import WINDOW, ContentStream, RecordWindows
from aether_policy._context import requests_in_scope, secrets_in_scope
from aether_policy._unescape import canonical, record_views

REDACTED = "[redacted: this log record quoted request content]"
PLACEHOLDER = "[redacted]"
_SEGMENT = 64 * 1024
_installed: list[Callable[..., logging.LogRecord]] = []
_busy = threading.local()


class _RedactedStr(str):
    """Stands in for an argument that quoted content: prints the same with `%s` and `%r`."""

    def __repr__(self) -> str:
        return str(self)


class _RedactedInt(int):
    """Stands in for a numeric argument that quoted content: `%d` prints 0, `%s` prints the placeholder."""

    def __str__(self) -> str:
        return PLACEHOLDER

    __repr__ = __str__


class _RedactedFloat(float):
    def __str__(self) -> str:
        return PLACEHOLDER

    __repr__ = __str__


class _Checker:
    """Checks texts against the content and secrets in scope; each text's views are computed once."""

    def __init__(self, streams: list[ContentStream], secrets: tuple[str, ...]) -> None:
        self.streams = streams
        self.secrets = secrets

    def leaks(self, text: str) -> bool:
        if len(text) < 8:  # shorter than any secret or window
            return False
        for view in record_views(text):
            if any(secret in view for secret in self.secrets):
                return True
            data = canonical(view)
            if len(data) >= WINDOW and self.streams:
                # A long record (a logged body) is checked in overlapping segments: memory stays bounded and a
                # leak near its start is found without hashing the rest.
                for start in range(0, len(data) - WINDOW + 1, _SEGMENT):
                    windows = RecordWindows(data[start : start + _SEGMENT + WINDOW - 1])
                    if any(stream.shares(windows) for stream in self.streams):
                        return True
        return False


def leaks(text: str) -> bool:
    """Whether `text` quotes content or a caller secret of the requests in this code's scope."""
    checker = _checker()
    return checker is not None and checker.leaks(text)


def _checker() -> _Checker | None:
    requests = requests_in_scope()
    secrets = secrets_in_scope()
    streams = [stream for inflight in requests for stream in inflight.streams()]
    if not streams and not secrets:
        return None
    return _Checker(streams, secrets)


def _text_of(value: Any) -> str:
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:
        return ""


def _placeholder(value: Any) -> Any:
    """A stand-in of the same kind, so `%d`, `%f`, `%s` and `%r` all still format."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return _RedactedInt(0)
    if isinstance(value, numbers.Real):
        return _RedactedFloat(0.0)
    return _RedactedStr(PLACEHOLDER)


def _scrub(value: Any, checker: _Checker) -> Any:
    if value is None or isinstance(value, bool):
        return value
    return _placeholder(value) if checker.leaks(_text_of(value)) else value


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        return _text_of(record.msg)


def _redact(record: logging.LogRecord, checker: _Checker) -> None:
    if checker.leaks(_message(record)):
        _redact_message(record, checker)
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        if checker.leaks(text):
            kind = type(record.exc_info[1]).__name__
            record.exc_info = None
            record.exc_text = f"{REDACTED} ({kind})"
    if record.stack_info and checker.leaks(record.stack_info):
        record.stack_info = REDACTED


def _redact_message(record: logging.LogRecord, checker: _Checker) -> None:
    """The formatted message quotes content (a clean message means clean arguments, which it prints): replace
    the arguments that do, so the rest of the record stays readable."""
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_scrub(arg, checker) for arg in args)
    elif isinstance(args, Mapping):
        record.args = {key: _scrub(value, checker) for key, value in args.items()}
    if checker.leaks(_message(record)):
        # The template itself, or arguments only together, quote content: replace the template by one that
        # still consumes the arguments (`%.0s` prints nothing), and every argument by a placeholder.
        if isinstance(record.args, tuple):
            record.args = tuple(_placeholder(arg) for arg in record.args)
            record.msg = REDACTED + "%.0s" * len(record.args)
        else:
            if isinstance(record.args, Mapping):
                record.args = {key: _placeholder(value) for key, value in record.args.items()}
            record.msg = REDACTED


def _redact_extra(record: logging.LogRecord, keys: Iterable[str], checker: _Checker) -> None:
    """`extra=` attributes arrive after the record factory ran: Logger.makeRecord adds them."""
    for key in keys:
        value = record.__dict__.get(key)
        if key == "color_message":
            # uvicorn's coloured variant of the template: it must not bring back what the template lost.
            if isinstance(record.msg, str) and record.msg.startswith(REDACTED):
                record.__dict__[key] = record.msg
            elif isinstance(value, str) and checker.leaks(value):
                del record.__dict__[key]
        elif value is not None and checker.leaks(_text_of(value)):
            record.__dict__[key] = _placeholder(value)


def _guarded(work: Callable[[_Checker], None]) -> None:
    if getattr(_busy, "active", False):  # a record made while checking another: our own code, no content
        return
    _busy.active = True
    try:
        checker = _checker()
        if checker is not None:
            work(checker)
    finally:
        _busy.active = False


def install_log_redaction() -> None:
    """Idempotent: wraps the current record factory, and Logger.makeRecord for `extra=`, once per process."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _guarded(lambda checker: _redact(record, checker))
        return record

    make_record = logging.Logger.makeRecord

    def make_record_checking_extra(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(self, *args, **kwargs)
        extra = args[8] if len(args) > 8 else kwargs.get("extra")
        if extra:
            keys = list(extra)
            _guarded(lambda checker: _redact_extra(record, keys, checker))
        return record

    _installed.append(previous)
    logging.setLogRecordFactory(factory)
    logging.Logger.makeRecord = make_record_checking_extra  # type: ignore[method-assign]
