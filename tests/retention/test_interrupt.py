"""kill -9 in the middle of a retention run: the database stays consistent, and the next run finishes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

from sqlalchemy import text

from aether_policy.store import Store
from aether_policy.store.store import make_engine
from tests.conftest import POLICY_FILE
from tests.retention.fixtures import T0, add_usage, days

EXPIRED, YOUNG = 200_000, 1_000


def count(url: str, where: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM usage_events WHERE {where}")).scalar() or 0)
    finally:
        engine.dispose()


def test_a_killed_run_leaves_whole_batches_and_the_next_run_finishes(database_url: str) -> None:
    db = database_url
    store = Store(db)
    store.migrate()
    add_usage(store, [T0 - days(100)] * EXPIRED + [T0 - days(1)] * YOUNG)
    store.close()
    command = [
        sys.executable,
        "-m",
        "aether_policy.cli",
        "retention",
        "run",
        "--policy",
        str(POLICY_FILE),
        "--db",
        db,
        "--now",
        T0.isoformat(),
        "--rule",
        "usage_data",
        "--batch-size",
        "500",
    ]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while count(db, "1=1") == EXPIRED + YOUNG and time.monotonic() < deadline:
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    run.wait()

    left = count(db, "1=1") - YOUNG
    assert 0 < left < EXPIRED, "the kill should land mid-run"
    assert left % 500 == 0, "only whole batches are deleted"
    assert count(db, "timestamp > '2025-12-01'") == YOUNG
    if db.startswith("sqlite"):
        connection = sqlite3.connect(db.removeprefix("sqlite:///"))
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        connection.close()

    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    assert f"matched {left}, removed {left}" in finished.stdout
    assert count(db, "1=1") == YOUNG
