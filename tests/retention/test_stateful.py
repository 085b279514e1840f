"""Over any history of accounts, flags, usage and clock moves, a retention run at time T leaves exactly what
is younger than each rule's cutoff: nothing older remains, nothing younger is gone."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from aether_policy.exceptions import StorageError
from aether_policy.retention import compile_jobs
from aether_policy.store import Store
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.helpers import shipped_plan
from tests.retention.fixtures import T0, add_flagged, add_usage

USAGE, DEVICE, FLAGGED, ACCOUNT = (timedelta(days=d) for d in (90, 30, 30, 30))


class RetentionHistory(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    backend = "sqlite"

    @initialize()
    def open_store(self) -> None:
        self.folder = Path(tempfile.mkdtemp())
        if self.backend == "postgresql":
            assert POSTGRES_URL is not None
            reset_postgres(POSTGRES_URL)
        url = POSTGRES_URL if self.backend == "postgresql" else f"sqlite:///{self.folder / 'aether.db'}"
        self.store = Store(url, flush_interval=0.01)
        self.store.migrate()
        self.now = T0
        self.jobs = compile_jobs(shipped_plan())
        self.usage: list[datetime] = []
        self.flagged: dict[str, datetime] = {}
        self.deleted: dict[str, datetime | None] = {}
        self.ran_at: datetime | None = None

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule(target=accounts, name=st.text("abcdefgh", min_size=1, max_size=6))
    def create_account(self, name: str) -> str:
        if self.deleted.get(name) is not None:
            with pytest.raises(StorageError, match="is deleted; it cannot get new keys"):
                self.store.create_key(name, now=self.now)
            return name
        self.store.create_key(name, now=self.now)
        self.deleted.setdefault(name, None)
        return name

    @rule(name=accounts)
    def delete_account(self, name: str) -> None:
        if self.deleted.get(name, "gone") is None:
            self.store.delete_account(name, now=self.now)
            self.deleted[name] = self.now

    @rule(name=accounts, reason=st.sampled_from(["report", "abuse"]))
    def mark_account(self, name: str, reason: str) -> None:
        if name in self.deleted:
            self.store.mark_account(name, reason, now=self.now)

    @rule(count=st.integers(1, 5))
    def record_usage(self, count: int) -> None:
        add_usage(self.store, [self.now] * count)
        self.usage += [self.now] * count

    @rule()
    def flag_a_prompt(self) -> None:
        self.flagged[add_flagged(self.store, self.now)] = self.now

    @rule(hours=st.integers(0, 48) | st.sampled_from([24 * d for d in (1, 29, 30, 31, 59, 60, 61, 89, 90, 91)]))
    def advance_clock(self, hours: int) -> None:
        """Mostly small steps, and steps that land on and either side of each rule's boundary."""
        self.now += timedelta(hours=hours)

    @rule()
    def run_retention(self) -> None:
        for job in self.jobs:
            job.run(self.store, self.now, batch_size=3)
        self.ran_at = self.now

    @invariant()
    def only_the_young_remain_after_a_run(self) -> None:
        if self.ran_at is None:
            return
        at = self.ran_at
        self.usage = [t for t in self.usage if t > at - USAGE]
        rows = self.store.usage_events()
        assert sorted(r["timestamp"] for r in rows) == sorted(self.usage)
        for row in rows:
            assert (row["ip_address"] is None) == (row["timestamp"] <= at - DEVICE)
        self.flagged = {i: t for i, t in self.flagged.items() if t > at - FLAGGED}
        assert {item.id for item in self.store.list_quarantine()} == set(self.flagged)
        self.deleted = {n: d for n, d in self.deleted.items() if d is None or d > at - ACCOUNT}
        assert {a.name for a in self.store.list_accounts()} == set(self.deleted)
        assert {k.account_name for k in self.store.list_keys()} <= set(self.deleted)
        self.ran_at = None


RetentionHistory.TestCase.settings = settings(max_examples=100, stateful_step_count=25, deadline=None)
test_retention_history = RetentionHistory.TestCase


class RetentionHistoryOnPostgres(RetentionHistory):
    backend = "postgresql"


RetentionHistoryOnPostgres.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
test_retention_history_on_postgres = pytest.mark.postgres(
    pytest.mark.skipif(POSTGRES_URL is None, reason="set AETHER_TEST_POSTGRES_URL")(RetentionHistoryOnPostgres.TestCase)
)
