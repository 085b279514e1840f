"""A database made by the previous schema upgrades in place: it gains what the new version declares (the index on
usage events by account) and keeps every row; the access and erasure queries then use the index."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, func, insert, inspect, select

from aether_policy.rights import records
from aether_policy.rights.erasure import next_batch
from aether_policy.store import Store, tables
from tests.retention.fixtures import T0, usage_row

ACCOUNT_INDEX = "ix_usage_events_account_id"


def version_4_database(url: str) -> Store:
    """The tables as schema 4 made them: everything but the account index, with rows of two accounts."""
    old = MetaData()
    for table in tables.metadata.sorted_tables:
        copy = table.to_metadata(old)
        for index in list(copy.indexes):
            if index.name == ACCOUNT_INDEX:
                copy.indexes.discard(index)
    store = Store(url)
    old.create_all(store.engine)
    with store.begin() as conn:
        conn.execute(insert(old.tables["aether_schema_version"]).values(version=4))
        conn.execute(insert(old.tables["accounts"]).values(id="acct_1", name="acme", created_at=T0))
        conn.execute(
            insert(old.tables["usage_events"]),
            [usage_row(T0 + timedelta(minutes=i), account_id=f"acct_{1 + i % 2}") for i in range(10)],
        )
    return store


def indexes(store: Store) -> set[str]:
    with store.begin() as conn:
        return {str(index["name"]) for index in inspect(conn).get_indexes("usage_events")}


def recorded_version(store: Store) -> Any:
    with store.begin() as conn:
        return conn.execute(select(func.max(tables.schema_version.c.version))).scalar()


def test_a_version_4_database_gains_the_account_index_and_keeps_its_rows(database_url: str) -> None:
    store = version_4_database(database_url)
    before = list(records.usage_of(store, "acct_1"))
    assert ACCOUNT_INDEX not in indexes(store)
    store.migrate()
    assert ACCOUNT_INDEX in indexes(store) and recorded_version(store) == tables.SCHEMA_VERSION == 5
    assert list(records.usage_of(store, "acct_1")) == before and len(before) == 5
    assert store.usage_count() == 10 and store.get_account("acme") is not None
    store.close()


def test_a_second_start_after_the_upgrade_changes_nothing(database_url: str) -> None:
    store = version_4_database(database_url)
    store.migrate()
    store.migrate()
    assert ACCOUNT_INDEX in indexes(store) and store.usage_count() == 10
    store.close()


def test_a_new_database_has_the_account_index(database_url: str) -> None:
    store = Store(database_url)
    store.migrate()
    assert ACCOUNT_INDEX in indexes(store)
    store.close()


def query_plan(store: Store, statement: Any) -> str:
    compiled = statement.compile(store.engine, compile_kwargs={"literal_binds": True})
    with store.begin() as conn:
        return " | ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))


@pytest.fixture
def upgraded_sqlite(tmp_path: Any) -> Any:
    store = version_4_database(f"sqlite:///{tmp_path / 'aether.db'}")
    store.migrate()
    yield store
    store.close()


def test_the_access_export_reads_one_accounts_events_through_the_index(upgraded_sqlite: Store) -> None:
    plan = query_plan(upgraded_sqlite, records.usage_page("acct_1", -1))
    assert plan == f"SEARCH usage_events USING INDEX {ACCOUNT_INDEX} (account_id=? AND rowid>?)"


def test_the_erasure_finds_one_accounts_events_through_the_index(upgraded_sqlite: Store) -> None:
    usage = tables.usage_events
    plan = query_plan(upgraded_sqlite, next_batch(usage, usage.c.account_id == "acct_1", 5_000))
    assert plan == f"SEARCH usage_events USING COVERING INDEX {ACCOUNT_INDEX} (account_id=?)"


def test_before_the_upgrade_the_same_read_scans_the_table(tmp_path: Any) -> None:
    """The oracle for the two tests above: the plan names the index only when it exists."""
    store = version_4_database(f"sqlite:///{tmp_path / 'aether.db'}")
    plan = query_plan(store, records.usage_page("acct_1", -1))
    store.close()
    assert ACCOUNT_INDEX not in plan and plan.startswith("SEARCH usage_events USING INTEGER PRIMARY KEY")
