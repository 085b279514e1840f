"""A provider's server-sent events, parsed by httpx-sse.

httpx-sse follows the WHATWG event-stream rules: CR, LF and CRLF line endings, a CRLF split across two
network chunks, comments, multi-line data. (The parser it replaces merged two events when a CRLF was split
across chunks, and yielded nothing for a stream with CR-only line endings.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from httpx_sse import EventSource, SSEError

__all__ = ["SSEError", "events"]


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) for each event with data; SSEError when the response is not an event stream."""
    async for event in EventSource(response).aiter_sse():
        if event.data:
            yield event.event, event.data
