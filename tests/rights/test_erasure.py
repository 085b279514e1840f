"""`accounts erase` after real traffic: only what a rule keeps is left, a second run removes nothing more, and
another account's data is untouched."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from aether_policy.cli import main
from aether_policy.retention import compile_jobs
from aether_policy.rights import erase_account
from aether_policy.store import Store, tables
from tests.helpers import shipped, shipped_plan
from tests.rights.conftest import BACKENDS, Traffic


def erase(runner: CliRunner, traffic: Traffic, name: str = "acme", *extra: str) -> dict[str, Any]:
    args = ["accounts", "erase", name, "--yes", "--format", "json", "--db", traffic.url]
    result = runner.invoke(main, [*args, "--policy", str(traffic.policy_file), *extra])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def snapshot(traffic: Traffic) -> dict[str, list[tuple[Any, ...]]]:
    with traffic.store.begin() as conn:
        return {
            t.name: sorted(tuple(r) for r in conn.execute(select(t)))
            for t in (tables.accounts, tables.api_keys, tables.usage_events, tables.quarantine)
        }


def of(snap: dict[str, list[tuple[Any, ...]]], account_id: str) -> dict[str, int]:
    """How many rows of each table belong to the account (by the column that ties each table to it)."""
    column = {"accounts": 0, "api_keys": 1, "usage_events": 8, "quarantine": 1}
    return {name: sum(1 for row in rows if row[column[name]] == account_id) for name, rows in snap.items()}


@BACKENDS
def test_erase_leaves_only_content_kept_for_review_and_the_account_it_belongs_to(
    runner: CliRunner, traffic: Traffic
) -> None:
    acme, other = traffic.account_id("acme"), traffic.account_id("other")
    before = snapshot(traffic)
    report = erase(runner, traffic)
    after = snapshot(traffic)
    assert report["deleted"] == {"usage_events": 3, "kept_content": 0, "api_keys": 1, "account": 0}
    assert of(after, acme) == {"accounts": 1, "api_keys": 0, "usage_events": 0, "quarantine": 1}
    assert of(after, other) == of(before, other) == {"accounts": 1, "api_keys": 1, "usage_events": 2, "quarantine": 1}
    assert {k: [r for r in v if acme not in r] for k, v in after.items()} == {
        k: [r for r in v if acme not in r] for k, v in before.items()
    }
    content, account = sorted(report["kept"], key=lambda k: k["what"], reverse=True)
    kept_row = next(r for r in after["quarantine"] if r[1] == acme)
    assert content["id"] == kept_row[0] and content["rule"] == "categories.prompt_content.storage.exceptions[0]"
    assert content["until"] == kept_row[5].isoformat() and "retention.flagged_content" in content["why"]
    deleted_at = next(r for r in after["accounts"] if r[0] == acme)[5]
    assert account["rule"] == "retention.account_data"
    assert account["until"] == (deleted_at + timedelta(days=30)).isoformat()


@BACKENDS
def test_a_second_erase_removes_nothing_more(runner: CliRunner, traffic: Traffic) -> None:
    first = erase(runner, traffic)
    between = snapshot(traffic)
    second = erase(runner, traffic)
    assert set(second["deleted"].values()) == {0}
    # The first erase is itself on record, and the audit rule keeps that record: the one new kept item.
    trail = [k for k in second["kept"] if k["what"].startswith("audit trail entry")]
    assert [k["what"] for k in trail] == ["audit trail entry (account.erase)"]
    assert [k for k in second["kept"] if k not in trail] == first["kept"] and snapshot(traffic) == between


@BACKENDS
def test_once_kept_content_has_expired_erase_removes_it_and_the_account(runner: CliRunner, traffic: Traffic) -> None:
    acme = traffic.account_id("acme")
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    report = erase(runner, traffic, "acme", "--now", later)
    assert report["kept"] == [] and report["deleted"]["kept_content"] == 1 and report["deleted"]["account"] == 1
    assert set(of(snapshot(traffic), acme).values()) == {0}
    args = ["accounts", "erase", "acme", "--yes", "--db", traffic.url, "--policy", str(traffic.policy_file)]
    again = runner.invoke(main, args)
    assert (again.exit_code, again.output) == (1, "Error: no account named 'acme'; see: aether-policy accounts list\n")


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_an_erased_accounts_key_is_refused_once_a_gateways_key_cache_expires(
    runner: CliRunner, traffic: Traffic
) -> None:
    erase(runner, traffic)
    gateway = Store(traffic.url, cache_ttl=0)  # a running gateway caches a key's verdict for cache_ttl (2 s)
    assert gateway.authenticate(traffic.keys["acme"]) is None
    assert gateway.authenticate(traffic.keys["other"]) is not None
    gateway.close()


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_erase_keeps_the_deletion_time_of_an_account_deleted_before(runner: CliRunner, traffic: Traffic) -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    traffic.store.delete_account("acme", first)
    erase(runner, traffic)
    account = traffic.store.get_account("acme")
    assert account is not None and account.deleted_at == first


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_erase_by_account_id_reaches_the_same_account(runner: CliRunner, traffic: Traffic) -> None:
    report = erase(runner, traffic, traffic.account_id("acme"))
    assert report["account"] == "acme" and report["deleted"]["usage_events"] == 3


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_erase_asks_before_deleting_and_a_no_deletes_nothing(runner: CliRunner, traffic: Traffic) -> None:
    before = snapshot(traffic)
    args = ["accounts", "erase", "acme", "--db", traffic.url, "--policy", str(traffic.policy_file)]
    result = runner.invoke(main, args, input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output and snapshot(traffic) == before


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_the_text_report_says_which_rule_keeps_what_until_when(runner: CliRunner, traffic: Traffic) -> None:
    args = ["accounts", "erase", "acme", "--yes", "--db", traffic.url, "--policy", str(traffic.policy_file)]
    lines = runner.invoke(main, args).output.splitlines()
    assert lines[1] == "deleted now: 3 usage events, 0 kept content items, 1 API keys, not the account"
    assert lines[2].startswith("kept: prompt_content (flagged: pattern:malware_request) ")
    assert "by categories.prompt_content.storage.exceptions[0]: kept for review (business_operations)" in lines[2]
    assert lines[3].startswith("kept: account acct_") and "by retention.account_data" in lines[3]


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_accounts_delete_still_only_starts_the_retention_clock(runner: CliRunner, traffic: Traffic) -> None:
    acme = traffic.account_id("acme")
    before = of(snapshot(traffic), acme)
    runner.invoke(main, ["accounts", "delete", "acme", "--db", traffic.url])
    assert of(snapshot(traffic), acme) == before


@BACKENDS
def test_erase_and_a_retention_run_at_once_both_finish_without_deadlock(private_database_url: str) -> None:
    """Both touch the same usage rows (erase deletes an account's, retention erases device columns of all)."""
    seed = Store(private_database_url)
    seed.migrate()
    ids = {name: seed.create_account(name).id for name in ("acme", "other")}
    old = datetime.now(UTC) - timedelta(days=40)
    rows = [
        {"timestamp": old, "endpoint": "/v1/messages", "account_id": ids[name], "ip_address": "192.0.2.7"}
        for _ in range(1500)
        for name in ("acme", "other")
    ]
    with seed.begin() as conn:
        conn.execute(tables.usage_events.insert(), rows)
    plan = shipped_plan()
    errors: list[BaseException] = []

    def in_thread(work: Callable[[Store], object]) -> threading.Thread:
        def run() -> None:
            store = Store(private_database_url)
            try:
                work(store)
            except BaseException as error:  # reported by the assertion below
                errors.append(error)
            finally:
                store.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    now = datetime.now(UTC)
    threads = [
        in_thread(lambda s: erase_account(shipped().policy, plan, s, "acme", now=now, batch_size=100)),
        in_thread(lambda s: [job.run(s, now, batch_size=100) for job in compile_jobs(plan)]),
    ]
    for thread in threads:
        thread.join(60)
    assert errors == [] and not any(t.is_alive() for t in threads)
    with seed.begin() as conn:
        left = conn.execute(select(tables.usage_events.c.account_id, tables.usage_events.c.ip_address)).all()
    seed.close()
    assert {a for a, _ in left} == {ids["other"]} and len(left) == 1500
    assert {ip for _, ip in left} == {None}


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_content_no_review_rule_keeps_is_erased_with_the_account(runner: CliRunner, traffic: Traffic) -> None:
    text = traffic.policy_file.read_text(encoding="utf-8")
    traffic.policy_file.write_text(
        text.replace("purpose: business_operations", "purpose: business_operations\n          reviewed: false"),
        encoding="utf-8",
    )
    report = erase(runner, traffic)
    assert report["kept"] == [] and report["deleted"]["kept_content"] == 1 and report["deleted"]["account"] == 1
    assert set(of(snapshot(traffic), traffic.account_id("other")).values()) == {1, 2}


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_an_id_that_is_also_an_older_accounts_name_reaches_neither(runner: CliRunner, traffic: Traffic) -> None:
    # A database from before names shaped like ids were refused may hold one: nothing is chosen for it.
    acme = traffic.account_id("acme")
    with traffic.store.begin() as conn:
        conn.execute(
            tables.accounts.insert().values(id="acct_0000000000000001", name=acme, created_at=datetime.now(UTC))
        )
    before = snapshot(traffic)
    for command in (["erase", acme, "--yes"], ["export", acme]):
        args = ["accounts", *command, "--db", traffic.url, "--policy", str(traffic.policy_file)]
        result = runner.invoke(main, args)
        assert result.exit_code == 1
        assert result.output == (
            f"Error: '{acme}' is both an account's id and another account's name; erase the account named so by "
            "its own id first (see: aether-policy accounts list)\n"
        )
    assert snapshot(traffic) == before


def without_audit_rule(text: str) -> str:
    """The policy without its audit category and rule: the trail is kept, but no rule bounds it."""
    for start, end in (("  audit_data:\n", "  cookies:\n"), ("  audit_trail:\n", "  tracking_cookies:\n")):
        i = text.index(start)
        text = text[:i] + text[text.index(end, i) :]
    return text


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_erase_is_refused_when_no_rule_covers_the_audit_trail_it_would_keep(
    runner: CliRunner, traffic: Traffic
) -> None:
    policy = traffic.policy_file.with_name("no-audit.yaml")
    policy.write_text(without_audit_rule(traffic.policy_file.read_text()))
    before = snapshot(traffic)
    args = ["accounts", "erase", "acme", "--yes", "--db", traffic.url, "--policy", str(policy)]
    result = runner.invoke(main, args)
    assert (result.exit_code, result.output) == (
        1,
        "Error: the gateway keeps an audit trail but no retention rule covers 'audit_data'; declare the category "
        "and add it to a rule with `after: collection`\n",
    )
    assert snapshot(traffic) == before
