"""Server-sent events from a provider, as the network delivers them: split anywhere, any line ending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from aether_policy.gateway import sse


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def events_of(chunks: list[bytes], content_type: str = "text/event-stream") -> list[tuple[str, str]]:
    response = httpx.Response(200, headers={"content-type": content_type}, stream=Chunks(chunks))

    async def collect() -> list[tuple[str, str]]:
        return [event async for event in sse.events(response)]

    return asyncio.run(collect())


def test_a_crlf_split_across_two_chunks_still_ends_the_event() -> None:
    # The first chunk ends in "\r", the next begins with "\n": the old parser turned the pair into two line
    # breaks and merged the next event's lines into this one.
    chunks = [b"event: a\r\ndata: one\r\n\r", b"\nevent: b\r\ndata: two\r\n\r\n"]
    assert events_of(chunks) == [("a", "one"), ("b", "two")]


def test_cr_only_line_endings_yield_every_event() -> None:
    assert events_of([b"event: a\rdata: one\r\revent: b\rdata: two\r\r"]) == [("a", "one"), ("b", "two")]


def test_an_event_split_byte_by_byte_arrives_whole() -> None:
    raw = b'data: {"text": "Porto ao amanhecer"}\n\n'
    assert events_of([raw[i : i + 1] for i in range(len(raw))]) == [("message", '{"text": "Porto ao amanhecer"}')]


def test_a_multibyte_character_split_across_chunks_is_decoded_whole() -> None:
    raw = "data: café\n\n".encode()
    cut = raw.index(b"\xa9")  # between the two bytes of "é"
    assert events_of([raw[:cut], raw[cut:]]) == [("message", "café")]


def test_comments_and_multi_line_data_follow_the_event_stream_rules() -> None:
    assert events_of([b": keep-alive\n\ndata: a\ndata: b\n\n"]) == [("message", "a\nb")]


def test_a_response_that_is_not_an_event_stream_is_refused() -> None:
    with pytest.raises(sse.SSEError):
        events_of([b'{"choices": []}'], content_type="application/json")
