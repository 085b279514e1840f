"""Run the retention jobs inside the gateway on a schedule; a failure is logged and retried, never fatal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from aether_policy.plan.compiled import Plan
from aether_policy.retention.jobs import compile_jobs
from aether_policy.store import audit
from aether_policy.store.store import Store

log = logging.getLogger("aether_policy.retention")
RETRY_SECONDS = 60.0


class RetentionScheduler:
    def __init__(
        self,
        store: Store,
        plan: Plan,
        every_seconds: float,
        *,
        actor: str = "gateway",
        on_removed: Callable[[str, int], None] | None = None,
    ) -> None:
        self.store = store
        self.actor = actor
        self.on_removed = on_removed  # e.g. the metrics' per-rule counter
        self.jobs = compile_jobs(plan)
        self.every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aether-retention", daemon=True)
        self.runs = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def run_once(self) -> bool:
        now = datetime.now(UTC)
        removed: dict[str, int] = {}
        failed = 0
        try:
            for job in self.jobs:
                result = job.run(self.store, now)
                if result.failed is not None:
                    # The job reports its own failure instead of raising, so the rules after it still run.
                    failed += 1
                    log.error("retention rule %s failed (%s); the other rules still run", job.name, result.failed)
                    continue
                if result.skipped is None:
                    removed[job.name] = result.deleted
                if result.deleted:
                    log.info("retention %s: %d removed (cutoff %s)", job.name, result.deleted, result.cutoff)
                    if self.on_removed is not None:
                        self.on_removed(job.name, result.deleted)
        except Exception as error:
            self.failures += 1
            log.error(
                "retention run failed (%s); retrying in %.0f s", type(error).__name__, min(RETRY_SECONDS, self.every)
            )
            return False
        try:
            audit.record_retention(self.store, removed, actor=self.actor, scheduled=True, now=now)
        except Exception as error:  # the rows are gone either way; say the trail missed it
            log.error("retention run not recorded in the audit trail (%s)", type(error).__name__)
        if failed:
            self.failures += 1
            log.error(
                "retention run failed (%d of %d rules); retrying in %.0f s",
                failed,
                len(self.jobs),
                min(RETRY_SECONDS, self.every),
            )
            return False  # retried sooner, as a run that raised
        self.runs += 1
        return True

    def _loop(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            wait = self.every if self.run_once() else min(RETRY_SECONDS, self.every)
