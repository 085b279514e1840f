"""Each retention rule deletes (or erases) exactly what has expired, and nothing younger."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from aether_policy import load_policy_text
from aether_policy.cli import main
from aether_policy.exceptions import PolicyError
from aether_policy.plan import compile_policy
from aether_policy.retention import compile_jobs
from aether_policy.store import Store, tables
from tests.conftest import POLICY_FILE
from tests.helpers import shipped_plan
from tests.retention.fixtures import T0, add_flagged, add_usage, days


def run_all(store: Store, now: object, dry_run: bool = False) -> dict[str, int]:
    return {job.name: job.run(store, now, dry_run=dry_run).deleted for job in compile_jobs(shipped_plan())}  # type: ignore[arg-type]


def test_usage_rows_go_after_90_days_and_device_columns_after_30(store: Store) -> None:
    add_usage(store, [T0 - days(100), T0 - days(45), T0 - days(5)])
    removed = run_all(store, T0)
    assert (removed["usage_data"], removed["technical_data"]) == (1, 1)
    rows = store.usage_events()
    assert [(r["ip_address"], r["browser_family"], r["model"]) for r in rows] == [
        (None, None, "gpt-4o"),
        ("198.51.100.7", "OpenAI/Python", "gpt-4o"),
    ]


def test_flagged_content_goes_at_its_expiry_and_not_before(store: Store) -> None:
    old = add_flagged(store, T0 - days(31))
    young = add_flagged(store, T0 - days(29))
    assert run_all(store, T0)["flagged_content"] == 1
    assert [item.id for item in store.list_quarantine()] == [young]
    assert old != young


def test_shortening_the_window_in_the_policy_shortens_what_is_already_kept(store: Store, policy_text: str) -> None:
    add_flagged(store, T0 - days(10))
    text = policy_text.replace(
        "    keep_for: 30 days\n    after: flagging", "    keep_for: 7 days\n    after: flagging"
    )
    jobs = compile_jobs(compile_policy(load_policy_text(text).policy))
    assert {job.name: job.run(store, T0).deleted for job in jobs}["flagged_content"] == 1


def test_usage_kept_one_month_goes_on_the_calendar_date_even_at_the_end_of_a_month(
    store: Store, policy_text: str
) -> None:
    # On 28 February 10:00, 31 January 10:00 plus one month has come (clamped to 28 February); a second later has not.
    now = datetime(2027, 2, 28, 10, tzinfo=UTC)
    add_usage(
        store, [datetime(2027, 1, 31, 10, tzinfo=UTC), datetime(2027, 1, 31, 10, 0, 1, tzinfo=UTC), now - days(1)]
    )
    jobs = compile_jobs(
        compile_policy(load_policy_text(policy_text.replace("keep_for: 90 days", "keep_for: 1 month")).policy)
    )
    assert {job.name: job.run(store, now).deleted for job in jobs}["usage_data"] == 1
    assert sorted(row["timestamp"] for row in store.usage_events()) == [
        datetime(2027, 1, 31, 10, 0, 1, tzinfo=UTC),
        now - days(1),
    ]


def test_a_rule_in_years_deletes_what_is_older_than_the_same_date_years_ago(store: Store, policy_text: str) -> None:
    now = datetime(2033, 3, 1, tzinfo=UTC)
    add_usage(store, [datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC)])
    jobs = compile_jobs(
        compile_policy(load_policy_text(policy_text.replace("keep_for: 90 days", "keep_for: 7 years")).policy)
    )
    assert {job.name: job.run(store, now).deleted for job in jobs}["usage_data"] == 1
    assert [row["timestamp"] for row in store.usage_events()] == [datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC)]


def test_a_deleted_account_and_its_keys_go_30_days_after_deletion(store: Store) -> None:
    store.create_key("gone", now=T0 - days(100))
    store.create_key("recent", now=T0 - days(100))
    store.create_key("alive", now=T0 - days(100))
    store.delete_account("gone", now=T0 - days(31))
    store.delete_account("recent", now=T0 - days(29))
    assert run_all(store, T0)["account_data"] == 1
    assert [a.name for a in store.list_accounts()] == ["alive", "recent"]
    assert {k.account_name for k in store.list_keys()} == {"alive", "recent"}


def test_a_dry_run_counts_and_deletes_nothing(store: Store) -> None:
    add_usage(store, [T0 - days(100)] * 3)
    results = {job.name: job.run(store, T0, dry_run=True) for job in compile_jobs(shipped_plan())}
    assert (results["usage_data"].matched, results["usage_data"].deleted) == (3, 0)
    assert store.usage_count() == 3


def test_running_twice_deletes_nothing_more(store: Store) -> None:
    add_usage(store, [T0 - days(100)] * 5 + [T0])
    assert run_all(store, T0)["usage_data"] == 5
    assert run_all(store, T0) == {name: 0 for name in run_all(store, T0)}


def test_two_runners_at_once_delete_each_row_once(store: Store) -> None:
    add_usage(store, [T0 - days(100)] * 30_000 + [T0] * 10)
    job = next(j for j in compile_jobs(shipped_plan()) if j.name == "usage_data")
    counts: list[int] = []
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            counts.append(job.run(store, T0, batch_size=1000).deleted)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) == 30_000
    assert store.usage_count() == 10


def test_stored_data_no_rule_covers_is_a_compile_time_error() -> None:
    plan = shipped_plan()
    without_usage_rule = dataclasses.replace(plan, retention=tuple(s for s in plan.retention if s.name != "usage_data"))
    with pytest.raises(PolicyError, match="usage column 'account_id' stores api_usage.account_id, which no retention"):
        compile_jobs(without_usage_rule)


def test_accounts_under_a_collection_rule_are_refused(policy_text: str) -> None:
    text = policy_text.replace(
        "    keep_for: 30 days\n    after: account_deletion", "    keep_for: 30 days\n    after: collection"
    )
    with pytest.raises(PolicyError, match="must be `after: account_deletion`"):
        compile_jobs(compile_policy(load_policy_text(text).policy))


def test_cli_runs_as_of_a_time_and_reports_json(runner: CliRunner, store: Store) -> None:
    add_usage(store, [T0 - days(100), T0])
    args = ["retention", "run", "--policy", str(POLICY_FILE), "--db", store.url, "--now", "2026-01-01T00:00:00Z"]
    report = json.loads(runner.invoke(main, [*args, "--format", "json", "--rule", "usage_data"]).output)
    assert report["rules"] == [
        {
            "rule": "usage_data",
            "title": "Usage and Performance Data",
            "action": "delete usage_events",
            "cutoff": "2025-10-03T00:00:00+00:00",
            "matched": 1,
            "deleted": 1,
            "dry_run": False,
            "skipped": None,
            "failed": None,
        }
    ]
    with store.begin() as conn:
        assert conn.execute(select(func.count()).select_from(tables.usage_events)).scalar() == 1


def test_cli_text_lists_every_rule(runner: CliRunner, store: Store) -> None:
    args = [
        "retention",
        "run",
        "--policy",
        str(POLICY_FILE),
        "--db",
        store.url,
        "--now",
        "2026-01-01T00:00:00",
        "--dry-run",
    ]
    lines = runner.invoke(main, args).output.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "account_data",
        "flagged_content",
        "usage_data",
        "technical_data",
        "audit_trail",
        "tracking_cookies",
    ]
    assert lines[2] == "usage_data: cutoff 2025-10-03T00:00:00+00:00, matched 0, would remove 0  (delete usage_events)"


def test_cli_unknown_rule_is_a_usage_error(runner: CliRunner, store: Store) -> None:
    result = runner.invoke(
        main, ["retention", "run", "--policy", str(POLICY_FILE), "--db", store.url, "--rule", "nope"]
    )
    assert result.exit_code == 2
    assert "no retention rule 'nope'; rules: account_data, flagged_content, usage_data" in result.output


def test_cli_bad_now_is_a_usage_error(runner: CliRunner, store: Store) -> None:
    result = runner.invoke(
        main, ["retention", "run", "--policy", str(POLICY_FILE), "--db", store.url, "--now", "yesterday"]
    )
    assert result.exit_code == 2
    assert "'yesterday' is not ISO-8601" in result.output
