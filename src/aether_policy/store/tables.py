"""The database schema, declared once for SQLite and PostgreSQL (SQLAlchemy Core, no ORM).

Each table names the policy categories it holds in its `info`, so the plan can prove at compile time that
every stored thing has a retention rule.
"""

from __future__ import annotations

from sqlalchemy import (
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

# 1: the first schema. 2: aether_metadata (the encryption key's fingerprint).
SCHEMA_VERSION = 2
metadata = MetaData()

schema_version = Table(
    "aether_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    info={"categories": ()},
)

# Facts about the database itself, one row per name: `encryption_key_fingerprint` (an HMAC under the key,
# never the key) lets every process refuse a key other than the one existing records were sealed with.
store_metadata = Table(
    "aether_metadata",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    info={"categories": ()},
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
    info={"categories": ("account",), "anchor": "deleted_at"},
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
    info={"categories": ("account",), "anchor": "accounts.deleted_at"},
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
    Index("ix_usage_events_timestamp", "timestamp"),
    info={"categories": ("api_usage", "performance", "device"), "anchor": "timestamp"},
)

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
    info={"categories": ("prompt_content",), "anchor": "expires_at"},
)

DATA_TABLES = (accounts, api_keys, usage_events, quarantine)
