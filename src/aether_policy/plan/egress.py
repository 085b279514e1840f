"""The egress guard: at the httpx client boundary, nothing leaves for a host or with a header the policy
does not declare, and the caller's own gateway credentials never leave at all.

It is an httpx transport, so every request the client makes passes through it, whatever code built it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from aether_policy._context import caller_secrets
from aether_policy.exceptions import EgressDenied
from aether_policy.model import Policy

# Headers any provider call needs; none identifies the end user.
PROTOCOL_HEADERS = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "accept",
        "accept-encoding",
        "connection",
        "user-agent",
        "authorization",
        "x-api-key",
        "anthropic-version",
        "anthropic-beta",
        "openai-organization",
        "openai-project",
    }
)
# Headers that carry user data: forwarded only to a recipient that the policy says receives that data.
DATA_HEADERS: Mapping[str, tuple[str, ...]] = {
    "x-forwarded-for": ("device", "device.ip_address"),
    "forwarded": ("device", "device.ip_address"),
    "x-real-ip": ("device", "device.ip_address"),
    "true-client-ip": ("device", "device.ip_address"),
    "cf-connecting-ip": ("device", "device.ip_address"),
    "cookie": ("cookies",),
}


@dataclass(frozen=True, slots=True)
class ProviderEgress:
    """Where one AI-provider recipient may be reached, and what may be sent to it."""

    recipient: str
    api: str
    hosts: tuple[str, ...]
    headers: frozenset[str]

    def allows_host(self, host: str, port: int | None) -> bool:
        for allowed in self.hosts:
            name, _, allowed_port = allowed.partition(":")
            if allowed_port and (port is None or int(allowed_port) != port):
                continue
            if name.startswith("*.") and host.endswith(name[1:]):
                return True
            if host == name:
                return True
        return False


def compile_egress(policy: Policy) -> dict[str, ProviderEgress]:
    rules = {}
    for name, recipient in policy.recipients.items():
        if recipient.provider is None:
            continue
        receives = set(recipient.receives)
        data_headers = {h for h, refs in DATA_HEADERS.items() if receives.intersection(refs)}
        rules[name] = ProviderEgress(
            name, recipient.provider.api, recipient.provider.hosts, PROTOCOL_HEADERS | data_headers
        )
    return rules


class GuardedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport so that every send is checked against one recipient's egress rule."""

    def __init__(self, rule: ProviderEgress, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.rule = rule
        self._inner = inner or httpx.AsyncHTTPTransport()
        self.stripped: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.check(request)
        return await self._inner.handle_async_request(request)

    def check(self, request: httpx.Request) -> None:
        """Refuse an undeclared host or a leaked caller secret; strip every undeclared header."""
        url = request.url
        if not self.rule.allows_host(url.host, url.port):
            raise EgressDenied(
                f"egress to {url.host}{':' + str(url.port) if url.port else ''} refused: recipient "
                f"'{self.rule.recipient}' declares only hosts {', '.join(self.rule.hosts)} "
                f"(policy recipients.{self.rule.recipient}.provider.hosts)"
            )
        for name in list(request.headers.keys()):
            if name.lower() not in self.rule.headers:
                del request.headers[name]
                self.stripped[name.lower()] = self.stripped.get(name.lower(), 0) + 1
        secrets = caller_secrets.get()
        if secrets:
            try:
                body = request.content
            except httpx.RequestNotRead:
                body = b""
            haystacks = [str(url).encode(), body, *(v.encode("latin-1") for v in request.headers.values())]
            for secret in secrets:
                needle = secret.encode()
                if any(needle in hay for hay in haystacks):
                    raise EgressDenied(
                        f"egress to '{self.rule.recipient}' refused: the request carries the caller's gateway "
                        "API key, which the policy never shares with a recipient"
                    )

    async def aclose(self) -> None:
        await self._inner.aclose()
