"""Calls to one provider, always through the policy's egress guard."""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from aether_policy.exceptions import EgressDenied
from aether_policy.gateway import protocols
from aether_policy.gateway._aiohttp import BytesTransport
from aether_policy.gateway.config import ProviderConfig
from aether_policy.gateway.errors import GatewayError
from aether_policy.plan.egress import ProviderEgress
from aether_policy.plan.transport import GuardedTransport


class Upstream:
    def __init__(
        self,
        name: str,
        provider: ProviderConfig,
        rule: ProviderEgress,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = provider
        self.protocol = protocols.get(provider.api)
        self.api = self.protocol.name
        self.stores_content = rule.stores_content
        # aiohttp's connection pool under httpx's API: httpcore's pool costs about 1 ms per request at 16
        # concurrent connections (it re-checks every pooled socket per request); the guard is the same either way.
        self.guard = GuardedTransport(rule, transport or BytesTransport())
        headers = {"user-agent": "aether-policy-gateway", "content-type": "application/json"}
        headers.update(self.protocol.auth_headers(provider.api_key()))
        self.client = httpx.AsyncClient(
            base_url=provider.base_url,
            trust_env=False,  # no proxy from the environment may sit between us and a declared host
            transport=self.guard,
            headers=headers,
            timeout=httpx.Timeout(provider.timeout, connect=min(10.0, provider.timeout)),
        )
        self._urls: dict[str, httpx.URL] = {}
        self._timeout = self.client.timeout.as_dict()
        self._default_headers = list(self.client.headers.raw)

    @contextmanager
    def _failures(self, stage: str) -> Iterator[None]:
        """httpx's errors as the gateway's answers: 504 for a timeout, 502 for anything else.

        A refused connection is a 502, not a timeout. httpx-aiohttp maps aiohttp's refusal to `ConnectTimeout`
        (it matches aiohttp's broader `ClientConnectionError` first), so the distinction is made on the cause
        the error carries, not on its class alone.
        """
        try:
            yield
        except EgressDenied as error:
            raise GatewayError(502, f"upstream call refused by the privacy policy: {error}", "upstream_error") from None
        except httpx.TimeoutException as error:
            if _refused(error):
                raise GatewayError(
                    502,
                    f"provider '{self.name}' refused the connection",
                    "upstream_error",
                    "connection_refused",
                    provider_failed=True,
                ) from None
            raise GatewayError(504, f"provider '{self.name}' timed out", "upstream_timeout", "timeout") from None
        except httpx.ConnectError:
            raise GatewayError(
                502,
                f"provider '{self.name}' refused the connection",
                "upstream_error",
                "connection_refused",
                provider_failed=True,
            ) from None
        except httpx.HTTPError as error:
            message = f"provider '{self.name}' {stage} ({type(error).__name__})"
            raise GatewayError(502, message, "upstream_error", provider_failed=True) from None

    async def open(
        self,
        payload: Mapping[str, Any],
        stream: bool,
        path: str,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> httpx.Response:
        """Send the request; the response's body is read unless streaming. Raises GatewayError on failure."""
        content: bytes | None = None
        if method == "POST":
            try:
                # allow_nan=False: NaN can still come from a translated tool call's `arguments` string, and JSON
                # has no NaN; the provider would reject it after the call was made, or worse, read it.
                content = json.dumps(payload, allow_nan=False).encode()
            except ValueError:
                raise GatewayError(
                    400, "the request has a number JSON cannot carry (NaN or Infinity)", "invalid_request_error"
                ) from None
        attempt = 0
        while True:
            request = self._request(method, path, content, headers)
            with self._failures("unreachable"):
                response = await self._send(request)
            delay = self._retry_delay(response, attempt)
            if delay is None:
                break
            await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1
        if response.status_code >= 400:
            await self._raise_for_status(response)
        if not stream:
            try:
                with self._failures("failed mid-response"):
                    await response.aread()
            finally:
                await response.aclose()
        return response

    def _request(
        self, method: str, path: str, content: bytes | None, headers: Mapping[str, str] | None
    ) -> httpx.Request:
        """What `client.build_request` builds, with the headers httpx would set (Host first, the client's own,
        the call's, Content-Length), assembled from parts computed once: httpx's own assembly re-reads the
        header list once per header it sets. The URL of each path is joined once too (a bounded cache; Gemini
        paths name the model). The body is read, as with `content=`, so the egress guard can check it."""
        url = self._urls.get(path)
        if url is None:
            url = self.client.build_request(method, path).url
            if len(self._urls) < 1024:
                self._urls[path] = url
        raw = [(b"Host", url.netloc), *self._default_headers]
        if headers:
            # As `Headers.update`: a name the call sets replaces the client's value; both are ASCII, as httpx
            # requires of a header given as text (it raises UnicodeEncodeError otherwise, and so does this).
            names = {name.lower().encode("ascii") for name in headers}
            raw = [pair for pair in raw if pair[0].lower() not in names]
            raw += [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
        if content is not None:
            raw.append((b"Content-Length", str(len(content)).encode()))
        elif method in ("POST", "PUT", "PATCH"):
            raw.append((b"Content-Length", b"0"))
        stream = httpx.ByteStream(content or b"")
        request = httpx.Request(method, url, headers=raw, stream=stream, extensions={"timeout": self._timeout})
        request.read()
        return request

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """`client.send(request, stream=True)` without what the gateway never uses and pays for per request:
        auth flows, redirect handling (off: a provider's redirect is its answer), and the client's cookie jar
        (whose `cookie` header the egress guard strips as undeclared). The transport is
        the same egress guard, so every request still passes through it; the event hooks (metrics) still run."""
        if self.client.is_closed:
            raise RuntimeError("the upstream client is closed")
        for hook in self.client.event_hooks["request"]:
            await hook(request)
        response = await self.guard.handle_async_request(request)
        response.request = request
        try:
            for hook in self.client.event_hooks["response"]:
                await hook(response)
        except BaseException:
            await response.aclose()
            raise
        return response

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before sending the same request again, or None to answer with this response.

        Only a provider's own "try again" is retried (429, 5xx, Anthropic's 529), never a timeout: the caller
        has already waited once. The wait is the provider's `retry-after-ms` or `Retry-After` when it gives one,
        else exponential backoff; a provider asking for longer than `max_retry_wait` is answered at once.
        """
        if response.status_code not in RETRYABLE or attempt >= self.config.retries:
            return None
        asked = _retry_after(response.headers)
        if asked is None:
            return float(BACKOFF_SECONDS * 2**attempt)
        return asked if asked <= self.config.max_retry_wait else None

    async def _raise_for_status(self, response: httpx.Response) -> None:
        """An upstream error, described by status and error type only: its message often quotes the prompt, and
        its type is relayed only if the protocol defines it (a proxy or provider may echo content anywhere)."""
        status = response.status_code
        kind = "unknown"
        try:
            await response.aread()
            kind = self.protocol.upstream_error_type(response.json())
        except (ValueError, RecursionError, httpx.HTTPError):
            pass  # an error body we cannot read still gets its status
        finally:
            await response.aclose()
        message = f"provider '{self.name}' returned {status} ({kind})"
        if status == 429:
            raise GatewayError(429, message, "rate_limit_error", "rate_limited", provider_failed=True)
        if status in (400, 404, 409, 413, 422):
            raise GatewayError(400, message, "invalid_request_error", "upstream_rejected")
        raise GatewayError(502, message, "upstream_error", provider_failed=status >= 500)

    async def aclose(self) -> None:
        await self.client.aclose()


RETRYABLE = frozenset({429, 500, 502, 503, 504, 529})
BACKOFF_SECONDS = 0.1
"""The first retry's wait when the provider names none; each further retry waits twice as long."""


def _retry_after(headers: httpx.Headers) -> float | None:
    """The provider's requested wait: `retry-after-ms` (OpenAI), or `Retry-After` in seconds or as a date."""
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        if value.strip().isdigit():
            return float(value.strip())
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (ValueError, TypeError, OverflowError):
        return None  # an unreadable value is no request at all: plain backoff


def _refused(error: BaseException) -> bool:
    """Whether a connect timeout was really a refused connection (the cause chain says so)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
