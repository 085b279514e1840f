"""Retries within the policy: the same provider, the same request, after the provider's own "try again"."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from aether_policy.gateway.upstream import _retry_after
from tests.gateway.conftest import PROVIDER_KEYS, Running
from tests.gateway.raw_provider import answer, gateway_to, raw_provider
from tests.gateway.test_gateway_sdks import claude, oai

USER = [{"role": "user", "content": "Describe the harbour of Porto at dawn"}]


def test_a_429_with_retry_after_is_retried_and_the_caller_gets_the_answer(gateway: Running) -> None:
    reply = oai(gateway).chat.completions.create(model="gpt-4o-busy", messages=USER)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == f"echo: {USER[0]['content']}"
    assert len(gateway.standin.received) == 2
    gateway.settle()
    assert [e["response_code"] for e in gateway.store.usage_events()] == [200]


def test_a_translated_request_is_retried_too(gateway: Running) -> None:
    reply = claude(gateway).messages.create(model="gpt-4o-busy", max_tokens=10, messages=USER)  # type: ignore[arg-type]
    assert reply.content[0].text.startswith("echo: ")  # type: ignore[union-attr]
    assert len(gateway.standin.received) == 2


def test_an_overloaded_provider_is_tried_three_times_then_a_502(gateway: Running) -> None:
    started = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude(gateway).messages.create(model="claude-x-overloaded", max_tokens=10, messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert len(gateway.standin.received) == 3  # the default: two retries
    assert time.monotonic() - started >= 0.3  # backoff 0.1 s, then 0.2 s


def test_a_provider_asking_for_longer_than_the_limit_is_answered_at_once(gateway: Running) -> None:
    with pytest.raises(openai.RateLimitError):
        oai(gateway).chat.completions.create(model="gpt-4o-later", messages=USER)  # type: ignore[arg-type]
    assert len(gateway.standin.received) == 1


def test_a_client_error_is_never_retried(gateway: Running) -> None:
    with pytest.raises(openai.BadRequestError):
        oai(gateway).chat.completions.create(model="gpt-4o-error400", messages=USER)  # type: ignore[arg-type]
    assert len(gateway.standin.received) == 1


def test_a_timeout_is_never_retried(gateway: Running) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        oai(gateway).chat.completions.create(model="gpt-4o-slow", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 504
    assert len(gateway.standin.received) == 1


def call_busy_provider(tmp_path: Path, busy: bytes, **options: Any) -> tuple[httpx.Response, int, float]:
    """One chat call through the real gateway to a provider always answering `busy`: the reply, how many requests
    the provider got, and how long the caller waited."""
    with (
        raw_provider(lambda head, request: busy) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path, **options) as gateway,
    ):
        started = time.monotonic()
        reply = httpx.post(
            f"{gateway.base}/v1/chat/completions",
            headers={"authorization": f"Bearer {gateway.key}"},
            json={"model": "gpt-x", "messages": USER},
            timeout=30,
        )
        return reply, len(provider.requests), time.monotonic() - started


@pytest.fixture
def provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROVIDER_KEYS.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("status", "asks", "max_retry_wait", "sent"),
    [
        ("429 Too Many Requests", b"retry-after-ms: 400\r\n", 1.0, 3),  # waits 0.4 + 0.4; a third passes 1.0
        ("503 Service Unavailable", b"", 0.5, 3),  # backoff 0.1 + 0.2; the next, 0.4, passes 0.5
    ],
)
def test_a_calls_retry_waits_in_all_stay_within_max_retry_wait(
    tmp_path: Path, provider_keys: None, status: str, asks: bytes, max_retry_wait: float, sent: int
) -> None:
    """A provider asking each time for a wait just under the limit cannot hold the caller `retries` times as
    long: the waits of one call add up to at most `max_retry_wait`, then the caller gets the provider's answer."""
    busy = answer(b'{"error":{"type":"busy"}}', status=status, headers=b"content-type: application/json\r\n" + asks)
    reply, requests, elapsed = call_busy_provider(tmp_path, busy, retries=10, max_retry_wait=max_retry_wait)
    assert reply.status_code == (429 if status.startswith("429") else 502)
    assert requests == sent
    assert elapsed < max_retry_wait + 1.0


@pytest.mark.parametrize(
    ("asks", "told"),
    [
        (b"retry-after-ms: 2500\r\n", "3"),  # rounded up: coming back sooner would only meet another 429
        (b"retry-after: 7\r\n", "7"),
        (b"retry-after: 99999999999\r\n", "86400"),  # at most a day, whatever the provider says
        (b"retry-after-ms: 1e400\r\n", None),  # no number a header can hold
        (b"retry-after: soon\r\n", None),
        (b"", None),
    ],
)
def test_a_rate_limited_callers_429_says_how_long_the_provider_asked_to_wait(
    tmp_path: Path, provider_keys: None, asks: bytes, told: str | None
) -> None:
    """A wait past the budget is not taken by the gateway; the caller's SDK is told it instead of retrying at once."""
    busy = answer(
        b'{"error":{"type":"busy"}}',
        status="429 Too Many Requests",
        headers=b"content-type: application/json\r\n" + asks,
    )
    reply, _, _ = call_busy_provider(tmp_path, busy, retries=1, max_retry_wait=0.5)
    assert reply.status_code == 429
    assert reply.headers.get("retry-after") == told


def test_waits_adding_up_to_exactly_max_retry_wait_are_all_taken(tmp_path: Path, provider_keys: None) -> None:
    """A wait that "would pass" max_retry_wait is not taken: backoff 0.1 s then 0.2 s does not pass a 0.3 s budget,
    so an operator's `max_retry_wait: 0.3` allows both of the default two retries."""
    busy = answer(b'{"error":{"type":"busy"}}', status="503 Service Unavailable")
    reply, requests, _ = call_busy_provider(tmp_path, busy, retries=2, max_retry_wait=0.3)
    assert reply.status_code == 502
    assert requests == 3


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: now
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "-5"}, 0.0),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_every_form_providers_send(headers: dict[str, str], expected: float | None) -> None:
    assert _retry_after(httpx.Headers(headers)) == expected
