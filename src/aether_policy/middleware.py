"""PolicyMiddleware: the policy enforced around any ASGI app.

Pure ASGI (no BaseHTTPMiddleware): response bodies, SSE included, pass through chunk by chunk as the app
sends them. Per request it records one usage event through the plan's schema (even when the client
disconnects or the app raises), lets the flagger judge the content, and hands flagged content to the
prompt gate, the only way content can be stored. Everything it precomputes is computed in __init__.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aether_policy._context import Inflight, caller_secrets, enter, inflight_content, leave
from aether_policy._stepping import within
from aether_policy._useragent import browser_family_and_major
from aether_policy.cookie_lifetime import cap_lifetime
from aether_policy.credentials import secrets_of
from aether_policy.derive import TrustedProxies, label, method_of, model_name, route_from_routes, route_of
from aether_policy.flagger import Flagger, flagger_for
from aether_policy.plan.compiled import Plan
from aether_policy.plan.gate import PromptGate, Verdict
from aether_policy.redaction import install_log_redaction
from aether_policy.sinks import PolicySink
from aether_policy.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")
log = logging.getLogger("aether_policy.middleware")
access_log = logging.getLogger("aether_policy.access")
FACTS_KEY = "aether_policy"
DIGEST_HEADER = b"x-policy-digest"


@dataclass(slots=True)
class RequestFacts:
    """What the app knows and the middleware cannot see: set these from the app via `facts_of(scope)`.

    The defaults are the safe answer for an app that says nothing: no account, no model, and content that is
    never judged or kept. The middleware derives nothing from the request body itself.
    """

    account_id: str | None = None
    """The authenticated account; set only once the caller has proved who they are."""
    model: str | None = None
    """The model the app routed the request to, from its parsed request and only if it serves that model."""
    error_class: str | None = None
    upstream_flag: str | None = None
    route: str | None = None
    """The matched route's template; without it, the template of `scope["route"]` (Starlette, FastAPI)."""
    authenticated_content: bool = False
    """True once the app has authenticated the caller and accepted the body as content on a content route:
    only then do the flagger and the prompt gate see it. Leave it False for anything the app rejects."""
    offered: dict[str, Any] = field(default_factory=dict)


def facts_of(scope: Scope) -> RequestFacts:
    """The facts object of the request being served (a fresh one outside the middleware)."""
    facts = scope.get("state", {}).get(FACTS_KEY)
    return facts if isinstance(facts, RequestFacts) else RequestFacts()


@dataclass(slots=True)
class _Response:
    status: int | None = None
    started: bool = False
    disconnected: bool = False
    timed_out: bool = False


class PolicyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        plan: Plan,
        sink: PolicySink,
        flagger: Flagger | None = None,
        gate: PromptGate | None = None,
        *,
        max_body_bytes: int = 8 * 1024 * 1024,
        capture_bytes: int = 1024 * 1024,
        clock: Callable[[], datetime] | None = None,
        forwarded_allow_ips: str | Iterable[str] | None = None,
        body_timeout: float | None = 60.0,
        access_log: bool = False,
        error_body: ErrorBody | None = None,
    ) -> None:
        self.app = app
        self.clock = clock or _utcnow
        self.plan = plan
        self.sink = sink
        self.flagger = flagger if flagger is not None else flagger_for(plan, sink.is_marked)
        self.gate = gate
        self.max_body_bytes = max_body_bytes
        self.capture_bytes = capture_bytes
        self._digest = plan.digest.encode()
        self._cookies = {name.encode() for name in plan.cookies}
        self._cookie_max_age = {name.encode(): age for name, age in plan.cookie_max_age.items()}
        self._judge = gate is not None and bool(plan.storage_windows)
        self.proxies = TrustedProxies(forwarded_allow_ips)
        self.body_timeout = body_timeout
        self.access_log = access_log
        self._wants_ip = "ip_address" in plan.usage.columns
        self.error_body = error_body or default_error_body
        self._too_large = (413, f"request body is larger than {max_body_bytes} bytes", "request_too_large")
        self._too_slow = (408, f"the request body did not arrive within {body_timeout} seconds", "timeout")
        install_log_redaction()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, now = time.perf_counter(), self.clock()
        facts = RequestFacts()
        scope.setdefault("state", {})[FACTS_KEY] = facts
        headers = _interesting_headers(scope["headers"])
        response = _Response()
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._deny(scope, send, response, *self._too_large)
            self._finish(scope, headers, facts, response, started, now, None)
            return
        body = await self._read_body(receive, response)
        if body is None:
            if not response.disconnected:
                if response.timed_out:
                    await self._deny(scope, send, response, *self._too_slow)
                else:
                    await self._deny(scope, send, response, *self._too_large)
            cause = "BodyReadTimeout" if response.timed_out else None
            self._finish(scope, headers, facts, response, started, now, cause)
            return
        secrets = secrets_of(scope["headers"], scope.get("query_string", b""))  # every value, not the last
        inflight = Inflight(body, secrets)
        secret_token = caller_secrets.set(secrets)
        content_token = inflight_content.set(inflight)
        enter(inflight)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                await inflight.expose_body()  # from now on code can see the body, and logs are checked for it
                return {"type": "http.request", "body": body, "more_body": False}
            message = await receive()
            if message["type"] == "http.disconnect":
                response.disconnected = True
                # No more of the response will be sent: what its text held back for a next chunk is registered
                # before the app, told the caller left, can log what it was sending.
                inflight.finish("response")
            return message

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status, response.started = message["status"], True
                message["headers"] = self._response_headers(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                await inflight.expose("response", chunk)  # before it is sent: whoever logs it is redacted
                if not message.get("more_body", False):
                    inflight.finish("response")  # the last bytes too (an escape near the end was held back)
                room = self.capture_bytes - len(inflight.response)
                if chunk and room > 0:
                    inflight.response += chunk[:room]  # kept in memory only, for the flagger and gate
            try:
                await send(message)
            except OSError:
                response.disconnected = True
                inflight.finish("response")  # the caller is gone: the response's text ends here
                raise

        error: str | None = None
        event: dict[str, Any] | None = None
        try:
            await self.app(scope, replay, watch)
        except Exception as exc:
            # The exception's message may quote the request: only its class goes on, to the log and the
            # usage event; the client gets a generic error if nothing was sent yet.
            error = type(exc).__name__
            log.error("request to %s failed: %s", route_of(scope, facts.route), error)
            if not response.started and not response.disconnected:
                await self._send_error(scope, send, response)
        finally:
            # Content first, usage last: whoever sees a request's usage event sees its quarantine too.
            try:
                # Only content the app has authenticated and accepted is judged: nothing a rejected or
                # anonymous request sent can be flagged, let alone kept.
                if self._judge and facts.authenticated_content and facts.account_id is not None:
                    await self._judge_content(inflight, facts, now)
            finally:
                try:
                    event = self._record(scope, headers, facts, response, started, now, error)
                finally:
                    leave(inflight)
                    inflight_content.reset(content_token)
                    caller_secrets.reset(secret_token)
                # After the reset: the access line holds only derived values and is never redacted.
                if self.access_log and event is not None:
                    self._log_access(scope, event)

    async def _read_body(self, receive: Receive, response: _Response) -> bytes | None:
        """The whole request body, or None when it is too large, too slow or the client left.

        The deadline covers the whole body, not each chunk: a client trickling one byte a second would
        otherwise hold a connection (and up to `max_body_bytes` of memory) for as long as it likes. Most
        bodies are already there when the app is called: those never pay for a timer (`within`).
        """
        reading = self._read_chunks(receive, response)
        if self.body_timeout is None:
            return await reading
        try:
            return await within(reading, self.body_timeout)
        except TimeoutError:
            response.timed_out = True
            return None

    async def _read_chunks(self, receive: Receive, response: _Response) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                response.disconnected = True
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _response_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        kept = []
        for name, value in headers:
            if name.lower() == b"set-cookie":
                cookie = value.split(b"=", 1)[0].strip()
                if cookie not in self._cookies:
                    log.warning("removed an undeclared cookie from a response (policy: cookies)")
                    continue
                # The page prints each cookie's lifetime: hold Max-Age and Expires to it.
                value = cap_lifetime(value, self._cookie_max_age.get(cookie), self.clock())
            kept.append((name, value))
        kept.append((DIGEST_HEADER, self._digest))
        return kept

    async def _deny(self, scope: Scope, send: Send, response: _Response, status: int, message: str, code: str) -> None:
        """Answer a request the app never sees; the connection closes, its unread body is not worth reading."""
        response.status, response.started = status, True
        body = self.error_body(scope, status, message, code)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"connection", b"close"),
                        (DIGEST_HEADER, self._digest),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        except OSError:
            response.disconnected = True

    async def _send_error(self, scope: Scope, send: Send, response: _Response) -> None:
        response.status, response.started = 500, True
        body = self.error_body(scope, 500, "internal error", None)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json"), (DIGEST_HEADER, self._digest)],
                }
            )
            await send({"type": "http.response.body", "body": body})
        except OSError:
            response.disconnected = True

    def _finish(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        facts: RequestFacts,
        response: _Response,
        started: float,
        now: datetime,
        error: str | None,
    ) -> None:
        """Record a request the middleware answered itself, before the app's router saw it."""
        if facts.route is None:
            facts.route = route_from_routes(getattr(self.app, "routes", ()), scope)
        event = self._record(scope, headers, facts, response, started, now, error)
        if self.access_log:
            self._log_access(scope, event)

    def _record(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        facts: RequestFacts,
        response: _Response,
        started: float,
        now: datetime,
        error: str | None,
    ) -> dict[str, Any]:
        """One usage event, every field derived and bounded (see `aether_policy.derive`); returns it whole,
        before the policy's selection, for the access log."""
        family, major = browser_family_and_major(headers.get(b"user-agent"))
        status = response.status if response.status is not None else 499
        offered: dict[str, Any] = {
            **facts.offered,
            "timestamp": now,
            "endpoint": route_of(scope, facts.route),
            "method": method_of(scope),
            "response_code": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "model": model_name(facts.model),
            "account_id": label(facts.account_id),
            "error_class": label(
                error or facts.error_class or ("ClientDisconnected" if response.disconnected else None)
            ),
            "ip_address": self.proxies.client_ip(scope) if self._wants_ip or self.access_log else None,
            "browser_family": family,
            "browser_major_version": major,
        }
        try:
            self.sink.record_usage(self.plan.usage.select(offered))
        except Exception as exc:
            log.error("usage event not recorded: %s", type(exc).__name__)
        return offered

    def _log_access(self, scope: Scope, event: dict[str, Any]) -> None:
        """uvicorn's access-log line (same arguments, so its formatter prints it) with the route template in
        place of the raw path and query string, and the client address only if the policy records it."""
        client = event["ip_address"] if self._wants_ip and event["ip_address"] else "-"
        version = scope.get("http_version")
        access_log.info(
            '%s - "%s %s HTTP/%s" %d',
            client,
            event["method"],
            event["endpoint"],
            version if version in ("1.0", "1.1", "2", "3") else "1.1",
            event["response_code"],
        )

    async def _judge_content(self, inflight: Inflight, facts: RequestFacts, now: datetime) -> None:
        assert self.gate is not None  # _judge is true only with a gate
        response_body = bytes(inflight.response)
        if len(inflight.body) + len(response_body) <= OFF_LOOP_BYTES:
            verdict = self._verdict(inflight, response_body, facts.account_id)
        else:
            # A large body takes the detectors milliseconds per MiB (more for a third-party detector): on a
            # worker thread, so the event loop keeps answering everyone else (/healthz included) meanwhile.
            # The thread gets a copy of this context, so log redaction still knows the request's content.
            verdict = await asyncio.to_thread(self._verdict, inflight, response_body, facts.account_id)
        if facts.upstream_flag and "upstream_moderation" in self.plan.detectors and verdict.trigger is None:
            verdict = type(verdict)("flagged", (f"upstream_moderation:{facts.upstream_flag}",), verdict.detector_failed)
        if not verdict.storable:
            return
        record = self.gate.admit(
            verdict,
            account_id=facts.account_id,
            request=inflight.body.decode("utf-8", errors="replace"),
            response=response_body.decode("utf-8", errors="replace"),
            now=now,
        )
        if record is not None:
            try:
                self.sink.quarantine(record)
            except Exception as exc:
                log.error("flagged content not kept: %s", type(exc).__name__)

    def _verdict(self, inflight: Inflight, response_body: bytes, account_id: str | None) -> Verdict:
        return self.flagger.judge(inflight.readable(), response_body, account_id)


def _utcnow() -> datetime:
    return datetime.now(UTC)


OFF_LOOP_BYTES = 64 * 1024
"""Request and captured response bytes above which the detectors run on a worker thread. Below it the
thread hop (tens of microseconds) costs more than the scan."""

ErrorBody = Callable[[Scope, int, str, str | None], bytes]
"""(scope, status, message, code) -> the JSON body of an error the middleware answers itself (413, 408, 500)."""


def default_error_body(scope: Scope, status: int, message: str, code: str | None) -> bytes:
    """The OpenAI-style shape most clients parse; an app with another shape passes its own `error_body`."""
    error: dict[str, Any] = {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error"}
    if code is not None:
        error["code"] = code
    return json.dumps({"error": error}, separators=(",", ":")).encode()


_WANTED = frozenset({b"content-length", b"content-type", b"user-agent", b"authorization", b"x-api-key", b"api-key"})


def _interesting_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return {name: value for name, value in raw if name in _WANTED}
