"""The egress guard: only declared hosts, no identifying headers, never the caller's key."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from aether_policy._context import caller_secrets
from aether_policy.exceptions import EgressDenied
from aether_policy.plan import GuardedTransport
from tests.helpers import shipped_plan


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
