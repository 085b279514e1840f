"""The access request: everything stored about one account, grouped by the policy's categories.

Each group says which rule lets the data be collected (the category and its purposes), which retention rule
bounds it and when each item will be deleted (computed as the retention jobs compute it), and which
recipients the policy says receive it. Kept content is decrypted only when the operator gives a reason;
without one, the export lists the items and withholds their content.

The export is returned as data: the caller decides where it goes (stdout or a 0600 file), and nothing here
logs any of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aether_policy.crypto import Cipher
from aether_policy.model import Policy
from aether_policy.plan.compiled import Plan
from aether_policy.plan.gate import unseal
from aether_policy.rights import records
from aether_policy.rulebook import Retention, anchor, deletion_date, receivers_of, retention_of, split_ref
from aether_policy.store.store import Store

UNDECLARED = "undeclared"
AUDIT_NOTE = (
    "every export is recorded in the audit trail (account.export) with its actor and reason before it is read; "
    "the trail's entries about this account are listed under their category"
)
KEY_HASH_NOTE = "api_keys.key_hash: each key is stored only as its SHA-256 hash, which is not exported"


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass
class Group:
    """Stored items of one category under one retention rule."""

    category: str
    retention: Retention | None
    items: list[dict[str, Any]] = field(default_factory=list)


class Collector:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.groups: dict[tuple[str, str | None], Group] = {}
        self._rules: dict[str, Retention | None] = {}  # by reference: an account may have millions of events

    def retention(self, ref: str) -> Retention | None:
        if ref not in self._rules:
            covered = split_ref(ref)[0] in self.policy.categories
            self._rules[ref] = retention_of(self.policy, ref) if covered else None
        return self._rules[ref]

    def add(
        self,
        ref: str,
        item: dict[str, Any],
        anchor_time: datetime | None,
        anchor_event: str,
        expires_at: datetime | None = None,
    ) -> None:
        """File an item under its category and retention rule, with the date the jobs will delete it."""
        category, _ = split_ref(ref)
        retention = self.retention(ref)
        key = (category, retention.rule if retention else None)
        group = self.groups.setdefault(key, Group(category, retention))
        when = deletion_date(retention, anchor_time)
        if expires_at is not None and (when is None or expires_at < when):
            when = expires_at  # kept content also goes at its own expiry, fixed when it was flagged
        item["delete_at"] = _iso(when)
        if retention is None:
            item["deletion"] = "no retention rule covers this data under the current policy"
        elif when is None:
            item["deletion"] = f"{retention.keep_for} after {anchor_event}, which has not happened"
        group.items.append(item)

    def ordered(self) -> list[Group]:
        order = {name: i for i, name in enumerate(self.policy.categories)}
        return sorted(self.groups.values(), key=lambda g: (order.get(g.category, len(order)), g.retention is None))


def export_account(
    policy: Policy,
    plan: Plan,
    store: Store,
    name: str,
    *,
    now: datetime,
    reason: str | None,
    cipher: Cipher | None,
) -> dict[str, Any]:
    """The whole export as JSON-ready data. With a reason, `cipher` decrypts kept content."""
    account = records.find_account(store, name)
    collect = Collector(policy)
    account_category = plan.bindings.categories["accounts"]
    account_fields = policy.categories[account_category].fields if account_category in policy.categories else {}
    collect.add(
        f"{account_category}.name" if "name" in account_fields else account_category,
        {
            "kind": "account",
            "id": account.id,
            "values": {
                "name": account.name,
                "created_at": _iso(account.created_at),
                "marked_at": _iso(account.marked_at),
                "mark_reason": account.mark_reason,
                "deleted_at": _iso(account.deleted_at),
            },
        },
        account.deleted_at,
        "account deletion",
    )
    with store.begin() as conn:
        keys = records.keys_of(conn, account.id)
        kept = records.kept_of(conn, account.id)
        trail = records.audit_of(conn, account, [k.id for k in keys], [row.id for row in kept])
    for key in keys:
        values = {"prefix": key.prefix, "created_at": _iso(key.created_at), "revoked_at": _iso(key.revoked_at)}
        collect.add(
            account_category,
            {"kind": "api_key", "id": key.id, "values": values},
            account.deleted_at,
            "account deletion",
        )
    _add_usage(collect, plan, records.usage_of(store, account.id))
    content_category = plan.content_category or UNDECLARED  # kept under an earlier policy
    for row in kept:
        item = _kept_item(row, policy, content_category, reason, cipher)
        collect.add(content_category, item, row.created_at, "flagging", row.expires_at)
    audit_category = plan.bindings.categories["audit"]
    for event in trail:
        # Who acted on the account, when and why: the trail holds no content, so neither does this.
        values = {k: v for k, v in event.as_dict().items() if k != "id"}
        collect.add(
            audit_category, {"kind": "audit_event", "id": event.id, "values": values}, event.occurred_at, "the action"
        )
    return {
        "subject": {"account": account.name, "account_id": account.id},
        "generated_at": _iso(now),
        "policy": {
            "service": policy.service.name,
            "version": policy.version,
            "digest": plan.digest,
            "page": plan.page_url,
        },
        "access": {
            "reason": reason,
            "content": "decrypted" if reason else "withheld: pass --reason to decrypt kept content",
            "audit": AUDIT_NOTE,
        },
        "categories": [_group_dict(policy, group) for group in collect.ordered()],
        "not_exported": [KEY_HASH_NOTE] if keys else [],
    }


def _add_usage(collect: Collector, plan: Plan, events: Iterable[dict[str, Any]]) -> None:
    """Each usage event split by category: its device columns live shorter than its API-usage columns."""
    category_of = {c: ref.partition(".")[0] for c, ref in plan.usage.allowed_by.items()}
    for event in events:
        parts: dict[str, dict[str, Any]] = {}
        first_ref: dict[str, str] = {}
        for column, value in event.items():
            if column in ("id", "timestamp") or value is None:
                continue
            category = category_of.get(column, UNDECLARED)
            first_ref.setdefault(category, plan.usage.allowed_by.get(column, UNDECLARED))
            parts.setdefault(category, {})[column] = _iso(value)
        stamp = _iso(event["timestamp"])
        for category, values in parts.items():
            item = {"kind": "usage_event", "id": event["id"], "values": {"timestamp": stamp, **values}}
            collect.add(first_ref[category], item, event["timestamp"], "collection")


def _kept_item(
    row: records.KeptRow, policy: Policy, category: str, reason: str | None, cipher: Cipher | None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "trigger": row.trigger,
        "reasons": row.reasons,
        "flagged_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
    }
    if reason and cipher is not None:
        values.update(unseal(cipher, row.id, row.sealed))
    return {
        "kind": "kept_content",
        "id": row.id,
        "values": values,
        "kept_by": _exception_path(policy, category, row.trigger),
    }


def _exception_path(policy: Policy, category: str, trigger: str) -> str | None:
    storage = policy.categories[category].storage if category in policy.categories else None
    if storage is None:
        return None
    for i, exception in enumerate(storage.exceptions):
        if exception.when == trigger:
            return f"categories.{category}.storage.exceptions[{i}] (when: {trigger})"
    return None


def _group_dict(policy: Policy, group: Group) -> dict[str, Any]:
    category = policy.categories.get(group.category)
    found: dict[str, Any] = {"category": group.category}
    if category is None:
        found.update(title="Data the current policy does not declare", page=None, purposes=[], collected=None)
    else:
        found.update(
            title=category.title,
            page=anchor("data", group.category),
            purposes=[f"purposes.{p}" for p in category.purposes],
            collected=category.source,
        )
    found["retention"] = group.retention.as_dict() | {"page": group.retention.page} if group.retention else None
    found["recipients"] = [r.as_dict() for r in receivers_of(policy, group.category)] if category else []
    found["items"] = group.items
    return found
