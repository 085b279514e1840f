"""Upgrading a database made by an older aether-policy: the columns and indexes later versions added to existing
tables (`create_all` makes only what is missing whole: a table it finds keeps its old columns and indexes)."""

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


def add_missing_indexes(conn: Connection) -> None:
    """CREATE INDEX for each index the tables declare that the database lacks (schema 5: usage events by account).

    Every declared index is compared by name, so the check needs no list per version and an upgrade from any
    older version ends with all of them; rows are untouched. On PostgreSQL the build runs inside the migration's
    transaction, under its advisory lock: writes to that table wait until it is built (the gateway's writer
    queues its usage events meanwhile), reads do not.
    """
    inspector = inspect(conn)
    for table in tables.metadata.sorted_tables:
        present = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if index.name not in present:
                index.create(conn)
