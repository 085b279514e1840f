"""The upstream request the gateway assembles itself is the one httpx's client would have built."""

from __future__ import annotations

import httpx
import pytest

from aether_policy.gateway.config import ProviderConfig
from aether_policy.gateway.upstream import Upstream
from tests.helpers import loopback_plan

CALLS = [
    ("POST", b'{"model":"gpt-4o"}', None),
    ("POST", b"", {"anthropic-beta": "tools-2024,files-2025", "User-Agent": "caller"}),
    ("GET", None, None),
]


def httpx_client(upstream: Upstream) -> httpx.AsyncClient:
    """The client the gateway used to send through: its base URL, its user agent, the protocol's auth."""
    headers = {"user-agent": "aether-policy-gateway", "content-type": "application/json"}
    headers.update(upstream.protocol.auth_headers(upstream.config.api_key()))
    return httpx.AsyncClient(base_url=upstream.config.base_url, headers=headers)


def without_encoding(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs lowercased, without Accept-Encoding (the egress guard sets it to `identity` either way)."""
    return sorted((k.lower(), v) for k, v in pairs if k.lower() != "accept-encoding")


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/", "http://127.0.0.1:9"])
@pytest.mark.parametrize("api", ["openai", "anthropic"])
@pytest.mark.parametrize(("method", "content", "headers"), CALLS)
def test_the_request_has_httpx_s_headers_and_url(
    api: str,
    base_url: str,
    method: str,
    content: bytes | None,
    headers: dict[str, str] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSTREAM_TEST_KEY", "sk-provider")
    provider = ProviderConfig(api=api, base_url=base_url, api_key_env="UPSTREAM_TEST_KEY", models=("x",))
    upstream = Upstream("p", provider, loopback_plan().egress["openai"])
    target = upstream._target("/chat/completions")
    built = upstream._headers(target, method, content, headers)
    expected = httpx_client(upstream).build_request(method, "/chat/completions", content=content, headers=headers)
    assert without_encoding(built) == without_encoding(expected.headers.multi_items())
    assert target.text == str(expected.url)
    assert (target.host, target.port) == (expected.url.host, expected.url.port)


def test_a_header_httpx_cannot_encode_is_refused_as_httpx_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_TEST_KEY", "sk-provider")
    provider = ProviderConfig(
        api="anthropic", base_url="http://127.0.0.1:9", api_key_env="UPSTREAM_TEST_KEY", models=("x",)
    )
    upstream = Upstream("p", provider, loopback_plan().egress["openai"])
    odd = {"anthropic-beta": "\u00e9t\u00e9"}
    with pytest.raises(UnicodeEncodeError):
        httpx_client(upstream).build_request("POST", "/v1/messages", content=b"{}", headers=odd)
    with pytest.raises(UnicodeEncodeError):
        upstream._headers(upstream._target("/v1/messages"), "POST", b"{}", odd)
