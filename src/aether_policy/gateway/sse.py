"""A provider's server-sent events, parsed by httpx-sse.

httpx-sse follows the WHATWG event-stream rules: CR, LF and CRLF line endings, a CRLF split across two
network chunks, comments, multi-line data. (The parser it replaces merged two events when a CRLF was split
across chunks, and yielded nothing for a stream with CR-only line endings.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from httpx_sse import EventSource, SSEError

from aether_policy.gateway.outbound import Answer

__all__ = ["SSEError", "events"]


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._answer.aiter_bytes():
            yield chunk


async def events(answer: Answer) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) for each event with data; SSEError when the answer is not an event stream."""
    # httpx-sse reads an httpx response: the answer's chunks (already decoded, each registered for log
    # redaction as it is read) are handed to it as one, with only the content type it checks (the answer's
    # `content-encoding` would have httpx decode them a second time; a header of odd bytes would not build).
    kind = answer.headers.get("content-type", "")
    response = httpx.Response(
        answer.status_code, headers={"content-type": kind if kind.isascii() else ""}, stream=_Chunks(answer)
    )
    async for event in EventSource(response).aiter_sse():
        if event.data:
            yield event.event, event.data
