"""Everything the store holds about one account, read from the store's own tables, and nothing of another's.

The queries live here rather than in the store module because they answer data-subject requests, not the
gateway: they read whole rows an operator is about to hand to a person or erase, never the request path.
Each row is tied to the account by its id (`accounts.id`, `api_keys.account_id`, `usage_events.account_id`,
`quarantine.account_id`), so another account's data cannot match.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, not_, or_, select

from aether_policy.exceptions import StorageError
from aether_policy.store import audit, tables
from aether_policy.store.store import ACCOUNT_ID_PREFIX, Account, Store

PAGE = 5_000  # rows per read: an account with millions of usage events is read in pages, by id


@dataclass(frozen=True)
class KeyRow:
    id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeptRow:
    id: str
    trigger: str
    reasons: str
    created_at: datetime
    expires_at: datetime
    sealed: bytes


def find_account(store: Store, name: str) -> Account:
    """The account by its id (`acct_…`, as `review list` shows it), or by name.

    New names may not look like ids, but a database may hold one made before that rule: when an id and
    another account's name are the same text, nothing is chosen, since an export or erasure of the wrong
    account cannot be undone.
    """
    accounts = tables.accounts.c
    with store.begin() as conn:
        rows = list(conn.execute(select(tables.accounts).where(accounts.name == name)))
        if name.startswith(ACCOUNT_ID_PREFIX):
            rows += conn.execute(select(tables.accounts).where(accounts.id == name))
    found = {row.id: row for row in rows}
    if len(found) > 1:
        raise StorageError(
            f"'{name}' is both an account's id and another account's name; erase the account named so by its "
            "own id first (see: aether-policy accounts list)"
        )
    if not found:
        raise StorageError(f"no account named '{name}'; see: aether-policy accounts list")
    return Account(**next(iter(found.values()))._mapping)


def keys_of(conn: Connection, account_id: str) -> list[KeyRow]:
    keys = tables.api_keys.c
    rows = conn.execute(
        select(keys.id, keys.prefix, keys.created_at, keys.revoked_at)
        .where(keys.account_id == account_id)
        .order_by(keys.created_at, keys.id)
    )
    return [KeyRow(**row._mapping) for row in rows]


def kept_of(conn: Connection, account_id: str) -> list[KeptRow]:
    q = tables.quarantine.c
    rows = conn.execute(
        select(q.id, q.trigger, q.reasons, q.created_at, q.expires_at, q.sealed)
        .where(q.account_id == account_id)
        .order_by(q.created_at, q.id)
    )
    return [KeptRow(**{**row._mapping, "sealed": bytes(row.sealed)}) for row in rows]


def audit_of(conn: Connection, account: Account, key_ids: list[str], item_ids: list[str]) -> list[audit.AuditEvent]:
    """The audit trail's events about the account, oldest first: actions on it, on its keys, on its kept content.

    Matched on exact ids and the exact name, never a pattern: another account's name or id cannot match. An
    account event is found by the account id its detail ends with; one recorded before that detail existed
    (none names an id) by the name, and only from this account's creation on, since an erased account's name
    can be taken by a new one. A review event is found by its item while the item is kept, and by the account
    id its detail ends with after (events recorded before that detail existed are found only while their item
    is kept).
    """
    a = tables.audit_events.c
    by_id = a.detail.endswith(f"account {account.id}", autoescape=True)
    unnamed_id = or_(a.detail.is_(None), not_(a.detail.contains(audit.ID_MARK, autoescape=True)))
    legacy = and_(a.target == account.name, a.occurred_at >= account.created_at, unnamed_id)
    about = [and_(a.action.in_(audit.ABOUT_ACCOUNT), or_(by_id, legacy))]
    if key_ids:
        about.append(and_(a.action.in_(audit.ABOUT_KEY), a.target.in_(key_ids)))
    by_item = [by_id]
    if item_ids:
        by_item.append(a.target.in_(item_ids))
    about.append(and_(a.action.in_(audit.ABOUT_ITEM), or_(*by_item)))
    rows = conn.execute(select(tables.audit_events).where(or_(*about)).order_by(a.id))
    return [audit.AuditEvent(**row._mapping) for row in rows]


def usage_of(store: Store, account_id: str) -> Iterator[dict[str, Any]]:
    """The account's usage events in id order, one short read per page (no long-held snapshot)."""
    after = -1
    while True:
        with store.begin() as conn:
            rows = conn.execute(usage_page(account_id, after)).all()
        if not rows:
            return
        for row in rows:
            yield dict(row._mapping)
        after = rows[-1].id


def usage_page(account_id: str, after: int) -> Select[Any]:
    """The account's next page of usage events after id `after`, found through `ix_usage_events_account_id`."""
    usage = tables.usage_events.c
    return (
        select(tables.usage_events)
        .where(usage.account_id == account_id, usage.id > after)
        .order_by(usage.id)
        .limit(PAGE)
    )
