"""Opening a database that must already exist: what read-only commands use, so a typo never creates one.

A mistyped `--db sqlite:///aether.bd` would otherwise leave an empty database behind and answer "no keys",
which looks like data loss. Read-only commands also never migrate: an older schema is reported with the
command that upgrades it, rather than changed by a command that only meant to look.
"""

from __future__ import annotations

from pathlib import Path

from aether_policy.exceptions import StorageError
from aether_policy.store import tables
from aether_policy.store._urls import URL_ENV, parse_url
from aether_policy.store.store import Store

_CREATES = "`aether-policy serve` (or `keys create`) creates it; commands that only read never do"


def open_existing(url: str) -> Store:
    """A Store over an existing database at the current schema version, or a StorageError naming the URL."""
    parsed = parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:"):
        assert database is not None
        if not database.startswith("file:") and not Path(database).is_file():
            raise StorageError(
                f"no database at {shown}: the file {database} does not exist. Check --db or ${URL_ENV}; {_CREATES}"
            )
    store = Store(url)
    try:
        version = store.schema_version()
        if version is None:
            raise StorageError(f"{shown} has no aether-policy tables. Check --db or ${URL_ENV}; {_CREATES}")
        if version < tables.SCHEMA_VERSION:
            raise StorageError(
                f"the database {shown} has schema version {version}, older than this aether-policy's "
                f"({tables.SCHEMA_VERSION}); `aether-policy serve` upgrades it (read-only commands never do)"
            )
        if version > tables.SCHEMA_VERSION:
            raise StorageError(
                f"the database schema is version {version}, newer than this aether-policy "
                f"({tables.SCHEMA_VERSION}); upgrade aether-policy"
            )
    except BaseException:
        store.close()
        raise
    return store
