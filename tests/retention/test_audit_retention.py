"""The audit trail is policy data like any other: its rule removes events once their period has passed."""

from __future__ import annotations

import dataclasses

import pytest

from aether_policy import load_policy_text
from aether_policy.exceptions import PolicyError
from aether_policy.plan import compile_policy
from aether_policy.retention import compile_jobs
from aether_policy.store import Store
from aether_policy.store import audit as trail
from tests.helpers import shipped_plan
from tests.retention.fixtures import T0, days


def test_audit_events_go_365_days_after_they_were_recorded_and_not_before(store: Store) -> None:
    trail.record(store, "account.mark", "old", actor="a", now=T0 - days(366))
    trail.record(store, "account.mark", "recent", actor="a", now=T0 - days(364))
    [job] = [job for job in compile_jobs(shipped_plan()) if job.name == "audit_trail"]
    assert job.action == "delete audit_events"
    assert job.run(store, T0).deleted == 1
    assert [e.target for e in trail.events(store)] == ["recent"]


def test_a_policy_with_no_rule_for_the_audit_trail_does_not_compile_jobs() -> None:
    plan = shipped_plan()
    without = dataclasses.replace(plan, retention=tuple(s for s in plan.retention if s.name != "audit_trail"))
    with pytest.raises(PolicyError, match="keeps an audit trail but no retention rule covers 'audit_data'"):
        compile_jobs(without)


def test_an_audit_rule_anchored_on_account_deletion_is_refused(policy_text: str) -> None:
    text = policy_text.replace(
        "    keep_for: 365 days\n    after: collection", "    keep_for: 365 days\n    after: account_deletion"
    )
    with pytest.raises(PolicyError, match="covers the audit trail, so it must be `after: collection`"):
        compile_jobs(compile_policy(load_policy_text(text).policy))


def test_a_scheduled_run_is_audited_and_reports_rows_removed_per_rule(store: Store) -> None:
    from datetime import UTC, datetime

    from aether_policy.retention.schedule import RetentionScheduler

    trail.record(store, "account.mark", "ancient", actor="a", now=datetime.now(UTC) - days(400))
    removed: list[tuple[str, int]] = []
    scheduler = RetentionScheduler(
        store, shipped_plan(), 3600, actor="gw-1", on_removed=lambda r, n: removed.append((r, n))
    )
    assert scheduler.run_once()
    [event] = [e for e in trail.events(store) if e.action == "retention.run"]
    assert event.actor == "gw-1" and event.detail is not None and event.detail.startswith("scheduled; rows removed: ")
    assert "audit_trail 1" in event.detail and removed == [("audit_trail", 1)]
