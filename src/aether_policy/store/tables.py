"""The database schema, declared once for SQLite and PostgreSQL (SQLAlchemy Core, no ORM).

Which policy categories each table holds is not written here: the policy binds its own names to the
gateway's tables (`aether_policy.bindings`), so the plan can prove at compile time that every stored thing
has a category and a retention rule whatever the policy calls it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from aether_policy.store._types import UTCDateTime

# 1: the first schema. 2: aether_metadata (the encryption key's fingerprint). 3: audit_events.
# 4: per-key controls (api_keys.expires_at, models, rpm, tpm), rate_windows, usage token counts.
# 5: an index on usage_events.account_id (added to existing databases by `_migrations.add_missing_indexes`).
SCHEMA_VERSION = 5
metadata = MetaData()

schema_version = Table(
    "aether_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    info={},
)

# Facts about the database itself, one row per name: `encryption_key_fingerprint` (an HMAC under the key,
# never the key) lets every process refuse a key other than the one existing records were sealed with.
store_metadata = Table(
    "aether_metadata",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    info={},
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("marked_at", UTCDateTime()),
    Column("mark_reason", Text),
    Column("deleted_at", UTCDateTime(), index=True),
    info={"anchor": "deleted_at"},
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    # Per-key controls, each NULL for "none": the key stops working at expires_at; models are glob patterns
    # (one per line) the key may call; rpm and tpm cap requests and tokens per minute (see gateway.limits).
    Column("expires_at", UTCDateTime()),
    Column("models", String(1000)),
    Column("rpm", Integer),
    Column("tpm", Integer),
    info={"anchor": "accounts.deleted_at"},
)

# Fixed one-minute windows of requests and tokens per key, shared by every replica on the database. Opening
# a window prunes every key's windows older than the previous minute, so only live counts are kept.
rate_windows = Table(
    "rate_windows",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("window", Integer, primary_key=True),  # minutes since the epoch, UTC
    Column("requests", Integer, nullable=False),
    Column("tokens", BigInteger, nullable=False),  # estimates of hostile streams add up: no 32-bit overflow
    info={"anchor": "window"},
)

usage_events = Table(
    "usage_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("endpoint", String(200)),
    Column("method", String(10)),
    Column("response_code", Integer),
    Column("model", String(200)),
    Column("latency_ms", Float),
    Column("error_class", String(100)),
    Column("account_id", String(40)),
    Column("ip_address", String(64)),
    Column("browser_family", String(64)),
    Column("browser_major_version", String(16)),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Index("ix_usage_events_timestamp", "timestamp"),
    info={"anchor": "timestamp"},
)

# Access and erasure requests read and delete one account's events; without it, each scans the whole table.
Index("ix_usage_events_account_id", usage_events.c.account_id)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40)),
    Column("trigger", String(20), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),
    info={"anchor": "expires_at"},
)

# Who did what to kept data, never the data: one row per privileged action (see `store.audit`). It is
# itself data the policy must declare (its `audit` binding, `audit_data` by default) and keep for a bounded
# time (`after: collection`).
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("occurred_at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=False),
    Column("reason", String(500)),
    Column("detail", String(500)),
    info={"anchor": "occurred_at"},
)

DATA_TABLES = (accounts, api_keys, usage_events, quarantine, audit_events, rate_windows)

# Columns added to existing tables after their first version, by the version that added them: a database
# created before gets them with ALTER TABLE when it is upgraded (new tables need nothing: create_all).
ADDED_COLUMNS: dict[int, tuple[tuple[Table, str], ...]] = {
    4: (
        (api_keys, "expires_at"),
        (api_keys, "models"),
        (api_keys, "rpm"),
        (api_keys, "tpm"),
        (usage_events, "input_tokens"),
        (usage_events, "output_tokens"),
    ),
}
