"""Over time, through the real gateway: accounts are marked and unmarked, prompts flow, the clock moves and
retention runs. Flagged content is kept from the moment it is flagged until its window ends, then it is gone;
unflagged content is never kept at all."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime, timedelta

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from aether_policy.retention import compile_jobs
from tests.properties.harness import running_gateway
from tests.properties.strategies import PATTERN_SUFFIX
from tests.retention.fixtures import T0

WINDOW = timedelta(days=30)


class GatewayOverTime(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.now = T0
        self.stack = ExitStack()
        self.h = self.stack.enter_context(running_gateway(clock=lambda: self.now))
        self.jobs = compile_jobs(self.h.plan)
        self.marked = {"marked"}
        self.kept: dict[str, datetime] = {}  # record id -> flag time, as the model expects
        self.sent = 0

    def teardown(self) -> None:
        self.stack.close()

    def _send(self, account: str, text: str) -> None:
        before = {item.id for item in self.h.store.list_quarantine()}
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
        with httpx.Client(base_url=self.h.base, timeout=10) as client:
            client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {self.h.keys[account]}"})
        self.sent += 1
        deadline = datetime.now() + timedelta(seconds=10)
        while self.h.store.usage_count() < self.sent and datetime.now() < deadline:
            self.h.store.flush()
        self.h.store.flush()
        new = [item for item in self.h.store.list_quarantine() if item.id not in before]
        flagged = account in self.marked or PATTERN_SUFFIX in text
        assert len(new) == (1 if flagged else 0), f"{len(new)} records for a {'flagged' if flagged else 'clean'} prompt"
        for item in new:
            assert item.created_at == self.now and item.expires_at == self.now + WINDOW
            self.kept[item.id] = self.now

    @rule(account=st.sampled_from(["clean", "marked"]), text=st.text(min_size=1, max_size=40), flag=st.booleans())
    def send_a_prompt(self, account: str, text: str, flag: bool) -> None:
        self._send(account, text + (PATTERN_SUFFIX if flag else ""))

    @rule(account=st.sampled_from(["clean", "marked"]))
    def mark(self, account: str) -> None:
        self.h.store.mark_account(account, "review")
        self.h.store.cache_ttl = 0  # a mark takes effect on the next request
        self.marked.add(account)

    @rule(account=st.sampled_from(["clean", "marked"]))
    def unmark(self, account: str) -> None:
        self.h.store.unmark_account(account)
        self.marked.discard(account)

    @rule(days=st.sampled_from([0, 1, 15, 29, 30, 31, 45]))
    def advance_clock(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def run_retention(self) -> None:
        for job in self.jobs:
            job.run(self.h.store, self.now)
        self.kept = {i: t for i, t in self.kept.items() if t + WINDOW > self.now}
        assert {item.id for item in self.h.store.list_quarantine()} == set(self.kept)

    @invariant()
    def nothing_kept_past_its_window_after_a_run(self) -> None:
        for item in self.h.store.list_quarantine():
            assert item.expires_at - item.created_at <= WINDOW


GatewayOverTime.TestCase.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_flagged_content_over_time = GatewayOverTime.TestCase
