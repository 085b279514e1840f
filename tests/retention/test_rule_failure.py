"""One failing rule never stops the others: its failure is reported (rule, what failed, no traceback), every
other rule still runs, and `retention run` exits non-zero.

The failure here is real: a trigger on the store's `quarantine` table refuses every delete, so the
flagged-content rule's statement fails on the database while the usage rule, which runs after it, has rows to
delete (as a NOT NULL column erased by a rule once failed the whole run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from aether_policy.cli import main
from aether_policy.retention import compile_jobs
from aether_policy.retention.schedule import RetentionScheduler
from aether_policy.store import Store, tables
from tests.conftest import POLICY_FILE
from tests.helpers import shipped_plan
from tests.retention.fixtures import T0, add_flagged, add_usage, days

HOLD = {
    "sqlite": [
        "CREATE TRIGGER hold_quarantine BEFORE DELETE ON quarantine BEGIN SELECT RAISE(ABORT, 'rows are held'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION hold_rows() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'rows are held'; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER hold_quarantine BEFORE DELETE ON quarantine FOR EACH ROW EXECUTE FUNCTION hold_rows()",
    ],
}
"""A trigger that makes every delete from `quarantine` fail, on each backend."""


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url, flush_interval=0.01)
    store.migrate()
    add_usage(store, [T0 - days(100), T0 - days(5)])
    add_flagged(store, T0 - days(60))
    with store.begin() as conn:
        for statement in HOLD[store.backend]:
            conn.execute(text(statement))
    yield store
    store.close()


def usage_rows(store: Store) -> int:
    with store.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.usage_events)).scalar() or 0)


def test_a_failing_rule_is_reported_in_its_result_and_the_next_rule_still_runs(store: Store) -> None:
    results = {job.name: job.run(store, T0) for job in compile_jobs(shipped_plan())}
    failed = results["flagged_content"].failed
    assert failed is not None and failed.split(":")[0] in ("IntegrityError", "ProgrammingError")
    assert "rows are held" in failed
    assert "\n" not in failed  # the driver's message, not the statement and its parameters
    assert results["usage_data"].failed is None
    assert results["usage_data"].deleted == 1
    assert usage_rows(store) == 1


def test_cli_reports_the_failed_rule_runs_the_rest_and_exits_non_zero(runner: CliRunner, store: Store) -> None:
    args = ["retention", "run", "--policy", str(POLICY_FILE), "--db", store.url, "--now", T0.isoformat()]
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    [failed] = [line for line in lines if line.startswith("flagged_content: FAILED (")]
    assert "rows are held" in failed
    assert failed.endswith("removed 0 before it  (delete quarantine)")
    assert any(line.startswith("usage_data: cutoff 2025-10-03T00:00:00+00:00, matched 1, removed 1") for line in lines)
    assert "Error: 1 retention rule failed: retention.flagged_content: " in result.output
    assert usage_rows(store) == 1


def test_cli_json_names_the_failure_and_exits_non_zero(runner: CliRunner, store: Store) -> None:
    args = ["retention", "run", "--policy", str(POLICY_FILE), "--db", store.url, "--now", T0.isoformat()]
    result = runner.invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = {rule["rule"]: rule["failed"] for rule in report["rules"]}
    assert failed["flagged_content"] is not None
    assert [name for name, why in failed.items() if why is not None] == ["flagged_content"]


def test_the_scheduler_runs_every_other_rule_and_retries_a_run_with_a_failed_rule(store: Store) -> None:
    scheduler = RetentionScheduler(store, shipped_plan(), every_seconds=3600)
    assert scheduler.run_once() is False
    assert scheduler.failures == 1
    with store.begin() as conn:
        [ran] = conn.execute(
            select(tables.audit_events.c.target).where(tables.audit_events.c.action == "retention.run")
        ).scalars()
    assert "usage_data" in ran.split(",")
    assert "flagged_content" not in ran.split(",")
