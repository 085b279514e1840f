"""A provider's `timeout` bounds each attempt's whole answer, not each read: a provider dripping its answer a
few bytes at a time cannot hold the caller past it. A stream's bound ends with its headers; from then on each
read has `timeout`, so a long stream whose events keep coming is relayed whole."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from aether_policy.gateway.config import ProviderConfig
from aether_policy.gateway.upstream import Upstream
from tests.gateway.conftest import PROVIDER_KEYS
from tests.gateway.raw_provider import answer, gateway_to, raw_provider, refusal
from tests.helpers import loopback_plan

TIMEOUT = 1.0
PAUSE = 0.4  # each piece well inside the timeout; all of them together well past it
COMPLETION = json.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bonjour"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()
EVENTS = [
    b"data: "
    + json.dumps(
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x", "choices": [c]}
    ).encode()
    + b"\n\n"
    for c in [
        {"index": 0, "delta": {"role": "assistant", "content": word}, "finish_reason": None}
        for word in ("Un ", "deux ", "trois ", "quatre ", "cinq")
    ]
] + [b"data: [DONE]\n\n"]


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROVIDER_KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UPSTREAM_TEST_KEY", "sk-provider")


def pieces(data: bytes, count: int) -> list[bytes]:
    size = -(-len(data) // count)
    return [data[at : at + size] for at in range(0, len(data), size)]


def post(base: str, key: str, stream: bool = False) -> tuple[httpx.Response, float]:
    body = {"model": "gpt-x", "messages": [{"role": "user", "content": "hello"}], "stream": stream}
    started = time.monotonic()
    response = httpx.post(
        f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body, timeout=15
    )
    return response, time.monotonic() - started


def test_an_answer_dripped_past_the_timeout_is_a_504_at_the_timeout(tmp_path: Path) -> None:
    dripped = pieces(answer(COMPLETION), 8)  # 8 pieces, 0.4 s apart: 2.8 s, each read inside the 1 s timeout
    with (
        raw_provider(lambda head, body: dripped, pause=PAUSE) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=TIMEOUT) as gateway,
    ):
        response, elapsed = post(gateway.base, gateway.key)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"
    assert elapsed < TIMEOUT + 1.0  # cut off at the deadline, not when the provider finished


def test_headers_dripped_past_the_timeout_are_a_504_for_a_stream_too(tmp_path: Path) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    dripped = [*pieces(head, 8), b"0\r\n\r\n"]
    with (
        raw_provider(lambda head, body: dripped, pause=PAUSE) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=TIMEOUT) as gateway,
    ):
        response, elapsed = post(gateway.base, gateway.key, stream=True)
    assert response.status_code == 504
    assert elapsed < TIMEOUT + 1.0


def test_a_stream_longer_than_the_timeout_is_relayed_whole_while_its_events_keep_coming(tmp_path: Path) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    chunked = [b"%x\r\n%s\r\n" % (len(event), event) for event in EVENTS]
    with (
        raw_provider(lambda _, body: [head, *chunked, b"0\r\n\r\n"], pause=PAUSE) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=TIMEOUT) as gateway,
    ):
        response, elapsed = post(gateway.base, gateway.key, stream=True)
    assert response.status_code == 200
    assert elapsed > 2 * TIMEOUT  # the whole stream took longer than the timeout, and was not cut
    spelled = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content", "")
        for line in response.text.splitlines()
        if line.startswith("data: {")
    )
    assert spelled == "Un deux trois quatre cinq"


def test_a_stream_that_falls_silent_after_its_headers_ends_with_an_error_event_at_the_timeout(
    tmp_path: Path,
) -> None:
    """After its headers a stream has no deadline, but each read still has the timeout: a provider that sends
    one event and then nothing does not hold the caller."""
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    first = b"%x\r\n%s\r\n" % (len(EVENTS[0]), EVENTS[0])
    with (
        raw_provider(lambda _, body: [head + first, b"0\r\n\r\n"], pause=4 * TIMEOUT) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=TIMEOUT) as gateway,
    ):
        response, elapsed = post(gateway.base, gateway.key, stream=True)
    assert response.status_code == 200
    assert "stream ended early" in response.text
    assert elapsed < 3 * TIMEOUT  # cut off by the read timeout, not when the provider ended


def test_no_more_connections_than_max_connections_are_opened_to_a_provider(tmp_path: Path) -> None:
    held = [*pieces(answer(COMPLETION), 2)]  # each answer holds its connection for one pause
    with (
        raw_provider(lambda head, body: held, pause=PAUSE) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=5, max_connections=2) as gateway,
        ThreadPoolExecutor(6) as callers,
    ):
        answers = list(callers.map(lambda _: post(gateway.base, gateway.key)[0], range(6)))
    assert [a.status_code for a in answers] == [200] * 6  # the others waited for a connection, and were answered
    assert provider.most_open == 2


def test_a_caller_who_stops_reading_a_stream_does_not_hold_the_providers_connection_forever(tmp_path: Path) -> None:
    """The provider has sent its whole answer at once; the caller reads none of it. Once the buffers between them
    are full, the relay waits on the caller's socket, the provider's answer sits unread, and its connection is
    never given back: with max_connections callers doing this (one key is enough), the provider is a 504 for
    everyone. A stalled provider is cut after `timeout`; a stalled caller is too."""
    event = EVENTS[1].replace(b'"deux ', b'"' + b"x" * 4000)  # about 4 KiB per event
    big = answer(event * (32 * 1024 * 1024 // len(event)), headers=b"content-type: text/event-stream\r\n")
    with (
        raw_provider(lambda head, body: big if json.loads(body)["stream"] else answer(COMPLETION)) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=TIMEOUT, max_connections=1) as gw,
    ):
        where = httpx.URL(gw.base)
        body = json.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}], "stream": True})
        idle = socket.create_connection((where.host, where.port))
        try:
            idle.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            idle.sendall(
                f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {gw.key}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n{body}".encode()
            )
            time.sleep(3 * TIMEOUT)  # reading nothing, well past the provider's timeout
            other, _ = post(gw.base, gw.key)
        finally:
            idle.close()
    assert other.status_code == 200, other.text


def stalled_error(status: str) -> list[bytes]:
    """An error answer whose headers come at once and whose body stops halfway (a proxy that stalls)."""
    whole = answer(b'{"error": {"type": "overloaded_error", "message": "busy"}}', status)
    return [whole[:-20], whole[-20:]]


@pytest.mark.parametrize(
    ("status", "expected", "provider_failed"),
    [("429 Too Many Requests", 429, True), ("503 Service Unavailable", 502, True), ("400 Bad Request", 400, False)],
)
def test_an_error_whose_body_stalls_is_still_answered_by_its_status(
    status: str, expected: int, provider_failed: bool
) -> None:
    # Its status is the answer; the body only names the error's type. Before the deadline, a body stalling past
    # the read timeout kept the status (a 429 stayed a 429, a 5xx could fall back); a 504 would do neither.
    with raw_provider(lambda head, body: stalled_error(status), pause=3 * TIMEOUT) as raw:
        provider = ProviderConfig(
            api="openai",
            base_url=f"http://127.0.0.1:{raw.port}/v1",
            api_key_env="UPSTREAM_TEST_KEY",
            models=("x",),
            timeout=TIMEOUT,
            retries=0,
        )
        upstream = Upstream("p", provider, loopback_plan().egress["openai"])
        started = time.monotonic()
        error = asyncio.run(refusal(upstream, {"model": "x"}, "chat/completions"))
        elapsed = time.monotonic() - started
    assert (error.status, error.provider_failed) == (expected, provider_failed)
    assert elapsed < TIMEOUT + 1.0  # still cut off at the deadline
