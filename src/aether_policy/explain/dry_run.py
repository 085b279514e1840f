"""`explain REQUEST.json`: the request run through the real gateway and middleware, with nothing sent anywhere.

The verdicts are not re-derived from the policy: the bundled gateway app is built with the compiled plan, a
store in memory (so nothing is written to disk), an encryption key that exists only for this run, and a
provider transport that never sends (under the real egress guard). What that run records, keeps and lets
leave is then described rule by rule. So an explanation cannot disagree with what the gateway does, short of
the provider's own answer, which is simulated (an empty reply, or its moderation verdict with --moderated).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from aether_policy._context import caller_secrets
from aether_policy.crypto import Cipher
from aether_policy.exceptions import EgressDenied, PolicyError
from aether_policy.explain._upstream import SECRET_HEADERS, NeverSends
from aether_policy.gateway import GatewayConfig, create_app
from aether_policy.model import Policy
from aether_policy.plan.compiled import Plan
from aether_policy.plan.egress import PROTOCOL_HEADERS
from aether_policy.plan.gate import PromptGate, QuarantineInfo
from aether_policy.plan.transport import GuardedTransport
from aether_policy.plan.usage import ALL_COLUMNS
from aether_policy.rulebook import anchor, deletion_date, retention_of
from aether_policy.store import Store
from aether_policy.types import ASGIApp

ENDPOINTS = ("/v1/chat/completions", "/v1/messages")
_NOT_REPLAYED = frozenset({"authorization", "x-api-key", "content-length", "transfer-encoding", "host", "connection"})


@dataclass(frozen=True)
class DryRun:
    """One request as the gateway would receive it."""

    body: bytes
    now: datetime
    endpoint: str = ENDPOINTS[0]
    account: str = "explain"
    marked: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    client_ip: str = "203.0.113.10"
    moderated: bool = False
    deleted: bool = False


@dataclass
class Observed:
    status: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    kept: list[QuarantineInfo] = field(default_factory=list)
    transport: NeverSends = field(default_factory=NeverSends)


def explain_request(policy: Policy, plan: Plan, config: GatewayConfig, run: DryRun) -> dict[str, Any]:
    if run.endpoint not in ENDPOINTS:
        raise PolicyError(f"--endpoint must be one of {', '.join(ENDPOINTS)}, not '{run.endpoint}'")
    observed = asyncio.run(_observe(plan, config, run))
    model = observed.usage.get("model")
    routed = config.route(model) if isinstance(model, str) else None
    return {
        "request": {
            "endpoint": run.endpoint,
            "model": model,
            "account": run.account,
            "account_marked": run.marked,
            "account_deleted": run.deleted,
            "provider_moderation_simulated": run.moderated,
            "status": observed.status,
        },
        "usage": _usage(policy, plan, observed.usage),
        "content": _content(policy, plan, observed.kept, run),
        "egress": _egress(policy, plan, config, observed, routed[0] if routed else None),
        "caller_headers": _caller_headers(plan, config, routed[0] if routed else None, run.headers),
    }


async def _observe(plan: Plan, config: GatewayConfig, run: DryRun) -> Observed:
    observed = Observed(transport=NeverSends(moderated=run.moderated))
    store = Store("sqlite://", flush_interval=0.001)  # in memory: the run leaves nothing on disk
    try:
        store.migrate()
        _, key = store.create_key(run.account, run.now)
        given = _given_key(run.headers)
        if given is not None:
            # The caller's own key, known to this in-memory store only: the middleware then treats it as the
            # caller's secret, and the egress guard refuses a request that carries it, as the gateway would.
            _add_key(store, run.account, given, run.now)
            key = given
        if run.marked:
            store.mark_account(run.account, "explain: simulated mark", run.now)
        if run.deleted:
            store.delete_account(run.account, run.now)  # its keys are refused, as the gateway refuses them
        gate = PromptGate(plan.storage_windows, Cipher(os.urandom(32)))  # a key no one keeps
        app = create_app(plan, store, config, gate, transport=observed.transport, clock=lambda: run.now)
        # The run's own key authenticates it; framing headers are the HTTP client's to set, from the body.
        headers = [(k, v) for k, v in run.headers if k.lower() not in _NOT_REPLAYED]
        headers += [("authorization", f"Bearer {key}"), ("content-type", "application/json")]
        async with _lifespan(app):
            transport = httpx.ASGITransport(app=app, client=(run.client_ip, 49152))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.invalid") as client:
                response = await client.post(run.endpoint, content=run.body, headers=headers)
        observed.status = response.status_code
        store.flush()
        events = store.usage_events()
        observed.usage = {k: v for k, v in events[-1].items() if k != "id"} if events else {}
        observed.kept = store.list_quarantine()
    finally:
        store.close()
    return observed


def _given_key(headers: tuple[tuple[str, str], ...]) -> str | None:
    for name, value in headers:
        if name.lower() in ("authorization", "x-api-key"):
            credential = _credential(name, value)
            if credential:
                return credential
    return None


def _add_key(store: Store, account: str, plaintext: str, now: datetime) -> None:
    from sqlalchemy import insert

    from aether_policy.store import tables
    from aether_policy.store.store import hash_key

    owner = store.create_account(account, now)
    with store.begin() as conn:
        conn.execute(
            insert(tables.api_keys).values(
                id="key_given", account_id=owner.id, key_hash=hash_key(plaintext), prefix="given", created_at=now
            )
        )


class _lifespan:
    """Start and stop the app as a server would, so its provider clients are opened and closed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        await self.inbox.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))  # type: ignore[arg-type]
        await self.outbox.get()

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        assert self.task is not None
        await self.task


def _usage(policy: Policy, plan: Plan, event: Mapping[str, Any]) -> dict[str, Any]:
    recorded = []
    timestamp = event.get("timestamp")
    for column in ALL_COLUMNS:
        value = event.get(column)
        if value is None:
            continue
        ref = plan.usage.allowed_by.get(column, "?")
        category, _, field_name = ref.partition(".")
        retention = retention_of(policy, ref)
        until = deletion_date(retention, timestamp)
        recorded.append(
            {
                "column": column,
                "value": value.isoformat() if isinstance(value, datetime) else value,
                "field": ref,
                "rule": f"categories.{category}.fields.{field_name}",
                "retention": retention.path if retention else None,
                "delete_at": until.isoformat() if until else None,
                "page": anchor("data", category),
            }
        )
    not_allowed = [c for c in ALL_COLUMNS if c not in plan.usage.columns]
    return {
        "recorded": recorded,
        "never_recorded": not_allowed,
        "never_recorded_why": "no field of an automatic category allows these columns (plan.usage)",
    }


def _exception_index(policy: Policy, category: str, trigger: str) -> int | None:
    storage = policy.categories[category].storage
    assert storage is not None  # the content category is the one with `storage`
    return next((i for i, e in enumerate(storage.exceptions) if e.when == trigger), None)


def _reason_rule(policy: Policy, category: str, reason: str) -> str:
    base = f"categories.{category}.storage.exceptions"
    if reason == "account_marked":
        return f"{base}[{_exception_index(policy, category, 'account_marked')}] (when: account_marked)"
    detector, _, detail = reason.partition(":")
    flagged = _exception_index(policy, category, "flagged")
    if detector == "pattern":
        return f"{base}[{flagged}].patterns.{detail}"
    return f"{base}[{flagged}].detectors ({detector}: {detail})"


def _content(policy: Policy, plan: Plan, kept: list[QuarantineInfo], run: DryRun) -> dict[str, Any]:
    category = plan.content_category
    if category is None:
        return {"flagged": False, "kept": False, "rule": "the policy declares no request content category"}
    if not kept:
        return {
            "flagged": False,
            "kept": False,
            "rule": f"categories.{category}.storage.default: never",
            "page": anchor("data", category),
        }
    record = kept[-1]
    retention = retention_of(policy, category)
    return {
        "flagged": True,
        "trigger": record.trigger,
        "reasons": [{"reason": r, "rule": _reason_rule(policy, category, r)} for r in record.reasons.split(",") if r],
        "kept": True,
        "encrypted": True,
        "until": record.expires_at.isoformat(),
        "retention": retention.path if retention else None,
        "page": anchor("retention", retention.rule) if retention else None,
    }


def _egress(
    policy: Policy, plan: Plan, config: GatewayConfig, observed: Observed, provider: str | None
) -> list[dict[str, Any]]:
    if provider is None:
        return []
    recipient = config.providers[provider].recipient or provider
    rule = plan.egress[recipient]
    found = []
    for departure in observed.transport.departures:
        host = f"{departure.host}:{departure.port}" if departure.port else departure.host
        found.append(
            {
                "provider": provider,
                "recipient": f"recipients.{recipient}",
                "host": host,
                "path": departure.path,
                "allowed_by": f"recipients.{recipient}.provider.hosts",
                "receives": list(policy.recipients[recipient].receives),
                "headers_sent": sorted(departure.headers),
                "credentials": sorted(h for h in departure.headers if h in SECRET_HEADERS),
                "body_fields": list(departure.body_keys),
                "page": anchor("recipient", recipient),
                "declared_headers": sorted(rule.headers),
            }
        )
    return found


def _caller_headers(
    plan: Plan, config: GatewayConfig, provider: str | None, headers: tuple[tuple[str, str], ...]
) -> list[dict[str, Any]]:
    """What the egress guard does to each header the caller sent, were an app to forward it to the provider.

    The bundled gateway builds each provider request itself and forwards none of them; an app embedding the
    middleware might, and the guard is what stands between them and the provider. Each header is probed on its
    own, with the caller's credentials known to the guard as the middleware makes them known.
    """
    if provider is None or not headers:
        return []
    recipient = config.providers[provider].recipient or provider
    rule = plan.egress[recipient]
    host = rule.hosts[0].removeprefix("*.")
    credentials = tuple(_credential(name, value) for name, value in headers if name.lower() in SECRET_HEADERS)
    found = []
    for name, value in headers:
        lower = name.lower()
        probe = httpx.Request("POST", f"https://{host}/", headers=[(name, value)])
        token = caller_secrets.set(tuple(c for c in credentials if len(c) >= 8))
        try:
            GuardedTransport(rule, NeverSends()).check(probe)
            denied = None
        except EgressDenied as error:
            denied = str(error)
        finally:
            caller_secrets.reset(token)
        through = denied is None and lower in probe.headers
        if denied is not None:
            why = denied
        elif not through:
            why = f"not a protocol header, and recipients.{recipient}.receives does not cover its data"
        elif lower in PROTOCOL_HEADERS:
            why = "a protocol header"
        else:
            why = f"recipients.{recipient}.receives covers the data it carries"
        guard = "refuses the request" if denied else "lets it through" if through else "strips it"
        found.append({"header": lower, "forwarded_by_gateway": False, "guard": guard, "why": why})
    return found


def _credential(name: str, value: str) -> str:
    """The caller's key as the middleware extracts it: a bearer token, or the whole x-api-key value."""
    value = value.strip()
    return value[7:].strip() if name.lower() == "authorization" and value[:7].lower() == "bearer " else value
