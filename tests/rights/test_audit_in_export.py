"""The access export lists the audit trail's entries about the account, after real privileged actions: under the
policy's audit category with its retention rule, none about another account, and none holding content."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from aether_policy.cli import main
from aether_policy.store import audit, tables
from tests.rights.conftest import BACKENDS, FLAGGED, OTHER_FLAGGED, Traffic
from tests.rights.test_access import export, items


def cli(runner: CliRunner, traffic: Traffic, *args: str) -> str:
    result = runner.invoke(main, [*args, "--db", traffic.url, "--actor", "ops-ana"])
    assert result.exit_code == 0, result.output
    return result.output


def trail(runner: CliRunner, traffic: Traffic, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(main, ["audit", "list", "--format", "json", "--db", traffic.url, *args])
    assert result.exit_code == 0, result.output
    events: list[dict[str, Any]] = json.loads(result.output)["events"]
    return events


def created_key(runner: CliRunner, traffic: Traffic, account: str) -> tuple[str, str]:
    """(key id, plaintext) of a key made by `keys create`."""
    output = cli(runner, traffic, "keys", "create", "--account", account, "--rpm", "60")
    key_id = output.split("created key ", 1)[1].split(" ", 1)[0]
    return key_id, output.strip().splitlines()[-1]


def kept_item(traffic: Traffic, name: str) -> str:
    q = tables.quarantine.c
    with traffic.store.begin() as conn:
        return str(conn.execute(select(q.id).where(q.account_id == traffic.account_id(name))).scalar_one())


def audit_items(data: dict[str, Any]) -> list[dict[str, Any]]:
    return items(data, "audit_event")


@BACKENDS
def test_privileged_actions_on_the_account_are_in_its_export_under_the_audit_rule(
    runner: CliRunner, traffic: Traffic
) -> None:
    key_id, _ = created_key(runner, traffic, "acme")
    cli(runner, traffic, "keys", "revoke", key_id, "--reason", "rotated by the customer")
    cli(runner, traffic, "accounts", "mark", "acme", "--reason", "ToS report 77")
    data = export(runner, traffic, "--actor", "ops-ben")
    entries = audit_items(data)
    assert [(i["values"]["action"], i["values"]["target"]) for i in entries] == [
        ("key.create", key_id),
        ("key.revoke", key_id),
        ("account.mark", "acme"),
        ("account.export", "acme"),
    ]
    assert [i["values"]["actor"] for i in entries] == ["ops-ana"] * 3 + ["ops-ben"]
    group = next(g for g in data["categories"] if g["items"] and g["items"][0]["kind"] == "audit_event")
    assert group["category"] == "audit_data" and group["retention"]["rule"] == "retention.audit_trail"
    assert all(i["delete_at"] for i in entries)


@BACKENDS
def test_another_accounts_entries_are_not_in_the_export(runner: CliRunner, traffic: Traffic) -> None:
    other_key, _ = created_key(runner, traffic, "other")
    cli(runner, traffic, "keys", "revoke", other_key)
    cli(runner, traffic, "accounts", "mark", "other", "--reason", "the other's report 12")
    other_item = kept_item(traffic, "other")
    cli(runner, traffic, "review", "show", other_item, "--reason", "ticket for the other")
    cli(runner, traffic, "review", "dismiss", other_item)
    text = json.dumps(audit_items(export(runner, traffic)))
    for value in (other_key, other_item, "the other's report", "ticket for the other", traffic.account_id("other")):
        assert value not in text
    assert [i["values"]["action"] for i in audit_items(export(runner, traffic))] == ["account.export"] * 2


@BACKENDS
def test_the_audit_entries_in_the_export_hold_no_content(runner: CliRunner, traffic: Traffic) -> None:
    key_id, plaintext = created_key(runner, traffic, "acme")
    cli(runner, traffic, "review", "show", kept_item(traffic, "acme"), "--reason", "abuse ticket 4411")
    data = export(runner, traffic)  # content withheld: anything of it in the export came through the trail
    text = json.dumps(data)
    with traffic.store.begin() as conn:
        key_hash = conn.execute(select(tables.api_keys.c.key_hash).where(tables.api_keys.c.id == key_id)).scalar()
    assert key_hash and key_hash not in text and plaintext not in text and plaintext[10:26] not in text
    assert FLAGGED not in text and FLAGGED[:16] not in text and OTHER_FLAGGED[:16] not in text
    shown = [i for i in audit_items(data) if i["values"]["action"] == "review.show"]
    assert len(shown) == 1 and shown[0]["values"]["reason"] == "abuse ticket 4411"


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_a_review_of_content_dismissed_since_stays_in_the_export(runner: CliRunner, traffic: Traffic) -> None:
    item = kept_item(traffic, "acme")
    cli(runner, traffic, "review", "show", item, "--reason", "abuse ticket 4411")
    cli(runner, traffic, "review", "dismiss", item, "--reason", "false positive")
    entries = audit_items(export(runner, traffic))
    assert [(i["values"]["action"], i["values"]["target"]) for i in entries][:2] == [
        ("review.show", item),
        ("review.dismiss", item),
    ]


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_the_export_is_on_record_before_it_is_read(runner: CliRunner, traffic: Traffic) -> None:
    export(runner, traffic, "--reason", "access request 14")
    listed = trail(runner, traffic)
    assert [(e["action"], e["target"], e["reason"], e["detail"]) for e in listed] == [
        ("account.export", "acme", "access request 14", f"kept content decrypted; account {traffic.account_id('acme')}")
    ]


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_a_reason_too_long_for_the_trail_is_refused_before_anything_is_read(
    runner: CliRunner, traffic: Traffic
) -> None:
    args = ["accounts", "export", "acme", "--db", traffic.url, "--policy", str(traffic.policy_file)]
    result = runner.invoke(main, [*args, "--reason", "x" * 501])
    assert result.exit_code == 2 and "at most 500 fit in the audit trail" in result.output
    assert result.stdout.count("{") == 0
    assert trail(runner, traffic) == []


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_erasure_says_the_audit_rule_keeps_the_accounts_entries(runner: CliRunner, traffic: Traffic) -> None:
    cli(runner, traffic, "accounts", "mark", "acme", "--reason", "ToS report 77")
    args = ["accounts", "erase", "acme", "--yes", "--format", "json", "--db", traffic.url]
    result = runner.invoke(main, [*args, "--policy", str(traffic.policy_file), "--reason", "erasure request 3"])
    assert result.exit_code == 0, result.output
    kept = [k for k in json.loads(result.output)["kept"] if k["what"].startswith("audit trail entry")]
    assert [(k["what"], k["rule"]) for k in kept] == [("audit trail entry (account.mark)", "retention.audit_trail")]
    listed = trail(runner, traffic, "--action", "account.erase")
    assert [(e["target"], e["reason"]) for e in listed] == [("acme", "erasure request 3")]


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("actor", ["  ", "a" * 101, "ops\x00ana"])
def test_an_actor_the_trail_cannot_hold_is_refused_before_anything_is_read(
    runner: CliRunner, traffic: Traffic, actor: str
) -> None:
    for command in ("export", "erase"):
        args = ["accounts", command, "acme", "--yes"] if command == "erase" else ["accounts", command, "acme"]
        result = runner.invoke(
            main, [*args, "--db", traffic.url, "--policy", str(traffic.policy_file), "--actor", actor]
        )
        assert result.exit_code == 2 and "--actor" in result.output and "{" not in result.stdout
    assert trail(runner, traffic) == [] and traffic.store.usage_count() == 5  # nothing erased


def reused_name(runner: CliRunner, traffic: Traffic) -> str:
    """`carol` marked and erased, then a new account named `carol`: the new one's id."""
    created_key(runner, traffic, "carol")
    cli(runner, traffic, "accounts", "mark", "carol", "--reason", "Carol Jones generated malware, case 17")
    cli(runner, traffic, "accounts", "erase", "carol", "--yes", "--policy", str(traffic.policy_file), "--reason", "x1")
    assert traffic.store.get_account("carol") is None
    created_key(runner, traffic, "carol")
    return traffic.account_id("carol")


@BACKENDS
def test_a_new_account_with_an_erased_accounts_name_does_not_get_its_entries(
    runner: CliRunner, traffic: Traffic
) -> None:
    new_id = reused_name(runner, traffic)
    entries = audit_items(export(runner, traffic, name="carol"))
    assert [i["values"]["action"] for i in entries] == ["key.create", "account.export"]
    assert "Carol Jones" not in json.dumps(entries) and all(new_id in i["values"]["detail"] for i in entries[1:])


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_erasing_a_new_account_with_a_reused_name_lists_only_its_own_entries(
    runner: CliRunner, traffic: Traffic
) -> None:
    reused_name(runner, traffic)
    args = ["accounts", "erase", "carol", "--yes", "--format", "json", "--db", traffic.url]
    result = runner.invoke(main, [*args, "--policy", str(traffic.policy_file)])
    assert result.exit_code == 0, result.output
    kept = [k["what"] for k in json.loads(result.output)["kept"] if k["what"].startswith("audit trail entry")]
    assert kept == ["audit trail entry (key.create)"]


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_entries_recorded_without_an_account_id_count_only_from_the_accounts_creation(
    runner: CliRunner, traffic: Traffic
) -> None:
    created = traffic.store.get_account("acme")
    assert created is not None
    before, after = created.created_at - timedelta(seconds=1), created.created_at + timedelta(seconds=1)
    audit.record(traffic.store, "account.mark", "acme", actor="ops", reason="an earlier acme's report", now=before)
    audit.record(traffic.store, "account.mark", "acme", actor="ops", reason="this acme's report", now=after)
    reasons = [i["values"]["reason"] for i in audit_items(export(runner, traffic))]
    assert "this acme's report" in reasons and "an earlier acme's report" not in reasons


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_an_entry_naming_another_accounts_id_is_not_found_by_the_name(runner: CliRunner, traffic: Traffic) -> None:
    other = traffic.account_id("other")
    detail = audit.item_detail(other, "kept content withheld")
    audit.record(traffic.store, "account.export", "acme", actor="ops", reason="the other's request", detail=detail)
    reasons = [i["values"]["reason"] for i in audit_items(export(runner, traffic))]
    assert "the other's request" not in reasons
