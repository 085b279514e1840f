"""The egress guard: only declared hosts, no identifying headers, never the caller's key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import httpx
import pytest

from aether_policy._context import Inflight, caller_secrets, enter, leave
from aether_policy.exceptions import EgressDenied
from aether_policy.middleware import PolicyMiddleware
from aether_policy.plan import GuardedTransport
from aether_policy.sinks import MemorySink
from aether_policy.types import Receive, Scope, Send
from tests.helpers import gate_for, shipped_plan


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200, json={"ok": True})


def send(url: str, headers: dict[str, str] | None = None, body: bytes = b"{}", secret: str | None = None) -> Recorder:
    recorder = Recorder()

    async def go() -> None:
        token = caller_secrets.set((secret,) if secret else ())
        try:
            transport = GuardedTransport(shipped_plan().egress["openai"], recorder)
            async with httpx.AsyncClient(transport=transport) as client:
                await client.post(url, headers=headers, content=body)
        finally:
            caller_secrets.reset(token)

    asyncio.run(go())
    return recorder


def test_a_declared_host_is_reached() -> None:
    assert [str(r.url) for r in send("https://api.openai.com/v1/chat/completions").sent] == [
        "https://api.openai.com/v1/chat/completions"
    ]


def test_an_undeclared_host_is_refused_naming_the_rule() -> None:
    with pytest.raises(EgressDenied) as caught:
        send("https://collector.example.net/v1/chat/completions")
    assert str(caught.value) == (
        "egress to collector.example.net refused: recipient 'openai' declares only hosts api.openai.com "
        "(policy recipients.openai.provider.hosts)"
    )


def test_identifying_headers_are_stripped() -> None:
    identifying = {
        "x-forwarded-for": "198.51.100.7",
        "forwarded": "for=198.51.100.7",
        "x-real-ip": "198.51.100.7",
        "cookie": "aether_session=abc",
        "x-user-email": "someone@example.com",
        "referer": "https://dashboard.aetherapi.dev/",
    }
    (request,) = send("https://api.openai.com/v1/x", {**identifying, "authorization": "Bearer sk-provider"}).sent
    assert not set(identifying) & set(request.headers.keys())
    assert request.headers["authorization"] == "Bearer sk-provider"


def test_the_callers_gateway_key_in_a_header_is_refused() -> None:
    with pytest.raises(EgressDenied, match="carries the caller's gateway API key"):
        send(
            "https://api.openai.com/v1/x",
            {"authorization": "Bearer aether-sk-0123456789"},
            secret="aether-sk-0123456789",
        )


def test_the_callers_gateway_key_in_the_body_is_refused() -> None:
    with pytest.raises(EgressDenied, match="carries the caller's gateway API key"):
        send("https://api.openai.com/v1/x", body=b'{"key": "aether-sk-0123456789"}', secret="aether-sk-0123456789")


def test_a_streamed_body_the_guard_cannot_read_is_refused_not_sent() -> None:
    async def upload() -> AsyncIterator[bytes]:
        yield b'{"prompt": "contains aether-sk-0123456789"}'

    recorder = Recorder()

    async def go() -> None:
        token = caller_secrets.set(("aether-sk-0123456789",))
        try:
            transport = GuardedTransport(shipped_plan().egress["openai"], recorder)
            async with httpx.AsyncClient(transport=transport) as client:
                await client.post("https://api.openai.com/v1/x", content=upload())
        finally:
            caller_secrets.reset(token)

    with pytest.raises(EgressDenied, match="a stream the egress guard cannot check"):
        asyncio.run(go())
    assert recorder.sent == []


def test_the_callers_key_is_refused_when_it_is_only_the_second_value_of_a_repeated_header() -> None:
    recorder = Recorder()

    async def go() -> None:
        token = caller_secrets.set(("aether-sk-0123456789",))
        try:
            transport = GuardedTransport(shipped_plan().egress["openai"], recorder)
            async with httpx.AsyncClient(transport=transport) as client:
                headers = [("openai-project", "proj_1"), ("openai-project", "aether-sk-0123456789")]
                await client.post("https://api.openai.com/v1/x", headers=headers, content=b"{}")
        finally:
            caller_secrets.reset(token)

    with pytest.raises(EgressDenied, match="carries the caller's gateway API key"):
        asyncio.run(go())
    assert recorder.sent == []


def test_an_app_that_authenticates_with_the_first_of_two_authorization_headers_cannot_forward_that_key() -> None:
    """The middleware protects every credential value, so the key the app used is the key the guard refuses."""
    recorder = Recorder()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        first = next(value for name, value in scope["headers"] if name == b"authorization").decode()
        transport = GuardedTransport(shipped_plan().egress["openai"], recorder)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.post("https://api.openai.com/v1/x", json={"note": first})
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    plan = shipped_plan()
    middleware = PolicyMiddleware(app, plan, MemorySink(), gate=gate_for(plan))

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://gw") as client:
            headers = [("authorization", "Bearer aether-sk-0123456789"), ("authorization", "Bearer decoy-value-999")]
            return await client.post("/v1/chat/completions", content=b"{}", headers=headers)

    assert asyncio.run(go()).status_code == 500
    assert recorder.sent == []


def test_a_thread_outside_the_requests_context_cannot_send_an_in_flight_callers_key() -> None:
    inflight = Inflight(b"{}", ("aether-sk-0123456789",))
    enter(inflight)
    caught: list[BaseException] = []

    def worker() -> None:
        try:
            send("https://api.openai.com/v1/x", body=b'{"key": "aether-sk-0123456789"}')
        except EgressDenied as error:
            caught.append(error)

    try:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    finally:
        leave(inflight)
    assert len(caught) == 1
