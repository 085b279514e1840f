"""Retention throughput on SQLite: 1,000,000 expired usage events and 100,000 expired quarantined prompts,
deleted by the retention jobs and, on an identical copy, by one raw DELETE each. One run, same machine.

    .venv/bin/python bench/retention.py [--events 1000000] [--prompts 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aether_policy import load_policy
from aether_policy.plan import compile_policy
from aether_policy.retention import compile_jobs
from aether_policy.store import Store

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = (NOW - timedelta(days=200)).replace(tzinfo=None).isoformat(sep=" ")
YOUNG = (NOW - timedelta(days=1)).replace(tzinfo=None).isoformat(sep=" ")


def populate(db_file: Path, events: int, prompts: int) -> None:
    store = Store(f"sqlite:///{db_file}")
    store.migrate()
    store.close()
    connection = sqlite3.connect(db_file)
    row = ("/v1/chat/completions", "POST", 200, "gpt-4o", 12.5, None, "acct_1", "198.51.100.7", "OpenAI/Python", "1")
    columns = ", ".join(
        ("timestamp", "endpoint", "method", "response_code", "model", "latency_ms", "error_class", "account_id")
        + ("ip_address", "browser_family", "browser_major_version")
    )
    connection.executemany(
        f"INSERT INTO usage_events ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        ((OLD if i < events else YOUNG, *row) for i in range(events + 1000)),
    )
    connection.executemany(
        "INSERT INTO quarantine (id, account_id, trigger, reasons, created_at, expires_at, sealed) "
        "VALUES (?,?,?,?,?,?,?)",
        ((f"q{i}", "acct_1", "flagged", "pattern:x", OLD, OLD, os.urandom(256)) for i in range(prompts)),
    )
    connection.commit()
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--prompts", type=int, default=100_000)
    args = parser.parse_args()
    plan = compile_policy(load_policy("policies/aetherapi.yaml").policy)
    jobs = {job.name: job for job in compile_jobs(plan)}
    with tempfile.TemporaryDirectory() as folder:
        jobs_db, raw_db = Path(folder) / "jobs.db", Path(folder) / "raw.db"
        populate(jobs_db, args.events, args.prompts)
        shutil.copy(jobs_db, raw_db)

        store = Store(f"sqlite:///{jobs_db}")
        start = time.perf_counter()
        usage = jobs["usage_data"].run(store, NOW)
        usage_seconds = time.perf_counter() - start
        start = time.perf_counter()
        flagged = jobs["flagged_content"].run(store, NOW)
        flagged_seconds = time.perf_counter() - start
        store.close()

        connection = sqlite3.connect(raw_db)
        connection.execute("PRAGMA journal_mode=WAL")
        cutoff = (NOW - timedelta(days=90)).replace(tzinfo=None).isoformat(sep=" ")
        start = time.perf_counter()
        raw_usage = connection.execute("DELETE FROM usage_events WHERE timestamp <= ?", (cutoff,)).rowcount
        connection.commit()
        raw_usage_seconds = time.perf_counter() - start
        start = time.perf_counter()
        raw_flagged = connection.execute(
            "DELETE FROM quarantine WHERE expires_at <= ?", (NOW.replace(tzinfo=None).isoformat(sep=" "),)
        ).rowcount
        connection.commit()
        raw_flagged_seconds = time.perf_counter() - start
        connection.close()

    assert usage.deleted == raw_usage == args.events and flagged.deleted == raw_flagged == args.prompts
    for name, n, seconds, raw_seconds in (
        ("usage events", usage.deleted, usage_seconds, raw_usage_seconds),
        ("quarantined prompts", flagged.deleted, flagged_seconds, raw_flagged_seconds),
    ):
        print(
            f"{name:20} {n:>9,} rows: jobs {seconds:6.2f} s ({n / seconds:>9,.0f} rows/s)   "
            f"raw DELETE {raw_seconds:6.2f} s ({n / raw_seconds:>9,.0f} rows/s)   ratio {seconds / raw_seconds:.2f}x"
        )


if __name__ == "__main__":
    main()
