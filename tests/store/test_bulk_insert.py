"""The writer's multi-row insert stores exactly what SQLAlchemy's `insert` stores, in as many statements as
SQLite's variable limit needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from aether_policy.store import Store, _bulk, tables


def events(n: int) -> list[dict[str, Any]]:
    """Events with every column's kind of value: aware timestamps in two zones, NULLs, floats, odd text."""
    base = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    rows = []
    for i in range(n):
        zone = UTC if i % 2 else timezone(timedelta(hours=-5))
        at = base + timedelta(seconds=i)
        if i % 3 == 0:
            at = at.replace(microsecond=0)  # a whole second: SQLite's format still writes `.000000`
        rows.append(
            {
                "timestamp": at.astimezone(zone),
                "endpoint": "/v1/chat/completions",
                "method": "POST",
                "response_code": 200 + i % 3,
                "model": None if i % 4 == 0 else "gpt-4o-mini",
                "latency_ms": 1.5 + i / 7,
                "error_class": None,
                "account_id": f"acct_{i}",
                "ip_address": None,
                "browser_family": 'O\'Brien "quoted" ?',
                "browser_major_version": str(i),
                "input_tokens": i,
                "output_tokens": None,
            }
        )
    return rows


def raw(store: Store) -> list[tuple[Any, ...]]:
    """The stored values as SQLite holds them, not as SQLAlchemy reads them back."""
    with store.begin() as conn:
        return list(conn.exec_driver_sql("SELECT * FROM usage_events ORDER BY id").all())


def stores(tmp_path: Path) -> tuple[Store, Store]:
    made = []
    for name in ("bulk", "core"):
        store = Store(f"sqlite:///{tmp_path / name}.db")
        store.migrate()
        made.append(store)
    return made[0], made[1]


def inserted_both_ways(tmp_path: Path, rows: list[dict[str, Any]]) -> tuple[Store, Store]:
    """Two new stores holding `rows`: one written by the multi-row insert, one by SQLAlchemy's `insert`."""
    bulk, core = stores(tmp_path)
    with bulk.begin() as conn:
        _bulk.insert_rows(conn, tables.usage_events, rows)
    with core.begin() as conn:
        conn.execute(insert(tables.usage_events), rows)
    return bulk, core


def test_the_multi_row_insert_stores_what_sqlalchemy_s_insert_stores(tmp_path: Path) -> None:
    rows = events(25)
    bulk, core = inserted_both_ways(tmp_path, rows)
    assert raw(bulk) == raw(core)
    assert bulk.usage_events() == core.usage_events()


def test_a_time_range_finds_bulk_inserted_rows_as_it_finds_sqlalchemy_s(tmp_path: Path) -> None:
    """Retention, exports and expiry compare timestamps as SQLite text: the same format, the same answers."""
    rows = events(9)
    bulk, core = inserted_both_ways(tmp_path, rows)
    since = rows[3]["timestamp"]  # a whole second
    found = []
    for store in (bulk, core):
        with store.begin() as conn:
            query = select(tables.usage_events.c.id).where(tables.usage_events.c.timestamp >= since)
            found.append(conn.execute(query.order_by(tables.usage_events.c.id)).scalars().all())
    assert found[0] == found[1] == list(range(4, 10))


def test_a_batch_larger_than_sqlite_s_variable_limit_is_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bulk, core = stores(tmp_path)
    statements: list[str] = []
    monkeypatch.setattr(_bulk, "_variable_limit", lambda conn: 13 * 4)  # four rows of 13 columns a statement
    rows = events(10)
    with bulk.begin() as conn:
        real = conn.exec_driver_sql

        def counted(sql: str, params: Any) -> Any:
            statements.append(sql)
            return real(sql, params)

        monkeypatch.setattr(conn, "exec_driver_sql", counted)
        _bulk.insert_rows(conn, tables.usage_events, rows)
    with core.begin() as conn:
        conn.execute(insert(tables.usage_events), rows)
    assert [sql.count("(?") for sql in statements] == [4, 4, 2]
    assert raw(bulk) == raw(core)


def test_rows_with_different_columns_are_refused_as_sqlalchemy_refuses_them(tmp_path: Path) -> None:
    """The writer then replays the batch row by row (tests/store/test_writer.py): no row is lost."""
    bulk, _ = stores(tmp_path)
    rows = events(2)
    del rows[1]["model"]
    with pytest.raises(StatementError, match="A value is required for bind parameter 'model'"), bulk.begin() as conn:
        _bulk.insert_rows(conn, tables.usage_events, rows)
    assert bulk.usage_events() == []


def test_a_naive_timestamp_is_refused_as_the_store_refuses_it(tmp_path: Path) -> None:
    bulk, _ = stores(tmp_path)
    rows = events(1)
    rows[0]["timestamp"] = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="naive datetime"), bulk.begin() as conn:
        _bulk.insert_rows(conn, tables.usage_events, rows)
    assert bulk.usage_events() == []
