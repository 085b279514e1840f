"""PolicyMiddleware: the policy enforced around any ASGI app.

Pure ASGI (no BaseHTTPMiddleware): response bodies, SSE included, pass through chunk by chunk as the app
sends them. Per request it records one usage event through the plan's schema (even when the client
disconnects or the app raises), lets the flagger judge the content, and hands flagged content to the
prompt gate, the only way content can be stored. Everything it precomputes is computed in __init__.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aether_policy._context import Inflight, caller_secrets, inflight_content
from aether_policy._useragent import browser_family_and_major
from aether_policy.cookie_lifetime import cap_lifetime
from aether_policy.flagger import Flagger, flagger_for
from aether_policy.plan.compiled import Plan
from aether_policy.plan.gate import PromptGate
from aether_policy.redaction import install_log_redaction
from aether_policy.sinks import PolicySink
from aether_policy.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("aether_policy.middleware")
FACTS_KEY = "aether_policy"
DIGEST_HEADER = b"x-policy-digest"


@dataclass(slots=True)
class RequestFacts:
    """What the app knows and the middleware cannot see: set these from the app via `facts_of(scope)`."""

    account_id: str | None = None
    model: str | None = None
    error_class: str | None = None
    upstream_flag: str | None = None
    offered: dict[str, Any] = field(default_factory=dict)


def facts_of(scope: Scope) -> RequestFacts:
    """The facts object of the request being served (a fresh one outside the middleware)."""
    facts = scope.get("state", {}).get(FACTS_KEY)
    return facts if isinstance(facts, RequestFacts) else RequestFacts()


_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')


@dataclass(slots=True)
class _Response:
    status: int | None = None
    started: bool = False
    disconnected: bool = False


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
        self._too_large = json.dumps(
            {
                "error": {
                    "message": f"request body is larger than {max_body_bytes} bytes",
                    "type": "invalid_request_error",
                    "code": "request_too_large",
                }
            }
        ).encode()
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
            await self._deny_too_large(send, response)
            self._record(scope, headers, facts, response, started, now, None)
            return
        body = await self._read_body(receive, response)
        if body is None:
            if not response.disconnected:
                await self._deny_too_large(send, response)
            self._record(scope, headers, facts, response, started, now, None)
            return
        if facts.model is None:
            self._note_model(body, facts)
        inflight = Inflight(body)
        secret_token = caller_secrets.set(_secrets(headers))
        content_token = inflight_content.set(inflight)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            message = await receive()
            if message["type"] == "http.disconnect":
                response.disconnected = True
            return message

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status, response.started = message["status"], True
                message["headers"] = self._response_headers(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                room = self.capture_bytes - len(inflight.response)
                if chunk and room > 0:
                    inflight.response += chunk[:room]  # kept in memory only, for the flagger and gate
            try:
                await send(message)
            except OSError:
                response.disconnected = True
                raise

        error: str | None = None
        try:
            await self.app(scope, replay, watch)
        except Exception as exc:
            # The exception's message may quote the request: only its class goes on, to the log and the
            # usage event; the client gets a generic error if nothing was sent yet.
            error = type(exc).__name__
            log.error("request to %s failed: %s", scope.get("path", "?"), error)
            if not response.started and not response.disconnected:
                await self._send_error(send, response)
        finally:
            # Content first, usage last: whoever sees a request's usage event sees its quarantine too.
            try:
                if self._judge:
                    self._judge_content(inflight, facts, now)
            finally:
                try:
                    self._record(scope, headers, facts, response, started, now, error)
                finally:
                    inflight_content.reset(content_token)
                    caller_secrets.reset(secret_token)

    async def _read_body(self, receive: Receive, response: _Response) -> bytes | None:
        """The whole request body, or None when it is too large or the client left."""
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

    def _note_model(self, body: bytes, facts: RequestFacts) -> None:
        match = _MODEL.search(body, 0, 4096)
        if match:
            facts.model = match.group(1).decode("utf-8", errors="replace")

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

    async def _deny_too_large(self, send: Send, response: _Response) -> None:
        response.status, response.started = 413, True
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (DIGEST_HEADER, self._digest)],
            }
        )
        await send({"type": "http.response.body", "body": self._too_large})

    async def _send_error(self, send: Send, response: _Response) -> None:
        response.status, response.started = 500, True
        body = b'{"error":{"message":"internal error","type":"server_error"}}'
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

    def _record(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        facts: RequestFacts,
        response: _Response,
        started: float,
        now: datetime,
        error: str | None,
    ) -> None:
        family, major = browser_family_and_major(headers.get(b"user-agent"))
        client = scope.get("client")
        status = response.status if response.status is not None else 499
        offered: dict[str, Any] = {
            **facts.offered,
            "timestamp": now,
            "endpoint": scope.get("path"),
            "method": scope.get("method"),
            "response_code": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "model": facts.model,
            "account_id": facts.account_id,
            "error_class": error or facts.error_class or ("ClientDisconnected" if response.disconnected else None),
            "ip_address": client[0] if client else None,
            "browser_family": family,
            "browser_major_version": major,
        }
        try:
            self.sink.record_usage(self.plan.usage.select(offered))
        except Exception as exc:
            log.error("usage event not recorded: %s", type(exc).__name__)

    def _judge_content(self, inflight: Inflight, facts: RequestFacts, now: datetime) -> None:
        assert self.gate is not None  # _judge is true only with a gate
        response_body = bytes(inflight.response)
        verdict = self.flagger.judge(inflight.readable(), response_body, facts.account_id)
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


def _utcnow() -> datetime:
    return datetime.now(UTC)


_WANTED = frozenset({b"content-length", b"content-type", b"user-agent", b"authorization", b"x-api-key", b"api-key"})


def _interesting_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return {name: value for name, value in raw if name in _WANTED}


def _secrets(headers: dict[bytes, bytes]) -> tuple[str, ...]:
    found = []
    authorization = headers.get(b"authorization", b"")
    if authorization[:7].lower() == b"bearer ":
        found.append(authorization[7:].decode("latin-1").strip())
    for name in (b"x-api-key", b"api-key"):
        if name in headers:
            found.append(headers[name].decode("latin-1").strip())
    return tuple(s for s in found if len(s) >= 8)
