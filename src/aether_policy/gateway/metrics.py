"""`GET /metrics`: the gateway's health in Prometheus text format, content-free and bounded in cardinality.

Every label value comes from the gateway's own vocabulary, never from a request: the matched route template
(never the raw path), the status code, the configured provider name, the flag trigger and detector kind,
the policy's retention rule names, the store's row kinds, and the policy digest. A prompt, a key, an account
or a model name can never become a series, so a hostile caller cannot blow up the scrape or read content in it.

Multi-process: with `PROMETHEUS_MULTIPROC_DIR` set (before the first import of prometheus-client, as its
documentation requires) every worker writes its values to files in that directory and each scrape sums them
across workers (`MultiProcessCollector`). Empty the directory before the workers start, or counters of
processes from an earlier run are summed in too. Without it, each app has its own registry.

Who may scrape: the counters are an oracle (flagged requests by trigger tell an abuser which probes were
caught) and a traffic map, so `/metrics` is served only with a token (`--metrics-token`), compared in constant
time, and never to a gateway API key. It is answered before the policy middleware: a scrape is not a usage event.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST
from starlette.routing import BaseRoute, Match, Route

from aether_policy.gateway.upstream import Upstream
from aether_policy.middleware import PolicyMiddleware, facts_of
from aether_policy.plan.gate import QuarantineRecord
from aether_policy.sinks import PolicySink
from aether_policy.store.store import Store
from aether_policy.types import ASGIApp, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TOKEN_ENV = "AETHER_METRICS_TOKEN"
MIN_TOKEN_LENGTH = 16
PATH = "/metrics"
# Time to the provider's response headers: seconds for a completion, under one for a stream's first byte.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()))


class GatewayMetrics:
    """The gateway's counters; `wrap` serves them at /metrics and feeds the per-request ones."""

    def __init__(self, token: str, *, digest: str, version: int | str) -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"the metrics token must be at least {MIN_TOKEN_LENGTH} characters")
        self._token = token.encode()
        # In multi-process mode values live in files, not in a registry; each scrape collects them afresh.
        self.registry: CollectorRegistry | None = None if multiprocess() else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "aether_requests", "Requests answered, by route template, status and provider.",
            ["route", "status", "provider"], registry=r,
        )  # fmt: skip
        self.upstream_latency = Histogram(
            "aether_upstream_latency_seconds", "Time from sending a request upstream to its response headers.",
            ["provider"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.flagged = Counter(
            "aether_flagged_requests", "Requests whose content was kept for review, by trigger and detector.",
            ["trigger", "detector"], registry=r,
        )  # fmt: skip
        self.egress_denied = Counter(
            "aether_egress_denials", "Upstream calls the policy's egress guard refused, by recipient.",
            ["recipient"], registry=r,
        )  # fmt: skip
        self.store_rows = Counter(
            "aether_store_rows", "Usage events and flagged records written, dropped or truncated to fit, by kind.",
            ["outcome", "kind"], registry=r,
        )  # fmt: skip
        self.detector_failures = Counter(
            "aether_detector_failures", "Detector errors (nothing is kept for such a request), by detector.",
            ["detector"], registry=r,
        )  # fmt: skip
        self.retention_removed = Counter(
            "aether_retention_rows_removed", "Rows removed or erased by this process's retention runs, by rule.",
            ["rule"], registry=r,
        )  # fmt: skip
        self.rate_limited = Counter(
            "aether_rate_limited", "Requests refused by a per-key limit, by limit.", ["limit"], registry=r
        )
        self.policy = Gauge(
            "aether_policy_info", "The policy this gateway enforces (value 1).", ["digest", "version"],
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.policy.labels(digest, str(version)).set(1)
        self._failures_seen: dict[str, int] = {}

    # -- feeding ------------------------------------------------------------------------------------------------

    def watch_store(self, store: Store) -> None:
        store.on_count = lambda outcome, kind, n: self.store_rows.labels(outcome, kind).inc(n)

    def watch_upstreams(self, upstreams: Iterable[Upstream]) -> None:
        """Time each upstream call to its response headers, and count what the egress guard refuses."""
        for upstream in upstreams:
            upstream.on_answered.append(self.upstream_latency.labels(upstream.name).observe)
            upstream.guard.on_denied = lambda recipient: self.egress_denied.labels(recipient).inc()

    def sink(self, inner: PolicySink) -> PolicySink:
        return _CountingSink(inner, self)

    def note_retention(self, rule: str, removed: int) -> None:
        self.retention_removed.labels(rule).inc(removed)

    def note_rate_limited(self, limit: str) -> None:
        self.rate_limited.labels(limit).inc()

    def sync_detector_failures(self, failures: Mapping[str, int]) -> None:
        """The flagger counts its failures itself; move the counter by what is new since the last look."""
        for detector, total in list(failures.items()):
            new = total - self._failures_seen.get(detector, 0)
            if new > 0:
                self.detector_failures.labels(detector).inc(new)
                self._failures_seen[detector] = total

    # -- serving ------------------------------------------------------------------------------------------------

    def wrap(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> ASGIApp:
        return _MetricsMiddleware(app, self, tuple(routes))

    def authorized(self, scope: Scope) -> bool:
        """Exactly one `Authorization: Bearer <token>` header with the metrics token; anything else is refused."""
        values = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
        if len(values) != 1 or values[0][:7].lower() != b"bearer ":
            return False
        return hmac.compare_digest(values[0][7:].strip(), self._token)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        if self.registry is None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        if "application/openmetrics-text" in accept:
            from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

            return generate_openmetrics(registry), CONTENT_TYPE_LATEST  # type: ignore[no-untyped-call]
        return generate_latest(registry), _TEXT_FORMAT


class _CountingSink:
    """The store, as the policy middleware sees it, counting what it keeps for review."""

    def __init__(self, inner: PolicySink, metrics: GatewayMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def record_usage(self, event: Mapping[str, Any]) -> None:
        self._inner.record_usage(event)

    def quarantine(self, record: QuarantineRecord) -> None:
        self._inner.quarantine(record)
        first = record.reasons.split(",")[0] if isinstance(record.reasons, str) else ""
        # The detector kind only ("pattern", "upstream_moderation", "account_marked"), never the pattern's match.
        detector = first.split(":", 1)[0].strip() or "unknown"
        if detector not in ("pattern", "upstream_moderation", "account_marked"):
            detector = "other"
        self._metrics.flagged.labels(record.trigger, detector).inc()

    def is_marked(self, account_id: str) -> bool:
        return self._inner.is_marked(account_id)


class _MetricsMiddleware:
    """Outermost: answers /metrics itself, and counts every other request once it is answered."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, routes: tuple[BaseRoute, ...]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        # A `Route` matches on the scope's type, method, path and root path only, so its answer for those can be
        # remembered (bounded: paths carry model names and whatever a caller types). Other route kinds (Host,
        # Mount) look further, and are matched every time.
        self._remembered: dict[tuple[Any, ...], str] | None = (
            {} if all(type(route) is Route for route in routes) else None
        )
        # The policy middleware's flagger, when the app is one: its failures become a counter.
        self._flagger = app.flagger if isinstance(app, PolicyMiddleware) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") == PATH:
            await self._scrape(scope, send)
            return
        status = 0

        async def watch(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            provider = facts_of(scope).offered.get("provider")
            self.metrics.requests.labels(
                self._route(scope),
                str(status) if 100 <= status <= 599 else "none",
                provider if isinstance(provider, str) else "none",
            ).inc()
            if self._flagger is not None:
                self.metrics.sync_detector_failures(self._flagger.failures)

    def _route(self, scope: Scope) -> str:
        """The matched route's template; a path no route matches is 'unmatched', never itself."""
        if self._remembered is None:
            return self._match(scope)
        key = (scope["type"], scope.get("method"), scope.get("root_path", ""), scope.get("path"))
        template = self._remembered.get(key)
        if template is None:
            template = self._match(scope)
            if len(self._remembered) >= 1024:
                self._remembered.clear()
            self._remembered[key] = template
        return template

    def _match(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"

    async def _scrape(self, scope: Scope, send: Send) -> None:
        if scope.get("method") not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
        elif not self.metrics.authorized(scope):
            await _plain(send, 401, b"metrics need the metrics token\n", [(b"www-authenticate", b"Bearer")])
        else:
            accept = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"accept"), "")
            body, content_type = self.metrics.exposition(accept)
            headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")]
            await _plain(send, 200, b"" if scope.get("method") == "HEAD" else body, headers)


async def _plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if not any(k == b"content-type" for k, _ in headers):
        headers = [(b"content-type", b"text/plain; charset=utf-8"), *headers]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
