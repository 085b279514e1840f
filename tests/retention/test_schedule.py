"""`serve --retention-every`: jobs run on a schedule inside the gateway; a failure is logged and retried."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from aether_policy.retention import RetentionScheduler
from aether_policy.store import Store
from tests.helpers import shipped_plan
from tests.retention.fixtures import T0, add_usage, days


def test_the_scheduler_deletes_expired_rows_in_the_background(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.migrate()
    add_usage(store, [T0 - days(400), T0 - days(400)])
    scheduler = RetentionScheduler(store, shipped_plan(), every_seconds=0.05)
    scheduler.start()
    deadline = time.monotonic() + 10
    while store.usage_count() and time.monotonic() < deadline:
        time.sleep(0.02)
    scheduler.stop()
    store.close()
    assert store.usage_count() == 0 and scheduler.runs >= 1


def test_a_failing_run_is_logged_and_retried_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")  # no schema yet: the first runs fail
    scheduler = RetentionScheduler(store, shipped_plan(), every_seconds=3600)
    with caplog.at_level(logging.ERROR, logger="aether_policy.retention"):
        assert scheduler.run_once() is False
    assert scheduler.failures == 1
    # Each rule that touches a table fails on its own and says why (the cookie rule stores nothing); the run as a
    # whole is retried sooner.
    assert "retention rule account_data failed (OperationalError: (sqlite3.OperationalError) no such table" in (
        caplog.text
    )
    assert "retention run failed (5 of 6 rules); retrying in 60 s" in caplog.text
    store.migrate()
    assert scheduler.run_once() is True
    store.close()
