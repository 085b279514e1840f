"""Every call `Upstream` makes passes the egress guard first, over the real aiohttp wire: the request that
reaches a recording loopback server is the one the policy admits, and nothing reaches it that it refuses."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager

import pytest

from aether_policy._context import Inflight, caller_secrets, inflight_content
from aether_policy.gateway.config import ProviderConfig
from aether_policy.gateway.errors import GatewayError
from aether_policy.gateway.upstream import Upstream
from aether_policy.redaction import leaks
from tests.gateway.raw_provider import RawProvider, answer, raw_provider, refusal
from tests.helpers import loopback_plan

ANSWER = b'{"choices":[{"message":{"role":"assistant","content":"a distinctive answer 7Qx"}}]}'


def recording_server(body: bytes = ANSWER) -> AbstractContextManager[RawProvider]:
    """A loopback HTTP/1.1 server that keeps each request's head and body and answers `body` as JSON."""
    return raw_provider(lambda head, request: answer(body))


def upstream_at(base_url: str, api: str = "openai") -> Upstream:
    """A provider of `api` under its recipient's rule in the loopback policy (declaring 127.0.0.1)."""
    provider = ProviderConfig(api=api, base_url=base_url, api_key_env="UPSTREAM_TEST_KEY", models=("x",))
    return Upstream("p", provider, loopback_plan().egress["openai" if api == "gemini" else api])


@pytest.fixture(autouse=True)
def provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_TEST_KEY", "sk-provider")


def test_an_undeclared_host_is_refused_before_any_connection() -> None:
    async def go() -> tuple[GatewayError, int]:
        with recording_server() as server:
            upstream = upstream_at(f"http://localhost:{server.port}/v1")  # served there, not declared
            return await refusal(upstream, {"model": "x"}, "/chat/completions"), server.connections

    error, connections = asyncio.run(go())
    assert error.status == 502
    assert "upstream call refused by the privacy policy: egress to localhost" in error.message
    assert connections == 0


def test_the_caller_s_key_in_the_body_is_never_sent() -> None:
    async def go() -> tuple[GatewayError, list[bytes]]:
        token = caller_secrets.set(("sk-gateway-caller-key-123",))
        try:
            with recording_server() as server:
                upstream = upstream_at(f"http://127.0.0.1:{server.port}/v1")
                payload = {"model": "x", "messages": [{"content": "my key is sk-gateway-caller-key-123"}]}
                return await refusal(upstream, payload, "/chat/completions"), server.requests
        finally:
            caller_secrets.reset(token)

    error, sent = asyncio.run(go())
    assert "carries the caller's gateway API key" in error.message
    assert sent == []


def test_undeclared_headers_are_stripped_and_an_uncompressed_answer_is_asked_for() -> None:
    async def go() -> list[bytes]:
        with recording_server() as server:
            upstream = upstream_at(f"http://127.0.0.1:{server.port}/v1", api="anthropic")
            try:
                headers = {"anthropic-beta": "tools-2024", "x-forwarded-for": "198.51.100.7", "cookie": "a=b"}
                await upstream.open({"model": "x"}, stream=False, path="/messages", headers=headers)
            finally:
                await upstream.aclose()
            return server.requests

    (sent,) = asyncio.run(go())
    head = sent.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nanthropic-beta: tools-2024" in head
    assert b"\r\naccept-encoding: identity" in head
    assert b"x-forwarded-for" not in head and b"cookie" not in head
    assert head.count(b"\r\nhost: ") == 1 and head.count(b"\r\naccept-encoding: ") == 1


def test_the_answer_is_registered_for_log_redaction_before_it_is_returned() -> None:
    async def go() -> tuple[bytes, bool, bool]:
        token = inflight_content.set(Inflight(b'{"model":"x"}', ()))
        try:
            with recording_server() as server:
                upstream = upstream_at(f"http://127.0.0.1:{server.port}/v1")
                try:
                    before = leaks("log line: a distinctive answer 7Qx")
                    answer = await upstream.open({"model": "x"}, stream=False, path="/chat/completions")
                finally:
                    await upstream.aclose()
                return answer.content, before, leaks("log line: a distinctive answer 7Qx")
        finally:
            inflight_content.reset(token)

    content, before, after = asyncio.run(go())
    assert content == ANSWER
    assert (before, after) == (False, True)


def test_a_model_name_cannot_move_a_gemini_call_to_another_host() -> None:
    async def go() -> list[bytes]:
        with recording_server() as server:
            upstream = upstream_at(f"http://127.0.0.1:{server.port}", api="gemini")
            try:
                for model in ("//evil.example/x", "@evil.example", "../../../x", "http://evil.example/"):
                    path = upstream.protocol.chat_path_for(model, False)
                    await upstream.open({"contents": []}, stream=False, path=path)
            finally:
                await upstream.aclose()
            return server.requests

    sent = asyncio.run(go())
    assert len(sent) == 4
    assert all(request.startswith(b"POST /v1beta/models/") for request in sent)
