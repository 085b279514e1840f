"""Findings of the attack-egress review, each a failing test against the code as it is (real loopback
servers, the real aiohttp wire, the real gateway app; nothing under test is mocked). Each test states the
promise it checks; it passes the day the defect is fixed."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, insert, select

from aether_policy.gateway.config import GatewayConfig, ProviderConfig, conformance_problems
from aether_policy.gateway.errors import GatewayError
from aether_policy.gateway.upstream import Upstream
from aether_policy.store import tables
from aether_policy.store._bulk import insert_rows
from tests.gateway._attack_harness import answer, gateway_to, raw_provider
from tests.gateway.test_upstream_guard import recording_server, upstream_at
from aether_policy import load_policy_text
from aether_policy.gateway import create_app
from aether_policy.plan import compile_policy
from tests.gateway.conftest import store_with_key
from tests.helpers import gate_for, loopback_plan, loopback_policy_text, serve

PROVIDER_KEYS = {"STANDIN_OPENAI_KEY": "sk-provider-openai-0001", "STANDIN_ANTHROPIC_KEY": "sk-provider-anthropic-0002"}
OPENAI_OK = (
    b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
)
ANTHROPIC_OK = (
    b'{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"hi"}],'
    b'"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}'
)


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**PROVIDER_KEYS, "UPSTREAM_TEST_KEY": "sk-provider"}.items():
        monkeypatch.setenv(name, value)


def _head(request: bytes) -> bytes:
    return request.split(b"\r\n\r\n", 1)[0].lower()


# -- F1: a base_url with userinfo sends an Authorization header the egress guard never saw -------------------------


def test_f1_userinfo_in_base_url_adds_an_undeclared_authorization_header_after_the_guard() -> None:
    """The anthropic recipient's allow-list has no `authorization`; serve's conformance check accepts a base_url
    with `user:pw@`, and aiohttp turns it into `Authorization: Basic …` after EgressGuard.admit has run."""

    async def go() -> list[bytes]:
        async with recording_server(ANTHROPIC_OK) as server:
            base = f"http://operator:secret-pw@127.0.0.1:{server.port}"
            config = GatewayConfig(
                providers={
                    "anthropic": ProviderConfig(
                        api="anthropic", base_url=base, api_key_env="UPSTREAM_TEST_KEY", models=("claude-*",)
                    )
                }
            )
            accepted = [p for p in conformance_problems(config, loopback_plan()) if "base_url" in p[0]]
            assert accepted == []  # serve would start with it
            upstream = upstream_at(base, api="anthropic")
            try:
                await upstream.open({"model": "claude-x"}, stream=False, path="/v1/messages")
            finally:
                await upstream.aclose()
            return server.requests

    (sent,) = asyncio.run(go())
    assert b"\r\nauthorization:" not in _head(sent), "a header the policy does not declare left for the provider"


# -- F2: the same config on an OpenAI provider is a 500 on every request -------------------------------------------


def test_f2_userinfo_in_an_openai_base_url_is_a_500_not_a_clear_error(tmp_path: Path) -> None:
    with (
        raw_provider(lambda head, body: answer(OPENAI_OK)) as provider,
        gateway_to(f"http://operator:secret-pw@127.0.0.1:{provider.port}/v1", tmp=tmp_path) as gateway,
    ):
        reply = httpx.post(
            f"{gateway.base}/v1/chat/completions",
            headers={"authorization": f"Bearer {gateway.key}"},
            json={"model": "gpt-x", "messages": [{"role": "user", "content": "hello"}]},
            timeout=10,
        )
    # aiohttp raises ValueError("Cannot combine AUTHORIZATION header with … credentials encoded in URL"),
    # which _AiohttpFailures does not map: the caller gets the gateway's internal error.
    assert reply.status_code != 500, reply.text


# -- F3: a non-ASCII passthrough header value is a 500 -------------------------------------------------------------


def test_f3_a_non_ascii_anthropic_beta_value_is_a_clear_4xx_not_a_500(tmp_path: Path) -> None:
    with (
        raw_provider(lambda head, body: answer(ANTHROPIC_OK)) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path) as gateway,
    ):
        reply = httpx.post(
            f"{gateway.base}/v1/messages",
            headers=[
                ("x-api-key", gateway.key),
                ("anthropic-version", "2023-06-01"),
                ("anthropic-beta", b"caf\xe9"),  # one latin-1 byte: valid HTTP (obs-text)
            ],
            json={"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]},
            timeout=10,
        )
    # Upstream._headers does value.encode("ascii"): UnicodeEncodeError escapes to the app's 500 handler.
    assert reply.status_code != 500, reply.text
    assert reply.status_code == 400


# -- F4: the bulk insert does not store what SQLAlchemy's insert stores --------------------------------------------


def test_f4_bulk_insert_stores_a_whole_second_timestamp_differently_and_range_queries_miss_it() -> None:
    engine = create_engine("sqlite://")
    tables.metadata.create_all(engine)
    table = tables.usage_events
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # microsecond 0: one timestamp in a million, every test clock
    row = {"timestamp": at, "endpoint": "/v1/chat/completions", "method": "POST", "response_code": 200}
    with engine.begin() as conn:
        insert_rows(conn, table, [row])  # the SQLite writer's path
        conn.execute(insert(table), [row])  # SQLAlchemy's, as the row-by-row replay and PostgreSQL use
    with engine.connect() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("SELECT timestamp FROM usage_events ORDER BY id")]
        found = conn.execute(select(table.c.id).where(table.c.timestamp >= at).order_by(table.c.id)).scalars().all()
    # insert_rows calls the TypeDecorator's bind_processor, which chains the generic DateTime's (none) instead
    # of SQLite's DATETIME: the naive datetime goes to sqlite3's default adapter ('… 03:04:05', not '.000000').
    assert stored[0] == stored[1], stored
    assert found == [1, 2], "a `timestamp >= t` query (retention, exports) misses the bulk-inserted row"


# -- F5: a long Gemini model name is a 500 -------------------------------------------------------------------------

GOOGLE = """  google:
    title: Google
    kind: ai_provider
    receives: [prompt_content, api_usage.model]
    purposes: [service_provision]
    provider:
      api: gemini
      hosts: [generativelanguage.googleapis.com, 127.0.0.1]
"""


def test_f5_a_gemini_model_name_whose_url_is_over_64_kib_is_a_clear_4xx_not_a_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chat_path_for percent-encodes the caller's model (a 3-byte character becomes 9 characters);
    Upstream._target parses the path with httpx.URL, which raises httpx.InvalidURL ("URL too long") past
    65,536 characters. Nothing maps it: the caller gets the gateway's internal error, and the log a failure."""
    monkeypatch.setenv("STANDIN_GEMINI_KEY", "sk-provider-gemini-0003")
    text = loopback_policy_text().replace("  legal_requests:\n", GOOGLE + "  legal_requests:\n")
    plan = compile_policy(load_policy_text(text).policy)
    store, key = store_with_key(f"sqlite:///{tmp_path / 'aether.db'}")
    with raw_provider(lambda head, body: answer(b"{}")) as provider:
        config = GatewayConfig(
            providers={
                "google": ProviderConfig(
                    api="gemini",
                    base_url=f"http://127.0.0.1:{provider.port}",
                    api_key_env="STANDIN_GEMINI_KEY",
                    models=("gemini-*",),
                    timeout=3,
                )
            }
        )
        try:
            with serve(create_app(plan, store, config, gate_for(plan))) as base:
                reply = httpx.post(
                    f"{base}/v1/chat/completions",
                    headers={"authorization": f"Bearer {key}"},
                    json={"model": "gemini-" + "\u20ac" * 8000, "messages": [{"role": "user", "content": "hello"}]},
                    timeout=10,
                )
        finally:
            store.close()
    assert reply.status_code != 500, reply.text


# -- F6: a translated stream from a provider that compresses anyway is cut with an internal error -------------------


def _event(name: str, data: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


ANTHROPIC_STREAM = b"".join(
    [
        _event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "m", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
                    "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1},
                },
            },
        ),
        _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello world"}}),
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
        _event("message_stop", {"type": "message_stop"}),
    ]
)


def test_f6_a_gzip_encoded_stream_is_translated_not_cut(tmp_path: Path) -> None:
    """aiohttp decompresses (auto_decompress); sse.events then wraps the already-decoded chunks in an
    httpx.Response carrying the provider's `content-encoding: gzip`, and httpx decompresses them again:
    httpx.DecodingError, which _relay does not catch. The caller's connection drops mid-answer with no error
    event ("ASGI callable returned without completing response"). Same-protocol streams are not affected."""
    compressed = answer(
        gzip.compress(ANTHROPIC_STREAM), headers=b"content-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
    )
    with (
        raw_provider(lambda head, body: compressed) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path) as gateway,
    ):
        try:
            reply = httpx.post(
                f"{gateway.base}/v1/chat/completions",
                headers={"authorization": f"Bearer {gateway.key}"},
                json={"model": "claude-x", "messages": [{"role": "user", "content": "hello"}], "stream": True},
                timeout=10,
            )
            text = reply.text
        except httpx.RemoteProtocolError as cut:
            pytest.fail(f"the stream was cut without an error event: {cut}")
    assert "hello world" in text


def test_f6b_a_non_ascii_provider_header_breaks_a_translated_stream(tmp_path: Path) -> None:
    """Any provider header byte outside ASCII (e.g. a latin-1 server name) makes httpx.Response(headers=…) in
    sse.events raise, and the whole translated answer becomes an 'unexpected shape' error event."""
    odd = answer(ANTHROPIC_STREAM, headers=b"content-type: text/event-stream\r\nx-request-id: caf\xe9\r\n")
    with (
        raw_provider(lambda head, body: odd) as provider,
        gateway_to(f"http://127.0.0.1:{provider.port}/v1", tmp=tmp_path) as gateway,
    ):
        reply = httpx.post(
            f"{gateway.base}/v1/chat/completions",
            headers={"authorization": f"Bearer {gateway.key}"},
            json={"model": "claude-x", "messages": [{"role": "user", "content": "hello"}], "stream": True},
            timeout=10,
        )
    assert "hello world" in reply.text, reply.text


def test_f1b_the_start_banner_prints_a_base_url_password() -> None:
    """Same root cause as F1 (userinfo accepted in base_url): `serve` prints each provider's base URL as
    written, password included, on stdout, although it hides the database URL's."""
    from aether_policy.cli._startup import startup_lines

    config = GatewayConfig(
        providers={
            "anthropic": ProviderConfig(
                api="anthropic",
                base_url="https://operator:secret-pw@127.0.0.1:8443",
                api_key_env="UPSTREAM_TEST_KEY",
                models=("claude-*",),
            )
        }
    )
    lines = startup_lines(loopback_plan(), config, "sqlite:///aether.db", None, "127.0.0.1", 8000)
    assert not any("secret-pw" in line for line in lines), lines
