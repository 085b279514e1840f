"""The wire under `Upstream`: one request out, one answer back, and nothing between them but the client itself.

The gateway used to send through an httpx client whose transport was aiohttp: every request became an httpx
`Request`, then aiohttp's own, and every answer an aiohttp response wrapped in an httpx `Response`. The
profile of `serve` under load put httpx's share of a request's CPU at 22%, and still at 7% once its client
machinery was bypassed. `AiohttpWire` sends straight through one aiohttp session; `HttpxWire` carries the same calls
over any httpx transport (`explain`'s dry run, which never sends). Neither checks anything: `Upstream`
holds the egress guard and is the only caller of its wire, so nothing is sent that the guard did not admit.

Both raise `UpstreamFailure` and nothing else for a failed call, whichever client failed, so the gateway's
502 and 504 answers are the same over either.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol

import aiohttp
import httpx
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from yarl import URL

from aether_policy._context import Inflight

Failure = Literal["timeout", "refused", "broken"]

MAX_ANSWER_BYTES = 256 * 1024 * 1024
"""The most of a provider's answer read whole (decompressed): well above any chat or embeddings answer, and a
bound on what a compressed answer can make the gateway hold. A streamed answer is passed on, never held."""


class UpstreamFailure(Exception):
    """A call that did not complete: timed out, refused, or broken (reset, malformed HTTP). Carries only the
    client's exception class name, never its message (which may quote what was sent)."""

    def __init__(self, kind: Failure, name: str) -> None:
        super().__init__(f"{kind} ({name})")
        self.kind = kind
        self.name = name


class Answer:
    """A provider's answer: status, headers, and the body as bytes (read whole) or as chunks as they land."""

    __slots__ = ("_chunks", "_close", "_inflight", "content", "headers", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        chunks: AsyncIterator[bytes],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = b""
        self._chunks: AsyncIterator[bytes] | None = chunks
        self._close: Callable[[], Awaitable[None]] | None = close
        self._inflight: Inflight | None = None

    def expose_to(self, inflight: Inflight) -> None:
        """Register the body for the request's log redaction as it is read: whole, or chunk by chunk, always
        before the reader gets it, so code that logs it is redacted too."""
        self._inflight = inflight

    async def aread(self) -> bytes:
        """The whole body (kept in `content`)."""
        if self._chunks is not None:
            parts, size = [], 0
            async for chunk in self._chunks:
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:  # a decompression bomb, or a provider that never stops
                    raise UpstreamFailure("broken", "AnswerTooLarge")
                parts.append(chunk)
            self._chunks = None
            content = b"".join(parts)
            if self._inflight is not None:
                await self._inflight.expose("upstream", content, whole=True)
            self.content = content
        return self.content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk, as it arrives (once; or the body already read)."""
        if self._chunks is None:
            if self.content:
                yield self.content
            return
        chunks, self._chunks = self._chunks, None
        inflight = self._inflight
        try:
            async for chunk in chunks:
                if chunk:
                    if inflight is not None:
                        await inflight.expose("upstream", chunk)
                    yield chunk
        finally:
            # Ended, cut by the provider or left by the reader: no more of it will come, so what it held back
            # for more (an escape cut at the last chunk's end) is registered now, before anyone logs the cut.
            if inflight is not None:
                inflight.finish("upstream")

    def json(self) -> Any:
        return json.loads(self.content)

    async def aclose(self) -> None:
        # The answer is done with: what its text held back for a next chunk is registered now. A reader that
        # stops in an `async for` (a relay closed while it writes to a caller who left) does not close
        # `aiter_bytes`, whose own `finally` then runs only when the garbage collector finds it, a loop turn later.
        if self._inflight is not None:
            self._inflight.finish("upstream")
        close, self._close = self._close, None
        if close is not None:
            await close()


class Wire(Protocol):
    async def send(
        self, method: str, url: URL, headers: list[tuple[str, str]], body: bytes | None, timeout: httpx.Timeout
    ) -> Answer: ...

    async def aclose(self) -> None: ...


class AiohttpWire:
    """aiohttp's connection pool: httpcore's costs about 1 ms per request at 16 concurrent connections (it
    re-checks every pooled socket per request). No proxy from the environment (a declared host is reached
    directly), no redirects followed (`Upstream` answers a 3xx with a 502), no cookie jar (the guard would
    strip its header anyway), and the answer decompressed if a provider compresses although asked not to.

    At most `max_connections` are open at once: without a bound, a burst of callers (or one slow provider
    holding every connection) opens sockets until the process runs out of file descriptors, and then it can
    no longer accept anyone. A request beyond the bound waits for a connection, within its timeout."""

    def __init__(self, max_connections: int = 256) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=_NoStrayAnswers(limit=self.max_connections),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=True,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
        return self._session

    def _timeout(self, timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
        key = (timeout.connect, timeout.read, timeout.pool)
        found = self._timeouts.get(key)
        if found is None:
            # As httpx reads them: connecting, each read, and waiting for a pooled connection.
            found = self._timeouts[key] = aiohttp.ClientTimeout(sock_connect=key[0], sock_read=key[1], connect=key[2])
        return found

    async def send(
        self, method: str, url: URL, headers: list[tuple[str, str]], body: bytes | None, timeout: httpx.Timeout
    ) -> Answer:
        with _AIOHTTP_FAILURES:
            response = await self._client().request(
                method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                compress=False,
                timeout=self._timeout(timeout),
            )
        return Answer(response.status, response.headers, _aiohttp_chunks(response), _aiohttp_closer(response))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _NoStrayAnswers(aiohttp.TCPConnector):
    """aiohttp's connection pool, except that a pooled connection holding an answer nobody asked for is closed
    instead of reused.

    An HTTP/1.1 answer is tied to its request only by its place on the connection. A provider (or a proxy before
    it) that writes a second answer after the first one's declared length leaves it parsed and queued on the idle
    connection, and aiohttp, which checks only that a pooled connection is still open, hands it to the next
    request: that caller gets the stray answer, the next caller this one's, each off by one from then on,
    whoever's key they call with. (httpcore expires an idle connection that has become readable for the same
    reason.) A stray answer read together with the real one is caught by aiohttp itself when the connection is
    released; this catches one that arrives while the connection waits in the pool.
    """

    async def _get(self, key: ConnectionKey, traces: list[Trace]) -> Connection | None:
        while True:
            connection = await super()._get(key, traces)
            if connection is None or connection.protocol is None or not connection.protocol.should_close:
                return connection
            connection.close()  # closed, not pooled again: the next pooled connection is tried


async def _aiohttp_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    with _AIOHTTP_FAILURES:
        async for chunk in response.content.iter_any():
            yield chunk


def _aiohttp_closer(response: aiohttp.ClientResponse) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        # A body read to its end gives the connection back to the pool; one left unread closes it.
        if response.content.is_eof():
            response.release()
        else:
            response.close()

    return close


class _AiohttpFailures:
    """aiohttp's exceptions as `UpstreamFailure`: a refused connection is `refused` (also when aiohttp
    reports it as a connect timeout), any timeout `timeout`, anything else the client raised `broken`."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        # ValueError too: aiohttp refuses a request it cannot write (a header it will not combine) with one.
        if error is None or not isinstance(error, (aiohttp.ClientError, TimeoutError, OSError, ValueError)):
            return
        name = type(error).__name__
        if _refused(error):
            raise UpstreamFailure("refused", name) from None
        if isinstance(error, TimeoutError):  # aiohttp's ServerTimeoutError and ConnectionTimeoutError too
            raise UpstreamFailure("timeout", name) from None
        if isinstance(error, aiohttp.ClientConnectorError):
            raise UpstreamFailure("refused", name) from None
        raise UpstreamFailure("broken", name) from None


_AIOHTTP_FAILURES = _AiohttpFailures()  # stateless: one serves every call


class HttpxWire:
    """The same calls over an httpx transport (which may never send: `explain`'s dry run)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def send(
        self, method: str, url: URL, headers: list[tuple[str, str]], body: bytes | None, timeout: httpx.Timeout
    ) -> Answer:
        request = httpx.Request(
            method,
            str(url),
            headers=headers,
            content=body or b"",
            extensions={"timeout": timeout.as_dict()},
        )
        with _HTTPX_FAILURES:
            response = await self.transport.handle_async_request(request)
        response.request = request
        return Answer(response.status_code, response.headers, _httpx_chunks(response), response.aclose)

    async def aclose(self) -> None:
        await self.transport.aclose()


async def _httpx_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    with _HTTPX_FAILURES:
        async for chunk in response.aiter_bytes():  # decoded, as aiohttp's
            yield chunk


class _HttpxFailures:
    """httpx's exceptions as `UpstreamFailure`, mapped as aiohttp's are."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if error is None or not isinstance(error, httpx.HTTPError):
            return
        name = type(error).__name__
        if _refused(error) or isinstance(error, httpx.ConnectError):
            raise UpstreamFailure("refused", name) from None
        if isinstance(error, httpx.TimeoutException):
            raise UpstreamFailure("timeout", name) from None
        raise UpstreamFailure("broken", name) from None


_HTTPX_FAILURES = _HttpxFailures()


def _refused(error: BaseException) -> bool:
    """Whether a failure was really a refused connection (the cause chain says so)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


__all__ = ["AiohttpWire", "Answer", "HttpxWire", "UpstreamFailure", "Wire"]
