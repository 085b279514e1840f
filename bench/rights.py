"""Data-subject requests on SQLite: one account's usage events among many others', exported and then erased.

Both find the account's events through `ix_usage_events_account_id` (schema 5). The script also times the upgrade
of a schema-4 database holding these events (the index built on existing rows), and, with `--share 0.001`, the
case the index is for: a small account among many events. The index is paid for on the write path: `--writes`
times the background writer's batched inserts (500 rows a transaction) with and without it.

    .venv/bin/python bench/rights.py [--events 1000000] [--share 0.1]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aether_policy import load_policy
from aether_policy.plan import compile_policy
from aether_policy.rights import erase_account, export_account
from aether_policy.store import Store

NOW = datetime(2026, 6, 1, tzinfo=UTC)
WHEN = (NOW - timedelta(days=1)).replace(tzinfo=None).isoformat(sep=" ")


def populate(db_file: Path, events: int, share: float) -> int:
    store = Store(f"sqlite:///{db_file}")
    store.migrate()
    acme = store.create_account("acme", NOW).id
    store.create_key("acme", NOW)
    store.close()
    every = max(1, round(1 / share))
    connection = sqlite3.connect(db_file)
    connection.executemany(
        "INSERT INTO usage_events (timestamp, endpoint, method, response_code, model, latency_ms, account_id, "
        "ip_address, browser_family, browser_major_version) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            (WHEN, "/v1/chat/completions", "POST", 200, "gpt-4o", 12.5, acme if i % every == 0 else f"acct_{i % 997}")
            + ("198.51.100.7", "Firefox", "128")
            for i in range(events)
        ),
    )
    connection.commit()
    mine = connection.execute("SELECT count(*) FROM usage_events WHERE account_id = ?", (acme,)).fetchone()[0]
    connection.close()
    return int(mine)


def writes(batches: int = 400) -> None:
    """The writer's shape and path (`insert_rows`: one multi-row INSERT on SQLite), 500 usage events per
    transaction from 997 accounts, with the index and without it."""
    from sqlalchemy import text

    from aether_policy.store import tables
    from aether_policy.store._bulk import insert_rows

    rows = [
        {"timestamp": NOW, "endpoint": "/v1/chat/completions", "method": "POST", "response_code": 200}
        | {"model": "gpt-4o", "latency_ms": 12.5, "account_id": f"acct_{i % 997}", "ip_address": "198.51.100.7"}
        for i in range(500)
    ]
    for indexed in (True, False, True, False):
        with tempfile.TemporaryDirectory() as folder:
            store = Store(f"sqlite:///{Path(folder) / 'aether.db'}")
            store.migrate()
            if not indexed:
                with store.begin() as conn:
                    conn.execute(text("DROP INDEX ix_usage_events_account_id"))
            start = time.perf_counter()
            for _ in range(batches):
                with store.begin() as conn:
                    insert_rows(conn, tables.usage_events, rows)
            seconds = time.perf_counter() - start
            store.close()
        label = "with the account index" if indexed else "without it            "
        print(f"writes  {label} {batches * 500 / seconds:>9,.0f} events/s ({batches} batches of 500)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--share", type=float, default=0.1, help="The account's share of all usage events.")
    parser.add_argument("--writes", action="store_true", help="Time batched inserts with and without the index.")
    args = parser.parse_args()
    if args.writes:
        writes()
        return
    policy = load_policy("policies/aetherapi.yaml").policy
    plan = compile_policy(policy)
    with tempfile.TemporaryDirectory() as folder:
        db_file = Path(folder) / "aether.db"
        mine = populate(db_file, args.events, args.share)
        connection = sqlite3.connect(db_file)
        connection.execute("DROP INDEX ix_usage_events_account_id")  # as schema 4 left it
        connection.execute("UPDATE aether_schema_version SET version = 4")
        connection.commit()
        connection.close()
        store = Store(f"sqlite:///{db_file}")
        start = time.perf_counter()
        store.migrate()
        upgrade_seconds = time.perf_counter() - start
        start = time.perf_counter()
        data = export_account(policy, plan, store, "acme", now=NOW, reason=None, cipher=None)
        text = json.dumps(data)
        export_seconds = time.perf_counter() - start
        start = time.perf_counter()
        report = erase_account(policy, plan, store, "acme", now=NOW)
        erase_seconds = time.perf_counter() - start
        store.close()
    assert report.deleted["usage_events"] == mine
    print(f"{args.events:,} usage events, {mine:,} of them the account's")
    print(f"upgrade {upgrade_seconds:6.2f} s (schema 4 to 5: the account index built over every event)")
    print(
        f"export  {export_seconds:6.2f} s ({mine / export_seconds:>9,.0f} events/s, {len(text) / 1e6:.0f} MB of JSON)"
    )
    print(f"erase   {erase_seconds:6.2f} s ({mine / erase_seconds:>9,.0f} events/s, batches of 5,000)")


if __name__ == "__main__":
    main()
