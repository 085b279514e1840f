"""Per-key controls as stored: expiry, the models a key may call, requests and tokens per minute.

The counters themselves live in `rate_windows`, one row per key and minute, moved with an UPSERT
(INSERT … ON CONFLICT DO UPDATE … RETURNING), so every replica on one database counts in the same row.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from aether_policy.exceptions import StorageError
from aether_policy.store import tables
from aether_policy.store._bounds import OutOfBounds, fit_row
from aether_policy.store.store import Store

_UNSET: Any = object()
# Glob characters are allowed; control characters and separators that would split a pattern are not.
_BAD_PATTERN_CHARS = frozenset("\n\r\t,\x00")


@dataclass(frozen=True)
class KeyControls:
    key_id: str
    account_id: str
    expires_at: datetime | None = None
    models: tuple[str, ...] = ()  # empty: every model the gateway routes
    rpm: int | None = None
    tpm: int | None = None

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def allows(self, model: str) -> bool:
        return not self.models or any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def describe(self) -> str:
        parts = [
            f"expires {self.expires_at.isoformat(timespec='seconds')}" if self.expires_at else "no expiry",
            f"models {', '.join(self.models)}" if self.models else "all models",
            f"{self.rpm} rpm" if self.rpm is not None else "no rpm limit",
            f"{self.tpm} tpm" if self.tpm is not None else "no tpm limit",
        ]
        return "; ".join(parts)


def check_patterns(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """Patterns as given, or a StorageError saying which one cannot be stored and why."""
    cleaned = tuple(p.strip() for p in patterns)
    for pattern in cleaned:
        if not pattern or any(ch in _BAD_PATTERN_CHARS for ch in pattern):
            raise StorageError(
                f"model pattern {pattern!r} is empty or contains a comma, tab or line break; give one pattern per "
                "--model, e.g. --model 'gpt-4o*'"
            )
    return cleaned


def controls_for_hash(store: Store, key_hash: str) -> KeyControls | None:
    """The controls of a live key (not revoked, account not deleted) by its hash; expiry is the caller's to judge."""
    k, a = tables.api_keys.c, tables.accounts.c
    with store.begin() as conn:
        row = conn.execute(
            select(k.id, k.account_id, k.expires_at, k.models, k.rpm, k.tpm)
            .join(tables.accounts, a.id == k.account_id)
            .where(k.key_hash == key_hash, k.revoked_at.is_(None), a.deleted_at.is_(None))
        ).first()
    if row is None:
        return None
    return KeyControls(
        row.id,
        row.account_id,
        row.expires_at,
        tuple(row.models.splitlines()) if row.models else (),
        row.rpm,
        row.tpm,
    )


def controls_by_id(store: Store, key_id: str) -> KeyControls:
    k = tables.api_keys.c
    with store.begin() as conn:
        row = conn.execute(select(k.key_hash).where(k.id == key_id)).first()
    found = controls_for_hash(store, row.key_hash) if row is not None else None
    if found is None:
        raise StorageError(f"no live key with id '{key_id}'; see: aether-policy keys list")
    return found


def update_controls(
    store: Store,
    key_id: str,
    *,
    expires_at: datetime | None = _UNSET,
    models: tuple[str, ...] | None = _UNSET,
    rpm: int | None = _UNSET,
    tpm: int | None = _UNSET,
) -> KeyControls:
    """Change the given controls of a live key (None clears one); returns the key's controls after."""
    current = controls_by_id(store, key_id)
    values: dict[str, Any] = {}
    if expires_at is not _UNSET:
        values["expires_at"] = expires_at
    if models is not _UNSET:
        values["models"] = "\n".join(check_patterns(models)) if models else None
    for name, limit in (("rpm", rpm), ("tpm", tpm)):
        if limit is not _UNSET:
            if limit is not None and limit < 1:
                raise StorageError(f"--{name} must be at least 1 (or 'none' for no limit)")
            values[name] = limit
    if not values:
        return current
    try:
        fitted = fit_row(tables.api_keys, values, alter=False).values
    except OutOfBounds as error:
        raise StorageError(str(error)) from None
    with store.begin() as conn:
        conn.execute(update(tables.api_keys).where(tables.api_keys.c.id == key_id).values(**fitted))
    return controls_by_id(store, key_id)


def add_to_window(store: Store, key_id: str, window: int, requests: int, tokens: int) -> tuple[int, int]:
    """Add to the key's window and return its (requests, tokens) after, atomically; with nothing to add, only read."""
    if not requests and not tokens:
        w = tables.rate_windows.c
        with store.begin() as conn:
            row = conn.execute(select(w.requests, w.tokens).where(w.key_id == key_id, w.window == window)).first()
        return (int(row.requests), int(row.tokens)) if row is not None else (0, 0)
    return _upsert(store, key_id, window, requests, tokens)


def _upsert(store: Store, key_id: str, window: int, requests: int, tokens: int) -> tuple[int, int]:
    w = tables.rate_windows
    dialect_insert = postgresql.insert if store.backend == "postgresql" else sqlite.insert
    values = dialect_insert(w).values(key_id=key_id, window=window, requests=requests, tokens=tokens)
    statement = values.on_conflict_do_update(
        index_elements=[w.c.key_id, w.c.window],
        set_={"requests": w.c.requests + requests, "tokens": w.c.tokens + tokens},
    ).returning(w.c.requests, w.c.tokens)
    with store.begin() as conn:
        row = conn.execute(statement).one()
        if row.requests == requests and row.tokens == tokens:
            # This call opened the window: prune every key's past windows (a key used once, or revoked, would
            # otherwise keep its last row for good). The table holds at most two rows per active key.
            conn.execute(delete(w).where(w.c.window < window - 1))
    return int(row.requests), int(row.tokens)
