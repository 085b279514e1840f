"""The upstream request the gateway assembles itself is the one httpx's client would have built."""

from __future__ import annotations

import pytest

from aether_policy.gateway.config import ProviderConfig
from aether_policy.gateway.upstream import Upstream
from tests.helpers import loopback_plan

CALLS = [
    ("POST", b'{"model":"gpt-4o"}', None),
    ("POST", b"", {"anthropic-beta": "tools-2024,files-2025", "User-Agent": "caller"}),
    ("GET", None, None),
]


@pytest.mark.parametrize("api", ["openai", "anthropic"])
@pytest.mark.parametrize(("method", "content", "headers"), CALLS)
def test_the_request_has_httpx_s_headers_body_and_url(
    api: str, method: str, content: bytes | None, headers: dict[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTREAM_TEST_KEY", "sk-provider")
    provider = ProviderConfig(api=api, base_url="http://127.0.0.1:9/v1", api_key_env="UPSTREAM_TEST_KEY", models=("x",))
    upstream = Upstream("p", provider, loopback_plan().egress["openai"])
    built = upstream._request(method, "/chat/completions", content, headers)
    expected = upstream.client.build_request(method, "/chat/completions", content=content, headers=headers)
    assert sorted(built.headers.multi_items()) == sorted(expected.headers.multi_items())
    assert (built.method, built.url, built.content) == (expected.method, expected.url, expected.content)


def test_a_header_httpx_cannot_encode_is_refused_as_httpx_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_TEST_KEY", "sk-provider")
    provider = ProviderConfig(
        api="anthropic", base_url="http://127.0.0.1:9", api_key_env="UPSTREAM_TEST_KEY", models=("x",)
    )
    upstream = Upstream("p", provider, loopback_plan().egress["openai"])
    odd = {"anthropic-beta": "\u00e9t\u00e9"}
    with pytest.raises(UnicodeEncodeError):
        upstream.client.build_request("POST", "/v1/messages", content=b"{}", headers=odd)
    with pytest.raises(UnicodeEncodeError):
        upstream._request("POST", "/v1/messages", b"{}", odd)
