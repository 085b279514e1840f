"""httpx-aiohttp's transport with less per-request conversion: what the gateway sends is always bytes.

httpx-aiohttp hands aiohttp the httpx `Headers` object (re-decoded pair by pair into aiohttp's multidict),
builds a new `ClientTimeout` per request, and reads the response in fixed 16 KiB chunks through a context
manager per chunk. Here headers go as the raw pairs, the timeout is built once per distinct setting, and the
body is read as it arrives (`iter_any`: a streamed answer's chunks are passed on as soon as they land).
Errors are mapped exactly as httpx-aiohttp maps them, so the gateway's 502/504 answers are unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from aiohttp import ClientResponse, ClientSession, ClientTimeout
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

_HTTP11 = b"HTTP/1.1"


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with map_aiohttp_exceptions():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        with map_aiohttp_exceptions():
            await self._response.__aexit__(None, None, None)


class BytesTransport(AiohttpTransport):
    """An `AiohttpTransport` for requests whose body is bytes (a stream is refused by the egress guard first)."""

    def __init__(self) -> None:
        super().__init__(retries=0, trust_env=False)
        self._timeouts: dict[tuple[float | None, ...], ClientTimeout] = {}

    def _timeout(self, request: httpx.Request) -> ClientTimeout:
        wanted = request.extensions.get("timeout", {})
        key = (wanted.get("connect"), wanted.get("read"), wanted.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = ClientTimeout(sock_connect=key[0], sock_read=key[1], connect=key[2])
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.extensions.get("sni_hostname") is not None:
            return await super().handle_async_request(request)
        if not isinstance(self.client, ClientSession):
            self.client = self.get_client()
        session = self.client
        with map_aiohttp_exceptions():
            response = await session.request(
                request.method,
                str(request.url),
                headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw],
                data=request.content or None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._timeout(request),
            )
        extensions = {"http_version": _HTTP11}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions=extensions,
        )
