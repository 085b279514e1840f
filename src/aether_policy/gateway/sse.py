"""A provider's server-sent events, parsed by httpx-sse.

httpx-sse follows the WHATWG event-stream rules: CR, LF and CRLF line endings, a CRLF split across two
network chunks, comments, multi-line data. (The parser it replaces merged two events when a CRLF was split
across chunks, and yielded nothing for a stream with CR-only line endings.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from httpx_sse import EventSource, SSEError

from aether_policy.gateway.outbound import Answer, UpstreamFailure

__all__ = ["SSEError", "events"]


MAX_EVENT_BYTES = 16 * 1024 * 1024
"""The most a provider may send between two events of a stream the gateway translates. The parser holds an
unfinished event (a line without its newline, data lines without the blank line that ends them) whole: without
a bound, a provider that never ends one would make the gateway hold everything it sends."""


_BLANK = (b"\n\n", b"\r\r", b"\n\r")
"""Two line endings in a row (CR LF is one ending): a blank line, which ends an event."""


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._since_event = 0  # bytes since the last blank line (which ends an event)
        self._last = b""  # the previous chunk's last byte

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._answer.aiter_bytes():
            # A blank line is a line ending right after another; any two ending characters in a row but CR LF
            # (one ending) are one. The pair may straddle two chunks (a provider flushing `data: ...\n`, then
            # `\n`): the previous chunk's last byte and this one's first are a pair too, ending at index 0.
            ended = max(chunk.rfind(pair) for pair in _BLANK)
            if ended >= 0:
                self._since_event = len(chunk) - ended - 2
            elif self._last + chunk[:1] in _BLANK:  # the pair's second byte is this chunk's first
                self._since_event = len(chunk) - 1
            else:
                self._since_event += len(chunk)
            self._last = chunk[-1:]
            if self._since_event > MAX_EVENT_BYTES:
                raise UpstreamFailure("broken", "EventTooLarge")  # the relay ends the caller's stream with an error
            yield chunk


async def events(answer: Answer) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) for each event with data; SSEError when the answer is not an event stream, and
    UpstreamFailure (`EventTooLarge`) when it sends more than MAX_EVENT_BYTES without completing an event."""
    # httpx-sse reads an httpx response: the answer's chunks (already decoded, each registered for log
    # redaction as it is read) are handed to it as one, with only the content type it checks (the answer's
    # `content-encoding` would have httpx decode them a second time; a header of odd bytes would not build).
    kind = answer.headers.get("content-type", "")
    response = httpx.Response(
        answer.status_code, headers={"content-type": kind if kind.isascii() else ""}, stream=_Chunks(answer)
    )
    # An event stream is always UTF-8 (the WHATWG rules ignore any charset): decoded as a declared
    # `charset=utf-16` instead, the blank lines `_Chunks` counts are no line endings to the parser, which would
    # hold the whole stream as one line, past the bound.
    response.encoding = "utf-8"
    async for event in EventSource(response).aiter_sse():
        if event.data:
            yield event.event, event.data
