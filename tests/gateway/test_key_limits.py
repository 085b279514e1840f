"""Per-key controls through the official SDKs: expiry, allowed models, requests and tokens per minute."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from aether_policy.gateway import create_app
from aether_policy.store import Store
from aether_policy.store.key_controls import controls_by_id, update_controls
from tests.gateway.conftest import config_for
from tests.helpers import gate_for, loopback_plan, serve
from tests.standins import StandIn

PROMPT = "Name three rivers of Portugal"


@dataclass
class Replicas:
    bases: list[str]
    stores: list[Store]
    key: str
    key_id: str

    clients: list[openai.OpenAI | anthropic.Anthropic] = field(default_factory=list)

    def oai(self, replica: int = 0) -> openai.OpenAI:
        client = openai.OpenAI(base_url=f"{self.bases[replica]}/v1", api_key=self.key, max_retries=0, timeout=10)
        self.clients.append(client)
        return client

    def claude(self, replica: int = 0) -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=self.bases[replica], api_key=self.key, max_retries=0, timeout=10)
        self.clients.append(client)
        return client

    def update(self, **changes: object) -> None:
        update_controls(self.stores[0], self.key_id, **changes)  # type: ignore[arg-type]
        if "rpm" in changes or "tpm" in changes:
            inside_one_window()


def inside_one_window() -> None:
    """Limits count per clock minute: start a burst early enough in one that it ends there too."""
    if time.time() % 60 > 50:
        time.sleep(60.5 - time.time() % 60)


@pytest.fixture(scope="module")
def standin() -> StandIn:
    return StandIn()


@pytest.fixture(scope="module")
def upstream(standin: StandIn) -> Iterator[str]:
    with serve(standin.app()) as base:
        yield base


def start(database_url: str, upstream: str, count: int, tmp_path: Path) -> tuple[ExitStack, Replicas]:
    stack = ExitStack()
    stores = [Store(database_url, flush_interval=0.02) for _ in range(count)]
    for store in stores:
        store.migrate()
        stack.callback(store.close)
    info, key = stores[0].create_key("acme")
    plan = loopback_plan()
    bases = [
        stack.enter_context(serve(create_app(plan, store, config_for(upstream), gate_for(plan)))) for store in stores
    ]
    replicas = Replicas(bases, stores, key, info.id)

    def close_clients() -> None:
        for client in replicas.clients:
            client.close()

    stack.callback(close_clients)
    return stack, replicas


@pytest.fixture
def gateway(database_url: str, upstream: str, tmp_path: Path, provider_keys: None) -> Iterator[Replicas]:
    stack, replicas = start(database_url, upstream, 1, tmp_path)
    with stack:
        yield replicas


def ask_openai(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])


def ask_anthropic(client: anthropic.Anthropic) -> None:
    client.messages.create(
        model="claude-3-5-haiku-latest", max_tokens=50, messages=[{"role": "user", "content": PROMPT}]
    )


def test_a_burst_over_the_request_limit_gets_openai_shaped_429s_with_retry_after(gateway: Replicas) -> None:
    gateway.update(rpm=3)
    client = gateway.oai()
    for _ in range(3):
        ask_openai(client)
    with pytest.raises(openai.RateLimitError) as caught:
        ask_openai(client)
    response = caught.value.response
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert "limited to 3 requests per minute" in response.json()["error"]["message"]
    client.close()


def test_a_burst_over_the_request_limit_gets_anthropic_shaped_429s_with_retry_after(gateway: Replicas) -> None:
    gateway.update(rpm=2)
    client = gateway.claude()
    ask_anthropic(client)
    ask_anthropic(client)
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask_anthropic(client)
    body = caught.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
    client.close()


def test_a_key_without_limits_is_not_limited(gateway: Replicas) -> None:
    client = gateway.oai()
    for _ in range(8):
        ask_openai(client)
    client.close()


def test_the_token_limit_refuses_once_reported_tokens_fill_the_window(gateway: Replicas) -> None:
    gateway.update(tpm=20)  # each stand-in reply reports 12 tokens
    client = gateway.oai()
    ask_openai(client)
    ask_openai(client)  # 12 charged, under 20: admitted; it brings the window to 24
    deadline = time.monotonic() + 5
    while True:  # tokens are charged after the response, off the request path
        try:
            ask_openai(client)
        except openai.RateLimitError as error:
            assert "limited to 20 tokens per minute" in error.response.json()["error"]["message"]
            break
        assert time.monotonic() < deadline, "the token limit never applied"
        time.sleep(0.05)
    client.close()


def test_token_counts_land_in_usage_events(gateway: Replicas) -> None:
    ask_openai(gateway.oai())
    ask_anthropic(gateway.claude())
    store = gateway.stores[0]
    deadline = time.monotonic() + 10
    while store.usage_count() < 2 and time.monotonic() < deadline:
        store.flush()
        time.sleep(0.02)
    assert [(e["input_tokens"], e["output_tokens"]) for e in store.usage_events()] == [(5, 7), (5, 7)]


def stream_openai(client: openai.OpenAI, model: str = "gpt-4o-mini", **options: Any) -> list[Any]:
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], stream=True, **options
    )
    return list(stream)


def stream_anthropic(client: anthropic.Anthropic, model: str = "claude-3-5-haiku-latest") -> None:
    with client.messages.stream(model=model, max_tokens=50, messages=[{"role": "user", "content": PROMPT}]) as s:
        s.until_done()


def usage_counts(store: Store, count: int) -> list[tuple[int | None, int | None]]:
    deadline = time.monotonic() + 10
    while store.usage_count() < count and time.monotonic() < deadline:
        store.flush()
        time.sleep(0.02)
    return [(e["input_tokens"], e["output_tokens"]) for e in store.usage_events()]


def test_an_openai_streams_reported_tokens_fill_the_window_so_the_next_request_gets_429(gateway: Replicas) -> None:
    gateway.update(tpm=500)  # the stream's estimate is a quarter of its ~120-byte body; it reports 1,005 tokens
    client = gateway.oai()
    stream_openai(client, "gpt-4o-mini-long")  # no max_tokens: the estimate alone would leave room
    # Charged as the stream ends, before its last bytes reach the caller: the very next request is refused.
    with pytest.raises(openai.RateLimitError) as caught:
        ask_openai(client)
    assert "limited to 500 tokens per minute" in caught.value.response.json()["error"]["message"]


def test_an_anthropic_streams_reported_tokens_fill_the_window_so_the_next_request_gets_429(gateway: Replicas) -> None:
    gateway.update(tpm=500)
    client = gateway.claude()
    stream_anthropic(client, "claude-3-5-haiku-latest-long")  # estimated at ~80, reports 1,005
    with pytest.raises(anthropic.RateLimitError):
        ask_anthropic(client)


def test_a_translated_streams_reported_tokens_fill_the_window(gateway: Replicas) -> None:
    gateway.update(tpm=500)
    client = gateway.oai()
    stream_openai(client, "claude-3-5-haiku-latest-long")  # OpenAI caller, Anthropic provider
    with pytest.raises(openai.RateLimitError):
        ask_openai(client)


def test_streamed_requests_usage_events_hold_the_providers_counts(gateway: Replicas) -> None:
    stream_openai(gateway.oai())  # same protocol, the usage asked for by the gateway
    stream_anthropic(gateway.claude())  # same protocol, passed through as it came
    stream_openai(gateway.oai(), "claude-3-5-haiku-latest")  # translated
    assert usage_counts(gateway.stores[0], 3) == [(5, 7), (5, 7), (5, 7)]


def test_a_streamed_responses_usage_event_holds_the_providers_counts(gateway: Replicas) -> None:
    events = list(gateway.oai().responses.create(model="gpt-5.5", input=PROMPT, stream=True))
    assert events[-1].type == "response.completed"
    assert usage_counts(gateway.stores[0], 1) == [(5, 7)]


def test_a_caller_that_did_not_ask_for_stream_usage_gets_no_usage_chunk(gateway: Replicas, standin: StandIn) -> None:
    standin.received.clear()
    chunks = stream_openai(gateway.oai())
    assert standin.received[-1].body["stream_options"] == {"include_usage": True}  # asked upstream
    assert chunks and all(chunk.choices for chunk in chunks)  # but no `choices: []` usage chunk relayed
    assert all(chunk.usage is None for chunk in chunks)
    assert usage_counts(gateway.stores[0], 1) == [(5, 7)]


def test_a_caller_that_asked_for_stream_usage_gets_its_usage_chunk(gateway: Replicas) -> None:
    chunks = stream_openai(gateway.oai(), stream_options={"include_usage": True})
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 7)


def test_a_caller_asking_for_other_stream_options_keeps_them(gateway: Replicas, standin: StandIn) -> None:
    standin.received.clear()
    httpx.post(
        f"{gateway.bases[0]}/v1/chat/completions",
        headers={"authorization": f"Bearer {gateway.key}"},
        json={
            "model": "gpt-4o-mini",
            "stream": True,
            "stream_options": {"include_usage": False, "include_obfuscation": False},
            "messages": [{"role": "user", "content": "x"}],
        },
        timeout=10,
    )
    sent = standin.received[-1].body["stream_options"]
    assert sent == {"include_usage": True, "include_obfuscation": False}


def test_a_caller_leaving_before_the_usage_chunk_is_still_charged_a_token_per_event(gateway: Replicas) -> None:
    gateway.update(tpm=200)  # estimated at ~30; the caller reads 300 words, then leaves before the usage comes
    body = {"model": "gpt-4o-mini-tail", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    headers = {"authorization": f"Bearer {gateway.key}"}
    with httpx.stream("POST", f"{gateway.bases[0]}/v1/chat/completions", headers=headers, json=body) as response:
        for line in response.iter_lines():
            if '"finish_reason": "stop"' in line:
                break
    assert usage_counts(gateway.stores[0], 1) == [(None, None)]  # the request ended: nothing was reported
    with pytest.raises(openai.RateLimitError):
        ask_openai(gateway.oai())


def test_a_hostile_providers_absurd_stream_usage_cannot_overflow_the_counter(gateway: Replicas) -> None:
    gateway.update(tpm=1000)
    client = gateway.oai()
    stream_openai(client, "gpt-4o-mini-absurd")  # reports 10**30 input and 2**31 - 1 output tokens
    with pytest.raises(openai.RateLimitError):
        ask_openai(client)  # the window filled; it did not wrap around
    assert usage_counts(gateway.stores[0], 1)[0] == (None, 2**31 - 1)  # 10**30 is no count at all


def test_a_model_outside_the_keys_patterns_is_refused_in_both_shapes(gateway: Replicas) -> None:
    gateway.update(models=("gpt-4o*",))
    ask_openai(gateway.oai())
    with pytest.raises(openai.PermissionDeniedError) as from_openai:
        gateway.oai().chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": PROMPT}])
    assert from_openai.value.response.json()["error"]["code"] == "model_not_allowed"
    with pytest.raises(anthropic.PermissionDeniedError) as from_anthropic:
        ask_anthropic(gateway.claude())
    assert from_anthropic.value.response.json()["error"]["type"] == "permission_error"


def test_an_expired_key_opens_no_route(gateway: Replicas) -> None:
    gateway.update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(openai.AuthenticationError):
        ask_openai(gateway.oai())
    with pytest.raises(anthropic.AuthenticationError):
        ask_anthropic(gateway.claude())
    with pytest.raises(openai.AuthenticationError):
        gateway.oai().models.list()


def test_a_key_is_refused_the_moment_it_expires_even_while_authentication_is_cached(gateway: Replicas) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1)
    gateway.update(expires_at=expires)
    client = gateway.oai()
    ask_openai(client)  # authenticated, and the key's controls read: both cached for 2 seconds
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
    with pytest.raises(openai.AuthenticationError) as caught:
        ask_openai(client)
    assert caught.value.response.json()["error"]["code"] == "expired_api_key"
    assert "this API key expired at " in caught.value.response.json()["error"]["message"]


def test_a_key_expiring_later_still_works(gateway: Replicas) -> None:
    gateway.update(expires_at=datetime.now(UTC) + timedelta(days=1))
    ask_openai(gateway.oai())


def test_a_hostile_max_tokens_on_a_stream_cannot_overflow_the_counter(gateway: Replicas) -> None:
    gateway.update(tpm=1000)
    response = httpx.post(
        f"{gateway.bases[0]}/v1/chat/completions",
        headers={"authorization": f"Bearer {gateway.key}"},
        json={
            "model": "gpt-4o-mini",
            "stream": True,
            "max_tokens": 10**30,
            "messages": [{"role": "user", "content": "x"}],
        },
        timeout=10,
    )
    assert response.status_code == 200
    second = httpx.post(
        f"{gateway.bases[0]}/v1/chat/completions",
        headers={"authorization": f"Bearer {gateway.key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        timeout=10,
    )
    assert second.status_code == 429  # the estimate filled the window; it did not wrap around


@pytest.mark.postgres
def test_two_replicas_on_one_postgresql_database_share_the_request_limit(
    upstream: str, tmp_path: Path, provider_keys: None
) -> None:
    from tests.conftest import POSTGRES_URL, isolated_postgres

    if not POSTGRES_URL:
        pytest.skip("set AETHER_TEST_POSTGRES_URL to run the PostgreSQL tests")
    with isolated_postgres(POSTGRES_URL) as url:
        stack, replicas = start(url, upstream, 2, tmp_path)
        with stack:
            replicas.update(rpm=4)
            clients = [replicas.oai(0), replicas.oai(1)]
            for i in range(4):
                ask_openai(clients[i % 2])
                time.sleep(0.3)  # longer than a sync interval: each replica has seen the other's count
            for client in clients:
                with pytest.raises(openai.RateLimitError):
                    ask_openai(client)
            assert controls_by_id(replicas.stores[1], replicas.key_id).rpm == 4
            for client in clients:
                client.close()


def test_opening_a_window_prunes_every_keys_past_windows(database_url: str) -> None:
    from sqlalchemy import select

    from aether_policy.store import tables
    from aether_policy.store.key_controls import add_to_window

    store = Store(database_url)
    store.migrate()
    add_to_window(store, "key_once", 1000, 1, 0)  # a key used once, long ago
    add_to_window(store, "key_busy", 1000, 3, 10)
    assert add_to_window(store, "key_busy", 1000, 1, 2) == (4, 12)  # one shared row, added to atomically
    add_to_window(store, "key_busy", 1001, 1, 0)
    add_to_window(store, "key_other", 1003, 1, 0)
    with store.begin() as conn:
        rows = sorted(conn.execute(select(tables.rate_windows.c.key_id, tables.rate_windows.c.window)).all())
    store.close()
    assert [tuple(r) for r in rows] == [("key_other", 1003)]


def test_the_non_chat_endpoints_count_against_the_request_limit(gateway: Replicas) -> None:
    gateway.update(rpm=3)
    client = gateway.oai()
    client.embeddings.create(model="text-embedding-3-small", input=PROMPT)
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT)
    client.responses.create(model="gpt-5.5", input=PROMPT)
    with pytest.raises(openai.RateLimitError) as caught:
        client.embeddings.create(model="text-embedding-3-small", input=PROMPT)
    assert caught.value.response.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60


def test_count_tokens_is_refused_once_the_request_limit_is_reached(gateway: Replicas) -> None:
    gateway.update(rpm=1)
    client = gateway.claude()
    client.messages.count_tokens(model="claude-3-5-haiku-latest", messages=[{"role": "user", "content": PROMPT}])
    with pytest.raises(anthropic.RateLimitError):
        client.messages.count_tokens(model="claude-3-5-haiku-latest", messages=[{"role": "user", "content": PROMPT}])


def test_a_model_outside_the_keys_patterns_is_refused_on_the_embeddings_endpoint(gateway: Replicas) -> None:
    gateway.update(models=("gpt-4o*",))
    with pytest.raises(openai.PermissionDeniedError) as caught:
        gateway.oai().embeddings.create(model="text-embedding-3-small", input=PROMPT)
    assert caught.value.response.json()["error"]["code"] == "model_not_allowed"


def test_the_embeddings_usage_is_charged_to_the_token_limit(gateway: Replicas) -> None:
    gateway.update(tpm=3)  # the stand-in reports one prompt token per input word: 5 here
    client = gateway.oai()
    client.embeddings.create(model="text-embedding-3-small", input=PROMPT)
    with pytest.raises(openai.RateLimitError) as caught:
        client.embeddings.create(model="text-embedding-3-small", input=PROMPT)
    assert "limited to 3 tokens per minute" in caught.value.response.json()["error"]["message"]
