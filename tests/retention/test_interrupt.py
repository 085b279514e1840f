"""kill -9 in the middle of a retention run: the database stays consistent, and the next run finishes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from aether_policy.store import Store
from tests.conftest import POLICY_FILE
from tests.retention.fixtures import T0, add_usage, days

EXPIRED, YOUNG = 200_000, 1_000


def count(db_file: Path, where: str) -> int:
    connection = sqlite3.connect(db_file, timeout=30)
    try:
        return int(connection.execute(f"SELECT count(*) FROM usage_events WHERE {where}").fetchone()[0])
    finally:
        connection.close()


def test_a_killed_run_leaves_whole_batches_and_the_next_run_finishes(tmp_path: Path) -> None:
    db_file = tmp_path / "aether.db"
    store = Store(f"sqlite:///{db_file}")
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
        f"sqlite:///{db_file}",
        "--now",
        T0.isoformat(),
        "--rule",
        "usage_data",
        "--batch-size",
        "500",
    ]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while count(db_file, "1=1") == EXPIRED + YOUNG and time.monotonic() < deadline:
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    run.wait()

    left = count(db_file, "1=1") - YOUNG
    assert 0 < left < EXPIRED, "the kill should land mid-run"
    assert left % 500 == 0, "only whole batches are deleted"
    assert count(db_file, "timestamp > '2025-12-01'") == YOUNG
    connection = sqlite3.connect(db_file)
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()

    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    assert f"matched {left}, removed {left}" in finished.stdout
    assert count(db_file, "1=1") == YOUNG
