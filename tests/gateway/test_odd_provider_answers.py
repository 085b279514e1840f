"""Providers answering what no SDK stand-in would: empty or oddly framed answers, stray answers on a pooled
connection, stalls mid-body, odd Retry-After values, and retry waits across a fallback chain."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import PROVIDER_KEYS
from tests.gateway.raw_provider import answer, gateway_to, raw_provider

OK = (
    b'{"id":"x","object":"chat.completion","created":1,"model":"gpt-x","choices":[{"index":0,"message":'
    b'{"role":"assistant","content":"%s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,'
    b'"completion_tokens":1,"total_tokens":2}}'
)
CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROVIDER_KEYS.items():
        monkeypatch.setenv(name, value)


def post(base: str, key: str, body: dict[str, object] | None = None) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    reply = httpx.post(
        f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body or CHAT, timeout=30
    )
    return reply, time.monotonic() - started


def content(reply: httpx.Response) -> str:
    return reply.json()["choices"][0]["message"]["content"]


def test_content_encoding_identity_is_relayed(tmp_path: Path) -> None:
    raw = answer(OK % b"hi", headers=b"content-type: application/json\r\ncontent-encoding: identity\r\n")
    with (
        raw_provider(lambda head, body: raw) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path) as gateway,
    ):
        reply, _ = post(gateway.base, gateway.key)
    assert reply.status_code == 200, reply.text
    assert content(reply) == "hi"


def test_a_stray_answer_left_on_a_pooled_connection_never_answers_the_next_caller(tmp_path: Path) -> None:
    """A provider writes a whole second response after the first's declared length: the next requests over the
    same pooled connection must each get their own answer, never the stray one."""
    pause = 0.3  # the stray lands after the first answer was read and its connection pooled
    calls: list[int] = []

    def respond(head: bytes, body: bytes) -> list[bytes]:
        calls.append(1)
        if len(calls) == 1:
            return [answer(OK % b"first"), answer(OK % b"STRAY")]
        return [answer(OK % b"call %d" % len(calls))]

    with (
        raw_provider(respond, pause=pause) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path) as gateway,
    ):
        first, _ = post(gateway.base, gateway.key)
        time.sleep(pause + 0.3)
        later = [post(gateway.base, gateway.key)[0] for _ in range(2)]
    assert first.status_code == 200 and content(first) == "first"
    got = [content(reply) if reply.status_code == 200 else reply.status_code for reply in later]
    assert "STRAY" not in got and all(g == 502 or g.startswith("call") for g in got), got


def test_an_answer_stalling_mid_body_is_a_504_at_the_deadline(tmp_path: Path) -> None:
    whole = answer(OK % b"hi")
    cut = len(whole) - 20
    with (
        raw_provider(lambda head, body: [whole[:cut], whole[cut:]], pause=6) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=1.0) as gateway,
    ):
        reply, elapsed = post(gateway.base, gateway.key)
    assert reply.status_code == 504, reply.text
    assert elapsed < 2.0


@pytest.mark.parametrize("retries", [0, 2])
def test_a_5xx_whose_body_stalls_is_answered_by_its_status_at_the_deadline(tmp_path: Path, retries: int) -> None:
    error = answer(b'{"error":{"type":"server_error","message":"x"}}', status="503 Service Unavailable")
    cut = len(error) - 10
    with (
        raw_provider(lambda head, body: [error[:cut], error[cut:]], pause=6) as provider,
        gateway_to(
            f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=1.0, retries=retries, max_retry_wait=5
        ) as gateway,
    ):
        reply, elapsed = post(gateway.base, gateway.key)
        sent = len(provider.requests)
    assert reply.status_code == 502, reply.text
    assert sent == retries + 1
    assert elapsed < 1.0 + 0.1 + 0.2 + 1.0  # the last attempt's deadline, the backoff, slack


ODD_WAITS = [
    *(
        b"retry-after-ms: " + v
        for v in (b"nan", b"-5000", b"1e308", b"inf", b"-inf", b"1e400", b"0x10", b"", b"   ", b"400, 400")
    ),
    *(b"retry-after: " + v for v in (b"9" * 26, b"Wed, 21 Oct 2099 07:28:00 GMT", b"-1", b"1.5")),
]


@pytest.mark.parametrize("asks", ODD_WAITS)
def test_a_429s_odd_wait_never_holds_the_caller_past_max_retry_wait(tmp_path: Path, asks: bytes) -> None:
    busy = answer(
        b'{"error":{"type":"busy"}}',
        status="429 Too Many Requests",
        headers=b"content-type: application/json\r\n" + asks + b"\r\n",
    )
    with (
        raw_provider(lambda head, body: busy) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, retries=3, max_retry_wait=1.0) as gateway,
    ):
        reply, elapsed = post(gateway.base, gateway.key)
        sent = len(provider.requests)
    assert reply.status_code == 429, reply.text
    assert 1 <= sent <= 4
    assert elapsed < 1.0 + 1.0


def test_each_provider_of_a_fallback_chain_waits_within_its_own_max_retry_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both providers always 429 asking for 0.4 s; each has max_retry_wait 1.0 and 10 retries: each waits 0.8 s
    in all (two retries), then the caller gets the last one's answer. A provider's budget is its own (each may
    set another), so a chain of n providers waits at most the sum of theirs."""
    from aether_policy.gateway import GatewayConfig, create_app
    from tests.gateway.conftest import store_with_key
    from tests.gateway.test_fallback import fallback_plan, provider
    from tests.helpers import gate_for, serve

    busy = answer(
        b'{"error":{"type":"busy"}}',
        status="429 Too Many Requests",
        headers=b"content-type: application/json\r\nretry-after-ms: 400\r\n",
    )
    with (
        raw_provider(lambda head, body: busy) as first,
        raw_provider(lambda head, body: busy) as backup,
    ):
        extra = {"retries": 10, "max_retry_wait": 1.0}
        config = GatewayConfig(
            providers={
                "openai": provider("openai", f"http://127.0.0.1:{first.port}", ("gpt-*",), "backup", **extra),
                "backup": provider("openai", f"http://127.0.0.1:{backup.port}", ("gpt-*",), **extra),
            }
        )
        store, key = store_with_key(f"sqlite:///{tmp_path / 'aether.db'}")
        plan = fallback_plan()
        try:
            with serve(create_app(plan, store, config, gate_for(plan))) as base:
                reply, elapsed = post(base, key)
        finally:
            store.close()
        sent = (len(first.requests), len(backup.requests))
    assert reply.status_code == 429, reply.text
    assert sent == (3, 3)
    assert 1.6 <= elapsed < 2 * 1.0 + 0.5, f"waited {elapsed:.2f}s over {sent} sends"


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\ncontent-length: 500\r\n\r\n"
        + OK % b"hi",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: +5\r\n\r\n" + OK % b"hi",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: -1\r\n\r\n" + OK % b"hi",
    ],
    ids=["200-length-0", "204", "204-length-0", "two-lengths", "plus-length", "negative-length"],
)
def test_an_empty_or_malformed_length_answer_is_a_502_not_a_500(tmp_path: Path, raw: bytes) -> None:
    with (
        raw_provider(lambda head, body: raw) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, timeout=1.0) as gateway,
    ):
        reply, elapsed = post(gateway.base, gateway.key)
    assert reply.status_code == 502, reply.text
    assert elapsed < 2.0


def test_stray_junk_after_an_answer_does_not_fail_the_next_callers_request(tmp_path: Path) -> None:
    calls: list[int] = []

    def respond(head: bytes, body: bytes) -> list[bytes]:
        calls.append(1)
        if len(calls) == 1:
            return [answer(OK % b"first"), b"junk junk junk\r\n\r\n"]
        return [answer(OK % b"second")]

    with (
        raw_provider(respond, pause=0.3) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path) as gateway,
    ):
        first, _ = post(gateway.base, gateway.key)
        time.sleep(0.6)
        second, _ = post(gateway.base, gateway.key)
    assert first.status_code == 200
    assert second.status_code == 200, second.text
