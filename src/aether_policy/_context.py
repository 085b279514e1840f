"""Per-request state that must follow the request through any library: the caller's secrets and content.

Context variables rather than arguments, because the code that must consult them (an httpx transport,
a logging record factory) is called by libraries that know nothing of the request. A thread the request
starts does not inherit context variables, so every request in flight is also registered (`enter`):
code that runs outside any request's context (a worker thread, a callback of the server) is checked
against all of them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from aether_policy._content_index import THREAD_ABOVE, ContentSource, ContentStream


class Inflight:
    """The content of the request being served, and as much of its response as has been captured.

    `body` and `response` (capped) are what the flagger and the gate read after the app returns. For log
    redaction the content is *exposed* as code gets to see it: the body when it is delivered to the app (an
    app that refuses a request unread, e.g. for a missing key, costs nothing to redact), the upstream's
    response as the egress transport reads it, the app's response before it is sent.
    """

    __slots__ = ("_exposed", "_held", "_lock", "_relayable", "_strings", "body", "response", "secrets")

    def __init__(self, body: bytes, secrets: tuple[str, ...] = ()) -> None:
        self.body = body
        self.response = bytearray()
        self.secrets = secrets
        self._strings: tuple[str, ...] | None = None
        self._exposed: dict[str, ContentSource] = {}
        self._relayable: bytes | None = None  # the provider's whole answer, as it was registered
        self._held: bytes | None = None  # that answer, sent as the response and so far not registered again
        self._lock = threading.Lock()

    # -- for the flagger ----------------------------------------------------------------------------------------

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

    # -- for log redaction --------------------------------------------------------------------------------------

    def streams(self) -> list[ContentStream]:
        with self._lock:
            sources = list(self._exposed.values())
        return [stream for source in sources for stream in source.streams()]

    def _source(self, name: str) -> tuple[ContentSource, bool]:
        with self._lock:
            created = name not in self._exposed
            if created:
                self._exposed[name] = ContentSource()
            return self._exposed[name], created

    def expose_body_now(self) -> None:
        """Register the request body for redaction, indexing it on this thread."""
        source, created = self._source("request")
        if created:
            source.feed_document(self.body)

    async def expose_body(self) -> None:
        """Register the request body; a large one is decoded and indexed in a worker thread (the GIL is
        released while numpy sorts), so the event loop keeps serving other requests."""
        if len(self.body) > THREAD_ABOVE:
            await asyncio.to_thread(self.expose_body_now)
        else:
            self.expose_body_now()

    def expose_now(self, name: str, chunk: bytes) -> ContentSource | None:
        """Register the next chunk of a streamed text (`response`, `upstream`) for redaction."""
        if not chunk:
            return None
        source, _ = self._source(name)
        source.feed(chunk)
        return source

    async def expose(self, name: str, chunk: bytes, *, whole: bool = False) -> None:
        """Register the next chunk of `name`; `whole` says an upstream chunk is the provider's whole answer.

        A response that is exactly that answer (the same bytes object, sent as the first chunk) is not
        registered a second time: the upstream registration already holds those bytes in that order. Only the
        whole answer is spared, never a streamed chunk: a response stream that mostly mirrors the provider's
        (one chunk rewritten) would leave gaps in the response's own text, and a record quoting across one
        would be missed. If anything follows the spared answer, it is registered after all, before what follows.
        Only an answer that is the upstream's first text is spared: it is then read from the same fresh state as
        the response would be. After other upstream text (a failed provider's error body) it is read on from
        that text's state: an escape cut at its end takes the answer's first bytes, and whether it was an event
        stream decides whether the answer's events are spelled out.
        """
        if name == "upstream":
            self._relayable = chunk if whole and chunk and "upstream" not in self._exposed else None
        elif name == "response" and chunk:
            if chunk is self._relayable and "response" not in self._exposed and self._held is None:
                self._held = chunk
                return
            if self._held is not None:
                held, self._held = self._held, None
                await self._register("response", held)
        await self._register(name, chunk, whole=whole)

    async def _register(self, name: str, chunk: bytes, *, whole: bool = False) -> None:
        source = self.expose_now(name, chunk)
        if source is not None and whole:
            source.finish()  # nothing follows a whole answer: its held-back tail is registered now
        if source is not None and source.pending() > THREAD_ABOVE:
            await asyncio.to_thread(source.index_pending)

    def finish(self, name: str) -> None:
        """`name`'s text has ended (a stream's last chunk was registered): register what it held back."""
        with self._lock:
            source = self._exposed.get(name)
        if source is not None:
            source.finish()


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

_active: set[Inflight] = set()
_active_lock = threading.Lock()


def enter(inflight: Inflight) -> None:
    """Mark a request in flight, for code that runs outside any request's context (e.g. a worker thread)."""
    with _active_lock:
        _active.add(inflight)


def leave(inflight: Inflight) -> None:
    with _active_lock:
        _active.discard(inflight)


def _in_flight() -> list[Inflight]:
    with _active_lock:
        return list(_active)


def requests_in_scope() -> list[Inflight]:
    """The request whose context this is; outside any request, every request in flight."""
    current = inflight_content.get()
    return [current] if current is not None else _in_flight()


def secrets_in_scope() -> tuple[str, ...]:
    """The caller secrets this code must not let out: its own request's, or every request's outside one."""
    if inflight_content.get() is not None or caller_secrets.get():
        return caller_secrets.get()
    return tuple(secret for inflight in _in_flight() for secret in inflight.secrets)
