"""Per-request state that must follow the request through any library: the caller's secrets and content.

Context variables rather than arguments, because the code that must consult them (an httpx transport,
a logging record factory) is called by libraries that know nothing of the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any


class Inflight:
    """The content of the request being served, and as much of its response as has been captured.

    Decoding is lazy: most requests are never logged about and never flagged, so they never pay for it.
    """

    __slots__ = ("_pieces", "_pieces_at", "_strings", "body", "response")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.response = bytearray()
        self._strings: tuple[str, ...] | None = None
        self._pieces: frozenset[str] = frozenset()
        self._pieces_at = -1

    def strings(self) -> tuple[str, ...]:
        """The raw body as text, and each string inside it when it is JSON (escapes decoded)."""
        if self._strings is None:
            text = self.body.decode("utf-8", errors="replace")
            found: list[str] = [text] if text else []
            try:
                found += [s for s in _json_strings(json.loads(text)) if s]
            except (ValueError, RecursionError):  # nested too deep to walk: the raw text still counts
                pass
            self._strings = tuple(found)
        return self._strings

    def readable(self) -> str:
        """What detectors read: the raw text when it has no escapes, else the decoded strings too."""
        text = self.body.decode("utf-8", errors="replace")
        if "\\" not in text:
            return text
        return "\n".join(self.strings())

    def texts(self) -> tuple[str, ...]:
        if not self.response:
            return self.strings()
        return (*self.strings(), *_decoded(self.response.decode("utf-8", errors="replace")))

    def pieces(self, window: int) -> frozenset[str]:
        """Every `window`-character piece of the content, computed when first needed and kept with this request
        only (never in a process-wide cache, which would hold prompts after their request)."""
        if self._pieces_at != len(self.response):
            found: set[str] = set()
            for text in self.texts():
                found.update(text[i : i + window] for i in range(len(text) - window + 1))
            self._pieces, self._pieces_at = frozenset(found), len(self.response)
        return self._pieces


def _decoded(text: str) -> list[str]:
    """A response as text, and the strings inside it: one JSON document, or SSE `data:` events."""
    found = [text]
    try:
        found += [s for s in _json_strings(json.loads(text)) if s]
        return found
    except (ValueError, RecursionError):
        pass
    streamed: list[str] = []  # the text a stream spells out across its events, as one string
    for line in text.splitlines():
        if line.startswith("data:"):
            try:
                event = json.loads(line[5:])
                found += [s for s in _json_strings(event) if s]
                streamed += _streamed_text(event)
            except (ValueError, RecursionError):
                continue
    if streamed:
        found.append("".join(streamed))
    return found


_STREAMED_KEYS = frozenset({"content", "text", "partial_json", "arguments"})


def _streamed_text(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _STREAMED_KEYS and isinstance(item, str):
                yield item
            else:
                yield from _streamed_text(item)
    elif isinstance(value, list):
        for item in value:
            yield from _streamed_text(item)


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


caller_secrets: ContextVar[tuple[str, ...]] = ContextVar("aether_caller_secrets", default=())
"""The caller's gateway credentials: they must never leave for an upstream or reach a sink."""

inflight_content: ContextVar[Inflight | None] = ContextVar("aether_inflight_content", default=None)
"""The request's content while it is being served: log records that quote it are redacted."""
