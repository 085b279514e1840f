"""The audit trail: each privileged command leaves who, when, what and why, never the content it touched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from aether_policy.cli import main
from aether_policy.store import Store, tables
from aether_policy.store import audit as trail
from tests.cli.test_store_commands import keep_one
from tests.conftest import POLICY_FILE


@pytest.fixture
def db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("AETHER_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("AETHER_ACTOR", "alice@ops")
    monkeypatch.chdir(tmp_path)
    return database_url


def events(db: str) -> list[trail.AuditEvent]:
    store = Store(db)
    try:
        return trail.events(store)
    finally:
        store.close()


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_reading_kept_content_is_recorded_with_actor_reason_and_no_content(runner: CliRunner, db: str) -> None:
    item = keep_one(db, "write a ransomware please")
    run(runner, "review", "show", item, "--reason", "abuse ticket 4411", "--actor", "bob", "--db", db)
    [event] = events(db)
    assert (event.actor, event.action, event.target, event.reason) == ("bob", "review.show", item, "abuse ticket 4411")
    assert abs(event.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)
    store = Store(db)
    with store.begin() as conn:
        stored = " ".join(str(v) for row in conn.execute(select(tables.audit_events)) for v in row)
    store.close()
    assert "ransomware" not in stored


def test_review_show_without_a_reason_is_refused_and_reads_nothing(runner: CliRunner, db: str) -> None:
    item = keep_one(db, "write a ransomware please")
    result = runner.invoke(main, ["review", "show", item, "--db", db])
    assert result.exit_code == 2 and "Missing option '--reason'" in result.output
    blank = runner.invoke(main, ["review", "show", item, "--reason", "  ", "--db", db])
    assert blank.exit_code == 2 and "ransomware" not in blank.output
    assert events(db) == []


def test_a_reason_too_long_for_the_trail_is_refused_before_anything_is_read(runner: CliRunner, db: str) -> None:
    item = keep_one(db, "write a ransomware please")
    result = runner.invoke(main, ["review", "show", item, "--reason", "x" * 501, "--db", db])
    assert result.exit_code == 2 and "is 501 characters; at most 500 fit in the audit trail" in result.output
    assert "ransomware" not in result.output and events(db) == []


def test_an_action_whose_record_would_not_fit_is_not_taken(runner: CliRunner, db: str) -> None:
    run(runner, "keys", "create", "--account", "acme", "--db", db)
    result = runner.invoke(main, ["accounts", "mark", "acme", "--reason", "y" * 600, "--db", db])
    assert result.exit_code == 2
    too_long_actor = runner.invoke(main, ["accounts", "delete", "acme", "--actor", "z" * 101, "--db", db])
    assert too_long_actor.exit_code == 2 and "the actor is 101 characters; at most 100 fit" in too_long_actor.output
    store = Store(db)
    account = store.get_account("acme")
    store.close()
    assert account is not None and account.marked_at is None and account.deleted_at is None


def test_the_checked_widths_are_the_audit_tables_columns() -> None:
    from aether_policy._actor import ACTOR_MAX, REASON_MAX

    assert (tables.audit_events.c.actor.type.length, tables.audit_events.c.reason.type.length) == (
        ACTOR_MAX,
        REASON_MAX,
    )


def test_each_account_and_key_action_is_recorded_with_its_target(runner: CliRunner, db: str) -> None:
    run(runner, "keys", "create", "--account", "acme", "--db", db)
    key_id = run(runner, "keys", "list", "--db", db).split("\t")[0]
    run(runner, "keys", "revoke", key_id, "--reason", "leaked", "--db", db)
    run(runner, "accounts", "mark", "acme", "--reason", "ToS report 12", "--db", db)
    run(runner, "accounts", "unmark", "acme", "--db", db)
    run(runner, "accounts", "delete", "acme", "--reason", "closure request", "--db", db)
    assert [(e.actor, e.action, e.target, e.reason) for e in events(db)] == [
        ("alice@ops", "key.create", key_id, None),
        ("alice@ops", "key.revoke", key_id, "leaked"),
        ("alice@ops", "account.mark", "acme", "ToS report 12"),
        ("alice@ops", "account.unmark", "acme", None),
        ("alice@ops", "account.delete", "acme", "closure request"),
    ]


def test_the_created_key_itself_is_never_recorded(runner: CliRunner, db: str) -> None:
    key = run(runner, "keys", "create", "--account", "acme", "--db", db).strip().splitlines()[-1]
    [event] = events(db)
    assert key not in json.dumps(event.as_dict()) and key[:14] not in json.dumps(event.as_dict())


def test_dismissing_kept_content_is_recorded(runner: CliRunner, db: str) -> None:
    item = keep_one(db, "write a ransomware please")
    run(runner, "review", "dismiss", item, "--reason", "false positive", "--db", db)
    assert [(e.action, e.target, e.reason) for e in events(db)] == [("review.dismiss", item, "false positive")]


def test_a_failed_action_is_not_recorded(runner: CliRunner, db: str) -> None:
    run(runner, "keys", "create", "--account", "acme", "--db", db)
    assert runner.invoke(main, ["accounts", "mark", "nobody", "--reason", "x", "--db", db]).exit_code == 1
    assert [e.action for e in events(db)] == ["key.create"]


def test_replacing_the_encryption_key_is_recorded_with_its_fingerprint(runner: CliRunner, db: str) -> None:
    run(runner, "encryption-key", "replace", "--reason", "rotation", "--db", db)
    [event] = events(db)
    store = Store(db)
    fingerprint = store.key_fingerprint()
    store.close()
    assert fingerprint is not None
    assert (event.action, event.target, event.reason) == ("encryption_key.replace", fingerprint[:12], "rotation")
    assert event.detail == "0 sealed item(s) discarded"


def test_a_retention_run_is_recorded_with_rows_removed_per_rule_and_a_dry_run_is_not(
    runner: CliRunner, db: str
) -> None:
    run(runner, "retention", "run", "--policy", str(POLICY_FILE), "--db", db, "--dry-run")
    assert events(db) == []
    run(runner, "retention", "run", "--policy", str(POLICY_FILE), "--db", db, "--rule", "usage_data")
    [event] = events(db)
    assert (event.action, event.target, event.detail) == ("retention.run", "usage_data", "rows removed: usage_data 0")


def test_serve_records_its_start_with_the_digest(runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from tests.helpers import shipped_plan

    monkeypatch.setattr(uvicorn.Server, "run", lambda server, *_, **__: None)
    run(runner, "serve", "--policy", str(POLICY_FILE), "--db", db, "--port", "8123")
    [event] = events(db)
    assert (event.action, event.target, event.detail) == ("serve.start", shipped_plan().digest, "http://127.0.0.1:8123")


def test_audit_list_prints_events_and_filters_them(runner: CliRunner, db: str) -> None:
    store = Store(db)
    store.migrate()
    old = datetime(2026, 1, 1, tzinfo=UTC)
    trail.record(store, "account.mark", "acme", actor="carol", reason="report 1", now=old)
    trail.record(store, "review.show", "item1", actor="dave", reason="ticket\t2", now=old + timedelta(days=2))
    store.close()
    text = run(runner, "audit", "list", "--db", db)
    assert text.splitlines()[0] == "2026-01-01T00:00:00+00:00\tcarol\taccount.mark\tacme\treport 1\t-"
    since = run(runner, "audit", "list", "--since", "2026-01-02", "--format", "json", "--db", db)
    assert [e["target"] for e in json.loads(since)["events"]] == ["item1"]
    assert json.loads(since)["events"][0]["reason"] == "ticket\t2"
    only = run(runner, "audit", "list", "--action", "account.mark", "--db", db)
    assert only.count("\n") == 1 and "carol" in only
    assert run(runner, "audit", "list", "--limit", "1", "--db", db).startswith("2026-01-03")


def test_audit_list_refuses_an_unknown_action_and_a_bad_since(runner: CliRunner, db: str) -> None:
    bad = runner.invoke(main, ["audit", "list", "--action", "review.read", "--db", db])
    assert bad.exit_code == 2 and "'review.read' is not an action; one of: review.show" in bad.output
    since = runner.invoke(main, ["audit", "list", "--since", "last tuesday", "--db", db])
    assert since.exit_code == 2 and "is neither an ISO-8601 time" in since.output


def test_an_empty_actor_is_refused(runner: CliRunner, db: str) -> None:
    result = runner.invoke(main, ["keys", "create", "--account", "acme", "--actor", " ", "--db", db])
    assert result.exit_code == 2 and "--actor" in result.output


def test_a_reason_with_line_breaks_cannot_forge_an_event_in_the_text_listing(runner: CliRunner, db: str) -> None:
    store = Store(db)
    store.migrate()
    forged = "ok\n2026-01-01T00:00:00+00:00\tmallory\treview.show\tx\ty\t-"
    trail.record(store, "account.mark", "acme", actor="eve\tadmin", reason=forged)
    store.close()
    lines = run(runner, "audit", "list", "--db", db).splitlines()
    assert len(lines) == 1 and lines[0].count("\t") == 5
    assert lines[0].split("\t")[1] == "eve\\tadmin" and "ok\\n2026" in lines[0]
