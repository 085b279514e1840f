"""Upgrading a database made by an older aether-policy: the columns later versions added to existing tables."""

from __future__ import annotations

from sqlalchemy import Connection, inspect
from sqlalchemy.schema import CreateColumn

from aether_policy.store import tables


def add_missing_columns(conn: Connection, version: int) -> None:
    """ALTER TABLE … ADD COLUMN for each column added after `version` that the table lacks.

    Runs inside the migration's transaction (under PostgreSQL's advisory lock); a column another process
    added in between is seen by the inspection and skipped. Added columns are all nullable, so old rows
    need no value.
    """
    inspector = inspect(conn)
    for added_in, columns in sorted(tables.ADDED_COLUMNS.items()):
        if added_in <= version:
            continue
        for table, name in columns:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            if name in present:
                continue
            ddl = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {conn.dialect.identifier_preparer.quote(table.name)} ADD COLUMN {ddl}")
            inspector.clear_cache()
