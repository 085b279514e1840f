"""Data-subject requests on SQLite: one account's usage events among many others', exported and then erased.

usage_events has no index on account_id (the request path writes it on every call; requests about one account are
rare), so both read the table in id order; this measures what that costs.

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--share", type=float, default=0.1, help="The account's share of all usage events.")
    args = parser.parse_args()
    policy = load_policy("policies/aetherapi.yaml").policy
    plan = compile_policy(policy)
    with tempfile.TemporaryDirectory() as folder:
        db_file = Path(folder) / "aether.db"
        mine = populate(db_file, args.events, args.share)
        store = Store(f"sqlite:///{db_file}")
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
    print(
        f"export  {export_seconds:6.2f} s ({mine / export_seconds:>9,.0f} events/s, {len(text) / 1e6:.0f} MB of JSON)"
    )
    print(f"erase   {erase_seconds:6.2f} s ({mine / erase_seconds:>9,.0f} events/s, batches of 5,000)")


if __name__ == "__main__":
    main()
