"""The erasure request: delete now what the policy lets be deleted now, and say what a rule keeps until when.

What a rule keeps:
- content kept for review (a storage exception with `reviewed: true`), until it expires: the exception exists
  so that flagged abuse can be reviewed, and erasing it on the flagged person's request would defeat it;
- the account row, while such content is kept, so that the content stays attributable; its keys are deleted
  and it is marked deleted, and the account retention rule (or a later `erase`) removes it.

Everything else (usage events, API keys, content nothing keeps) is deleted now. The order makes a crash
harmless: the account is first marked deleted with its keys revoked (nothing new arrives), then each kind of
row goes in short batches, each its own transaction, and the account row goes last. Running it again finishes
an interrupted run and otherwise removes nothing. On PostgreSQL each batch locks its rows in id order, as the
retention jobs do, so an erasure and a retention run on another replica wait for each other, never deadlock.
A policy the retention jobs refuse is refused here too, before anything is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, select

from aether_policy.model import Policy, StorageException
from aether_policy.plan.compiled import Plan
from aether_policy.retention import compile_jobs
from aether_policy.rights import records
from aether_policy.rulebook import Retention, deletion_date, retention_of
from aether_policy.store import tables
from aether_policy.store.audit import AuditEvent
from aether_policy.store.store import Store


@dataclass(frozen=True)
class Kept:
    """One stored thing a rule keeps, with the rule and the date it goes."""

    what: str
    id: str
    rule: str
    until: datetime | None
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "id": self.id,
            "rule": self.rule,
            "until": self.until.isoformat() if self.until else None,
            "why": self.why,
        }


@dataclass
class ErasureReport:
    account: str
    account_id: str
    now: datetime
    deleted: dict[str, int] = field(default_factory=dict)
    kept: list[Kept] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(self.deleted.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "account_id": self.account_id,
            "now": self.now.isoformat(),
            "deleted": self.deleted,
            "kept": [k.as_dict() for k in self.kept],
        }


def erase_account(
    policy: Policy, plan: Plan, store: Store, name: str, *, now: datetime, batch_size: int = 5_000
) -> ErasureReport:
    # What erasure keeps it keeps under a rule: a policy the retention jobs refuse (stored data no rule covers,
    # such as the audit trail) could only say "kept until -", so it is refused before anything is deleted.
    compile_jobs(plan)
    account = records.find_account(store, name)
    report = ErasureReport(account.name, account.id, now)
    with store.begin() as conn:  # before its keys go: key events are found by the key's id
        key_ids = [key.id for key in records.keys_of(conn, account.id)]
        trail = records.audit_of(conn, account, key_ids, [row.id for row in records.kept_of(conn, account.id)])
    store.delete_account(account.name, now)  # first: its keys stop working, nothing new arrives
    usage = tables.usage_events
    report.deleted["usage_events"] = _delete_in_batches(store, usage, usage.c.account_id == account.id, batch_size)
    report.deleted["kept_content"], kept_ids = _erase_content(policy, plan, store, account.id, now, report, batch_size)
    keys = tables.api_keys
    report.deleted["api_keys"] = _delete_in_batches(store, keys, keys.c.account_id == account.id, batch_size)
    _keep_trail(policy, plan, trail, report)
    report.deleted["account"] = 0
    if kept_ids:
        account_rule = retention_of(policy, plan.bindings.categories["accounts"])
        with store.begin() as conn:
            deleted_at = conn.execute(
                select(tables.accounts.c.deleted_at).where(tables.accounts.c.id == account.id)
            ).scalar_one()
        report.kept.append(
            Kept(
                "account",
                account.id,
                account_rule.path if account_rule else "-",
                deletion_date(account_rule, deleted_at),
                f"attributes the {len(kept_ids)} item(s) of content kept for review; its keys are deleted",
            )
        )
    else:
        with store.begin() as conn:
            report.deleted["account"] = max(
                conn.execute(delete(tables.accounts).where(tables.accounts.c.id == account.id)).rowcount, 0
            )
    return report


def _keep_trail(policy: Policy, plan: Plan, trail: list[AuditEvent], report: ErasureReport) -> None:
    """The audit trail's entries about the account stay for their own rule: they say who acted on it and why."""
    category = plan.bindings.categories["audit"]
    rule = retention_of(policy, category) if category in policy.categories else None
    for event in trail:
        report.kept.append(
            Kept(
                f"audit trail entry ({event.action})",
                str(event.id),
                rule.path if rule else "-",
                deletion_date(rule, event.occurred_at),
                "records who acted on the account, when and why, never its content",
            )
        )


def _review_exceptions(policy: Policy, category: str | None) -> dict[str, tuple[int, StorageException]]:
    if category is None or category not in policy.categories:
        return {}
    storage = policy.categories[category].storage
    if storage is None:
        return {}
    return {e.when: (i, e) for i, e in enumerate(storage.exceptions) if e.reviewed}


def _erase_content(
    policy: Policy, plan: Plan, store: Store, account_id: str, now: datetime, report: ErasureReport, batch_size: int
) -> tuple[int, list[str]]:
    """Delete content nothing keeps; list what a review exception keeps, with its date."""
    category = plan.content_category
    reviewed = _review_exceptions(policy, category)
    rule: Retention | None = retention_of(policy, category) if category else None
    with store.begin() as conn:
        rows = records.kept_of(conn, account_id)
    doomed, kept_ids = [], []
    for row in rows:
        until = min(d for d in (row.expires_at, deletion_date(rule, row.created_at)) if d is not None)
        if row.trigger in reviewed and until > now:
            index, exception = reviewed[row.trigger]
            kept_ids.append(row.id)
            report.kept.append(
                Kept(
                    f"{category} ({row.trigger}: {row.reasons})",
                    row.id,
                    f"categories.{category}.storage.exceptions[{index}]",
                    until,
                    f"kept for review ({exception.purpose}); then deleted by {rule.path if rule else 'its expiry'}",
                )
            )
        else:
            doomed.append(row.id)
    quarantine = tables.quarantine
    deleted = 0
    for start in range(0, len(doomed), batch_size):
        ids = doomed[start : start + batch_size]
        deleted += _delete_in_batches(store, quarantine, quarantine.c.id.in_(ids), batch_size)
    return deleted, kept_ids


def _delete_in_batches(store: Store, table: Table, where: ColumnElement[bool], batch_size: int) -> int:
    """Delete matching rows, `batch_size` at a time, each batch its own short transaction."""
    key = table.c.id
    done = 0
    while True:
        with store.begin() as conn:
            batch = next_batch(table, where, batch_size)
            if store.backend == "postgresql":
                batch = batch.with_for_update()  # id order, as the retention jobs lock: no deadlock between them
            ids = [row[0] for row in conn.execute(batch)]
            if not ids:
                return done
            done += max(conn.execute(delete(table).where(key.in_(ids))).rowcount, 0)


def next_batch(table: Table, where: ColumnElement[bool], batch_size: int) -> Select[Any]:
    """The ids of the next batch to delete, in id order (usage events by account: through their account index)."""
    return select(table.c.id).where(where).order_by(table.c.id).limit(batch_size)
