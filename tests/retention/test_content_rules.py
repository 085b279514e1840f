"""Kept content under several rules: each storage exception's records go under the rule it names.

Before, the first rule covering the content category deleted every kept record at its own window, so content an
account mark kept for a year went after the flagged rule's 30 days, and the year-long rule reported "nothing
stored by the gateway".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from aether_policy import load_policy_text
from aether_policy.plan import compile_policy
from aether_policy.retention import compile_jobs
from aether_policy.retention.jobs import RetentionJob
from aether_policy.store import Store, tables
from tests.policy_edits import replaced

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def jobs(policy_text: str) -> dict[str, RetentionJob]:
    text = replaced(
        policy_text,
        (
            "        - when: account_marked   # an operator marked the account as potentially violating the Terms\n"
            "          retention: flagged_content\n",
            "        - when: account_marked   # an operator marked the account as potentially violating the Terms\n"
            "          retention: marked_content\n",
        ),
        (
            "  usage_data:\n",
            "  marked_content:\n    title: Marked accounts' prompts\n    categories: [prompt_content]\n"
            "    keep_for: 1 year\n    after: flagging\n  usage_data:\n",
        ),
    )
    return {job.name: job for job in compile_jobs(compile_policy(load_policy_text(text).policy))}


def keep(store: Store, record_id: str, trigger: str, created: datetime, window: timedelta) -> None:
    row = {
        "id": record_id,
        "account_id": "acct_1",
        "trigger": trigger,
        "reasons": "[]",
        "created_at": created,
        "expires_at": created + window,
        "sealed": b"sealed",
    }
    with store.begin() as conn:
        conn.execute(insert(tables.quarantine), [row])


def kept(store: Store) -> list[str]:
    with store.begin() as conn:
        return sorted(conn.execute(select(tables.quarantine.c.id)).scalars())


def test_each_rule_that_keeps_content_deletes_its_own_records(store: Store, jobs: dict[str, RetentionJob]) -> None:
    assert jobs["marked_content"].action == "delete quarantine"
    keep(store, "flagged", "flagged", NOW - timedelta(days=60), timedelta(days=30))
    keep(store, "marked", "account_marked", NOW - timedelta(days=60), timedelta(days=365))
    assert jobs["flagged_content"].run(store, NOW).deleted == 1
    assert jobs["marked_content"].run(store, NOW).deleted == 0
    assert kept(store) == ["marked"]
    later = NOW + timedelta(days=306)
    assert jobs["flagged_content"].run(store, later).deleted == 0
    assert jobs["marked_content"].run(store, later).deleted == 1
    assert kept(store) == []


def test_a_record_whose_trigger_no_exception_names_goes_under_the_first_rule(
    store: Store, jobs: dict[str, RetentionJob]
) -> None:
    keep(store, "old", "some_removed_trigger", NOW - timedelta(days=60), timedelta(days=365))
    assert jobs["marked_content"].run(store, NOW).deleted == 0
    assert jobs["flagged_content"].run(store, NOW).deleted == 1
