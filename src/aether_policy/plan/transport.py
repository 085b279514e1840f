"""The egress guard: at the httpx client boundary, nothing leaves for a host or with a header the policy
does not declare, and the caller's own gateway credentials never leave at all.

It is an httpx transport, so every request the client makes passes through it, whatever code built it.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import cast

import httpx

from aether_policy._context import Inflight, inflight_content
from aether_policy.plan.egress import ProviderEgress
from aether_policy.plan.guard import EgressGuard


class GuardedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport so that every send is checked against one recipient's egress rule (`EgressGuard`).

    It fails closed: a body it cannot read (a streamed upload) is refused, not sent unchecked. The response
    is registered for log redaction as it is read, so code that logs it before answering is redacted too; it
    asks for it uncompressed so that what it registers is the text the app will see.
    """

    def __init__(self, rule: ProviderEgress, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.guard = EgressGuard(rule)
        self._inner = inner or httpx.AsyncHTTPTransport()

    @property
    def rule(self) -> ProviderEgress:
        return self.guard.rule

    @property
    def stripped(self) -> dict[str, int]:
        return self.guard.stripped

    @property
    def on_denied(self) -> Callable[[str], None] | None:
        return self.guard.on_denied

    @on_denied.setter
    def on_denied(self, hook: Callable[[str], None] | None) -> None:
        self.guard.on_denied = hook

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.check(request)
        response = await self._inner.handle_async_request(request)
        inflight = inflight_content.get()
        if inflight is not None:
            try:
                # A transport that read it already: the whole answer, so its held-back tail is registered too.
                await inflight.expose("upstream", response.content, whole=True)
            except httpx.ResponseNotRead:
                encoding = response.headers.get("content-encoding", "").strip().lower()
                response.stream = _ExposedStream(response.stream, inflight, encoding)
        return response

    def check(self, request: httpx.Request) -> None:
        """Refuse an undeclared host, an unread body or a leaked caller secret; strip every undeclared header."""
        url = request.url
        try:
            body: bytes | None = request.content
        except httpx.RequestNotRead:
            body = None
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        kept = self.guard.admit(str(url), url.host, url.port, headers, body)
        request.headers = httpx.Headers([(name.encode("latin-1"), value.encode("latin-1")) for name, value in kept])


class _ExposedStream(httpx.AsyncByteStream):
    """A response body that registers each chunk for log redaction before the app gets it (decompressed,
    when an upstream compresses although asked not to, so that what is registered is what the app reads)."""

    def __init__(
        self, inner: httpx.AsyncByteStream | httpx.SyncByteStream, inflight: Inflight, encoding: str = ""
    ) -> None:
        self._inner = inner
        self._inflight = inflight
        self._decompress = (
            zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding in ("gzip", "x-gzip", "deflate") else None
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in cast(AsyncIterable[bytes], self._inner):  # an async transport's response
                await self._inflight.expose("upstream", self._readable(chunk))
                yield chunk
        finally:
            # Ended, cut or abandoned: what the text held back for a next chunk is registered now.
            self._inflight.finish("upstream")

    def _readable(self, chunk: bytes) -> bytes:
        if self._decompress is None:
            return chunk
        try:
            return self._decompress.decompress(chunk)
        except zlib.error:  # not what it said it was: httpx will fail on it too; register the bytes as they are
            self._decompress = None
            return chunk

    async def aclose(self) -> None:
        # Closed, maybe before its end (the reader left): `__aiter__`'s own `finally` runs only when the garbage
        # collector finds the generator it left, a loop turn later, so the held-back tail is registered here too.
        self._inflight.finish("upstream")
        if isinstance(self._inner, httpx.AsyncByteStream):
            await self._inner.aclose()
