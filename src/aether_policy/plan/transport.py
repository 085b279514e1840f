"""The egress guard: at the httpx client boundary, nothing leaves for a host or with a header the policy
does not declare, and the caller's own gateway credentials never leave at all.

It is an httpx transport, so every request the client makes passes through it, whatever code built it.
"""

from __future__ import annotations

import httpx

from aether_policy._context import caller_secrets
from aether_policy.exceptions import EgressDenied
from aether_policy.plan.egress import ProviderEgress


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
