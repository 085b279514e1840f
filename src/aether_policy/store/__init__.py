"""Storage: one module of queries over one database URL (SQLite by default, PostgreSQL for replicas)."""

from aether_policy.plan.gate import QuarantineInfo
from aether_policy.store._urls import DEFAULT_URL, URL_ENV, database_url, key_file_for, parse_url
from aether_policy.store.store import Account, KeyInfo, Store

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "Account",
    "KeyInfo",
    "QuarantineInfo",
    "Store",
    "database_url",
    "key_file_for",
    "parse_url",
]
