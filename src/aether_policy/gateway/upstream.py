"""Calls to one provider, always through the policy's egress guard."""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from yarl import URL

from aether_policy._context import inflight_content
from aether_policy.exceptions import EgressDenied
from aether_policy.gateway import protocols
from aether_policy.gateway.config import ProviderConfig
from aether_policy.gateway.errors import GatewayError
from aether_policy.gateway.outbound import AiohttpWire, Answer, HttpxWire, UpstreamFailure, Wire
from aether_policy.plan.egress import ProviderEgress
from aether_policy.plan.guard import EgressGuard


class Upstream:
    """One provider: its protocol, its egress guard, and the wire its calls go over (aiohttp, or an httpx
    transport when one is given). Every request is built here and admitted by the guard before it is sent;
    every answer's body is registered for log redaction before the gateway reads it."""

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
        self.guard = EgressGuard(rule)
        self.wire: Wire = AiohttpWire(provider.max_connections) if transport is None else HttpxWire(transport)
        self.timeout = httpx.Timeout(provider.timeout, connect=min(10.0, provider.timeout))
        """A stream's: after its headers, each read has the provider's `timeout`."""
        self._whole_timeout = httpx.Timeout(provider.timeout, connect=min(10.0, provider.timeout), read=None)
        """An answer read whole is bounded by its attempt's deadline (`open`): a per-read timer as well would be
        armed and re-armed on every chunk for nothing."""
        self.on_answered: list[Callable[[float], None]] = []
        """Called with the seconds from sending to the answer's headers (metrics)."""
        base = httpx.URL(provider.base_url)
        # As httpx's client keeps its base URL: ending in `/`, so that a path is appended to it.
        self._base = base if base.raw_path.endswith(b"/") else base.copy_with(raw_path=base.raw_path + b"/")
        # What httpx's client sends by default, with the gateway's own user agent and the protocol's auth.
        self._default_headers = [
            ("Accept", "*/*"),
            ("Accept-Encoding", "identity"),
            ("Connection", "keep-alive"),
            ("User-Agent", "aether-policy-gateway"),
            ("Content-Type", "application/json"),
            *self.protocol.auth_headers(provider.api_key()).items(),
        ]
        self._targets: dict[str, _Target] = {}
        self._closed = False

    def _failure(self, error: EgressDenied | UpstreamFailure, stage: str) -> GatewayError:
        """A failed call as the gateway's answer: 504 for a timeout, 502 for anything else (a refused
        connection is a 502 too, whatever the client called it). A plain function the callers raise from,
        not a context manager: one of those costs a generator per call on every request's path."""
        if isinstance(error, EgressDenied):
            return GatewayError(502, f"upstream call refused by the privacy policy: {error}", "upstream_error")
        if error.kind == "refused":
            return GatewayError(
                502,
                f"provider '{self.name}' refused the connection",
                "upstream_error",
                "connection_refused",
                provider_failed=True,
            )
        if error.kind == "timeout":
            return GatewayError(504, f"provider '{self.name}' timed out", "upstream_timeout", "timeout")
        message = f"provider '{self.name}' {stage} ({error.name})"
        return GatewayError(502, message, "upstream_error", provider_failed=True)

    async def open(
        self,
        payload: Mapping[str, Any],
        stream: bool,
        path: str,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> Answer:
        """Send the request; the answer's body is read unless streaming. Raises GatewayError on failure.

        Each attempt has `timeout` seconds in all, not per read: a provider dripping a byte now and then would
        otherwise hold the caller (and the answer read so far) for as long as it liked. A stream's deadline ends
        with its headers; from then on each read has `timeout` (a long answer may stream for minutes).
        """
        content: bytes | None = None
        if method == "POST":
            try:
                # allow_nan=False: NaN can still come from a translated tool call's `arguments` string, and JSON
                # has no NaN; the provider would reject it after the call was made, or worse, read it.
                content = _PAYLOAD_ENCODER.encode(payload).encode()
            except ValueError:
                raise GatewayError(
                    400, "the request has a number JSON cannot carry (NaN or Infinity)", "invalid_request_error"
                ) from None
        deadline = asyncio.timeout(None)
        try:
            async with deadline:
                return await self._attempts(deadline, method, path, content, headers, stream)
        except TimeoutError:
            if not deadline.expired():
                raise  # not ours (a deadline of the caller's)
            raise self._failure(UpstreamFailure("timeout", "AnswerDeadline"), "timed out") from None

    async def _attempts(
        self,
        deadline: asyncio.Timeout,
        method: str,
        path: str,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        stream: bool,
    ) -> Answer:
        loop = asyncio.get_running_loop()
        attempt, waited = 0, 0.0
        while True:
            deadline.reschedule(loop.time() + self.config.timeout)
            try:
                response = await self._send(method, path, content, headers, stream)
            except (EgressDenied, UpstreamFailure) as error:
                raise self._failure(error, "unreachable") from None
            delay = self._retry_delay(response, attempt, self.config.max_retry_wait - waited)
            if delay is None:
                break
            deadline.reschedule(None)  # the wait the provider asked for is not its answer's time
            await response.aclose()
            await asyncio.sleep(delay)
            attempt, waited = attempt + 1, waited + delay
        if response.status_code >= 300:  # a redirect is not followed: it is no answer to relay either
            # Its status is the answer, whatever its body does: the body has what is left of the deadline, and
            # running out of it only loses the error's type (a 429 stays a 429, a 5xx may still fall back).
            until = deadline.when()
            deadline.reschedule(None)
            await self._raise_for_status(response, until)
        if stream:
            deadline.reschedule(None)
            return response
        try:
            await response.aread()
        except UpstreamFailure as error:
            raise self._failure(error, "failed mid-response") from None
        finally:
            await response.aclose()
        return response

    def _headers(
        self, target: _Target, method: str, content: bytes | None, headers: Mapping[str, str] | None
    ) -> list[tuple[str, str]]:
        """The headers httpx's client would send (Host first, the client's own, the call's, Content-Length),
        before the guard strips what the recipient is not sent."""
        raw = [("Host", target.netloc), *self._default_headers]
        if headers:
            # As httpx's `Headers.update`: a name the call sets replaces the client's value. Both must be
            # ASCII, as httpx requires of a header given as text (UnicodeEncodeError otherwise).
            names = {name.lower() for name in headers}
            for name, value in headers.items():
                name.encode("ascii")
                value.encode("ascii")
            raw = [pair for pair in raw if pair[0].lower() not in names]
            raw += headers.items()
        if content is not None:
            raw.append(("Content-Length", str(len(content))))
        elif method in ("POST", "PUT", "PATCH"):
            raw.append(("Content-Length", "0"))
        return raw

    def _target(self, path: str) -> _Target:
        """Where a path goes: the URL httpx would join from the base URL (a bounded cache; Gemini paths name
        the model), and the host and port the client will connect to, which the guard checks."""
        target = self._targets.get(path)
        if target is None:
            try:
                joined = httpx.URL(path)
                if joined.is_relative_url:  # as httpx's client merges a URL into its base URL
                    joined = self._base.copy_with(raw_path=self._base.raw_path + joined.raw_path.lstrip(b"/"))
            except httpx.InvalidURL:  # a path past httpx's 64 KiB, from a very long model name (Gemini)
                raise GatewayError(
                    400,
                    f"the request cannot be sent to provider '{self.name}': its URL would be too long",
                    "invalid_request_error",
                ) from None
            url = URL(str(joined), encoded=True)
            if url.user is not None or url.password is not None:
                # The client would send them as an Authorization header the guard never saw (config refuses
                # such a base_url; this holds for a provider built without it).
                raise EgressDenied(f"egress to '{self.name}' refused: its URL carries a user name or password")
            target = _Target(url, str(url), url.raw_host or "", url.explicit_port, joined.netloc.decode("ascii"))
            if len(self._targets) < 1024 and len(path) <= 512:  # a long path is the caller's model name
                self._targets[path] = target
        return target

    async def _send(
        self, method: str, path: str, content: bytes | None, headers: Mapping[str, str] | None, stream: bool
    ) -> Answer:
        """Admit the request through the egress guard, send it, and register the answer for log redaction as
        it is read (whole, or chunk by chunk when it streams). Timed for `on_answered`."""
        if self._closed:
            raise RuntimeError("the upstream client is closed")
        target = self._target(path)
        admitted = self.guard.admit(
            target.text, target.host, target.port, self._headers(target, method, content, headers), content
        )
        started = time.perf_counter()
        timeout = self.timeout if stream else self._whole_timeout
        answer = await self.wire.send(method, target.url, admitted, content, timeout)
        if self.on_answered:
            elapsed = time.perf_counter() - started
            for hook in self.on_answered:
                hook(elapsed)
        inflight = inflight_content.get()
        if inflight is not None:
            answer.expose_to(inflight)
        return answer

    def _retry_delay(self, response: Answer, attempt: int, left: float) -> float | None:
        """Seconds to wait before sending the same request again, or None to answer with this response.

        Only a provider's own "try again" is retried (429, 5xx, Anthropic's 529), never a timeout: the caller
        has already waited once. The wait is the provider's `retry-after-ms` or `Retry-After` when it gives one,
        else exponential backoff. `max_retry_wait` bounds a call's waits in all (`left` is what remains of it):
        a provider asking each time for a wait just under it would otherwise hold the caller `retries` times
        as long, and a wait that does not fit is not taken: the caller is answered at once.
        """
        if response.status_code not in RETRYABLE or attempt >= self.config.retries:
            return None
        asked = _retry_after(response.headers)
        delay = float(BACKOFF_SECONDS * 2**attempt) if asked is None else asked
        return delay if delay <= left + 1e-9 else None  # a float sum: 0.3 - 0.1 is 0.19999999999999998

    async def _raise_for_status(self, response: Answer, until: float | None = None) -> None:
        """An upstream error, described by status and error type only: its message often quotes the prompt, and
        its type is relayed only if the protocol defines it (a proxy or provider may echo content anywhere).
        Its body is read until `until` (the loop's time), if given."""
        status = response.status_code
        kind = "unknown"
        try:
            async with asyncio.timeout_at(until):
                await response.aread()
            kind = self.protocol.upstream_error_type(response.json())
        except (ValueError, RecursionError, UpstreamFailure, TimeoutError):
            pass  # an error body we cannot read (or not in time) still gets its status
        finally:
            await response.aclose()
        message = f"provider '{self.name}' returned {status} ({kind})"
        if status == 429:
            raise GatewayError(
                429,
                message,
                "rate_limit_error",
                "rate_limited",
                provider_failed=True,
                retry_after=_caller_wait(response),
            )
        if status in (400, 404, 409, 413, 422):
            raise GatewayError(400, message, "invalid_request_error", "upstream_rejected")
        raise GatewayError(502, message, "upstream_error", provider_failed=status >= 500)

    async def aclose(self) -> None:
        self._closed = True
        await self.wire.aclose()


_PAYLOAD_ENCODER = json.JSONEncoder(allow_nan=False)
"""`json.dumps(payload, allow_nan=False)`, with the encoder built once instead of per call."""

RETRYABLE = frozenset({429, 500, 502, 503, 504, 529})
BACKOFF_SECONDS = 0.1
"""The first retry's wait when the provider names none; each further retry waits twice as long."""


def _retry_after(headers: Mapping[str, str]) -> float | None:
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


def _caller_wait(response: Answer) -> int | None:
    """The wait a rate-limited provider asked for, as the whole seconds of the caller's `Retry-After` (rounded
    up, at most a day): an SDK that honours it does not come back before the provider would answer. Nothing
    when the provider named no wait, or none a number can hold."""
    asked = _retry_after(response.headers)
    if asked is None or not math.isfinite(asked):
        return None
    return min(MAX_CALLER_WAIT, math.ceil(asked))


MAX_CALLER_WAIT = 86400


@dataclass(frozen=True, slots=True)
class _Target:
    url: URL
    text: str
    host: str
    port: int | None
    netloc: str
