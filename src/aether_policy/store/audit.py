"""The audit trail: who read kept content and who changed accounts, keys, keys' limits and the store.

One row per privileged action with its actor, time, target and reason, never the content acted on (the
flagged prompt read, the key created, the rows deleted). The actor is who the operator says they are
(`--actor`, `$AETHER_ACTOR`, else the OS user): attribution for honest operators, not authentication; anyone
who can write to the database can also write here. Reading kept content is recorded *before* it is shown,
so a trail that cannot be written means nothing is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from aether_policy._actor import ACTOR_ENV, default_actor
from aether_policy.exceptions import StorageError
from aether_policy.store import tables
from aether_policy.store._bounds import OutOfBounds, fit_row
from aether_policy.store.store import Store, utcnow

# Every action the trail records, with what its target names.
ACTIONS: dict[str, str] = {
    "review.show": "the review item read",
    "review.dismiss": "the review item deleted",
    "account.mark": "the account",
    "account.unmark": "the account",
    "account.delete": "the account",
    "account.export": "the account",
    "account.erase": "the account",
    "key.create": "the key id",
    "key.revoke": "the key id",
    "key.update": "the key id",
    "retention.run": "the retention rules run",
    "serve.start": "the policy digest enforced",
    "encryption_key.replace": "the new key's fingerprint",
}

# What ties an event to one account, for its access export: account actions name the account and end their detail
# with its id (a name can be reused once the account is erased; an id never is); key actions the key's id; review
# actions the item's id, and (since the item may be gone) end their detail with its account's id.
ABOUT_ACCOUNT = ("account.mark", "account.unmark", "account.delete", "account.export", "account.erase")
ABOUT_KEY = ("key.create", "key.revoke", "key.update")
ABOUT_ITEM = ("review.show", "review.dismiss")


ID_MARK = "account acct_"  # what a detail that names its account's id holds (ids are `acct_` + 16 hex digits)


def item_detail(account_id: str | None, detail: str | None = None) -> str | None:
    """An event's detail, ending with its account's id so that account's export finds it later (and no other
    account's, even one with the same name). The id is kept whole: the detail before it is cut to fit."""
    if account_id is None:
        return detail
    suffix = f"account {account_id}"
    if not detail:
        return suffix
    room = 500 - len(suffix) - 2
    return f"{_clip(detail, room)}; {suffix}"


@dataclass(frozen=True)
class AuditEvent:
    id: int
    occurred_at: datetime
    actor: str
    action: str
    target: str
    reason: str | None
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "occurred_at": self.occurred_at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "detail": self.detail,
        }


__all__ = [
    "ABOUT_ACCOUNT",
    "ABOUT_ITEM",
    "ABOUT_KEY",
    "ACTIONS",
    "ACTOR_ENV",
    "ID_MARK",
    "AuditEvent",
    "default_actor",
    "events",
    "item_detail",
    "record",
    "record_retention",
]


def record(
    store: Store,
    action: str,
    target: str,
    *,
    actor: str,
    reason: str | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> None:
    """Write one event now (synchronously: the caller must know it is on record). Raises StorageError when an
    operator-given value does not fit (they can shorten it) or the database refuses it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if not actor.strip():
        raise StorageError("the actor is empty; pass --actor NAME or set AETHER_ACTOR")
    values = {
        "occurred_at": now or utcnow(),
        "actor": actor.strip(),
        "action": action,
        "target": target,
        "reason": reason,
        "detail": detail,
    }
    try:
        row = fit_row(tables.audit_events, values, alter=False).values
    except OutOfBounds as error:
        raise StorageError(f"cannot record this action in the audit trail: {error}") from None
    with store.begin() as conn:
        conn.execute(insert(tables.audit_events).values(**row))


def events(
    store: Store, *, since: datetime | None = None, action: str | None = None, limit: int | None = None
) -> list[AuditEvent]:
    """Events oldest first (the last `limit` of them when given)."""
    a = tables.audit_events.c
    query = select(tables.audit_events)
    if since is not None:
        query = query.where(a.occurred_at >= since)
    if action is not None:
        query = query.where(a.action == action)
    if limit is not None:
        query = query.order_by(a.id.desc()).limit(limit)
    else:
        query = query.order_by(a.id)
    with store.begin() as conn:
        rows = [AuditEvent(**row._mapping) for row in conn.execute(query)]
    return sorted(rows, key=lambda e: e.id) if limit is not None else rows


def record_retention(
    store: Store, removed: dict[str, int], *, actor: str, scheduled: bool, now: datetime | None = None
) -> None:
    """One event per retention run (not per batch): which rules ran and how many rows each removed."""
    target = _clip(",".join(removed) or "no rules", 200)
    counts = ", ".join(f"{rule} {n}" for rule, n in removed.items())
    detail = _clip(("scheduled; " if scheduled else "") + f"rows removed: {counts or 'none'}", 500)
    record(store, "retention.run", target, actor=actor, detail=detail, now=now)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
