"""`accounts export` after real traffic: every stored item of the account, nothing of another's, each dated as the
retention jobs date it, and the export itself kept out of logs and world-readable files."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from aether_policy.cli import main
from aether_policy.retention import compile_jobs
from aether_policy.store import tables
from tests.helpers import loopback_plan
from tests.rights.conftest import BACKENDS, CLEAN, FLAGGED, OTHER_CLEAN, OTHER_FLAGGED, Traffic


def export(runner: CliRunner, traffic: Traffic, *extra: str, name: str = "acme") -> dict[str, Any]:
    args = ["accounts", "export", name, "--db", traffic.url, "--policy", str(traffic.policy_file), *extra]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def items(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for group in data["categories"] for item in group["items"] if item["kind"] == kind]


def rows(traffic: Traffic, table: Any, account_id: str) -> list[dict[str, Any]]:
    column = table.c.id if table is tables.accounts else table.c.account_id
    with traffic.store.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).where(column == account_id))]


@BACKENDS
def test_the_export_holds_every_stored_item_of_the_account_and_nothing_of_another(
    runner: CliRunner, traffic: Traffic
) -> None:
    data = export(runner, traffic, "--reason", "access request 14")
    acme, other = traffic.account_id("acme"), traffic.account_id("other")
    assert data["subject"] == {"account": "acme", "account_id": acme}
    assert [i["id"] for i in items(data, "account")] == [acme]
    assert {i["id"] for i in items(data, "api_key")} == {r["id"] for r in rows(traffic, tables.api_keys, acme)}
    stored_events = rows(traffic, tables.usage_events, acme)
    assert len(stored_events) == 3
    for event in stored_events:
        exported: dict[str, Any] = {}
        for part in (i for i in items(data, "usage_event") if i["id"] == event["id"]):
            exported.update(part["values"])
        stored = {k: v for k, v in event.items() if v is not None and k != "id"}
        assert exported.keys() == stored.keys()
        assert exported["timestamp"] == event["timestamp"].isoformat()
    assert {i["id"] for i in items(data, "usage_event")} == {e["id"] for e in stored_events}
    kept = items(data, "kept_content")
    assert [i["id"] for i in kept] == [r["id"] for r in rows(traffic, tables.quarantine, acme)]
    assert FLAGGED in kept[0]["values"]["request"]
    text = json.dumps(data)
    assert other not in text and OTHER_CLEAN not in text and OTHER_FLAGGED not in text
    exported = {(i["kind"], i["id"]) for group in data["categories"] for i in group["items"]}
    kinds = {"api_keys": "api_key", "usage_events": "usage_event", "quarantine": "kept_content"}
    others = {
        (kinds[t.name], r["id"])
        for t in (tables.api_keys, tables.usage_events, tables.quarantine)
        for r in rows(traffic, t, other)
    }
    assert len(others) == 4 and not exported & others
    assert CLEAN not in text  # clean prompts were never stored, so they cannot be exported


@BACKENDS
def test_each_group_names_its_collection_rule_retention_rule_and_recipients(
    runner: CliRunner, traffic: Traffic
) -> None:
    groups = {g["category"]: g for g in export(runner, traffic)["categories"]}
    # audit_data: the export itself is on record in the audit trail before it is read.
    assert list(groups) == ["account", "api_usage", "performance", "prompt_content", "device", "audit_data"]
    assert groups["device"]["retention"] == {
        "rule": "retention.technical_data",
        "title": "Device Information and Logs",
        "keep_for": "30 days",
        "after": "collection",
        "page": "#retention-technical-data",
    }
    assert groups["device"]["page"] == "#data-device" and groups["device"]["collected"] == "automatic"
    prompt_recipients = {r["recipient"]: r for r in groups["prompt_content"]["recipients"]}
    assert set(prompt_recipients) == {"recipients.openai", "recipients.anthropic"}
    assert prompt_recipients["recipients.openai"]["hosts"] == ["api.openai.com", "127.0.0.1"]
    legal = next(r for r in groups["account"]["recipients"] if r["recipient"] == "recipients.legal_requests")
    assert legal["when"] == "required_by_law"
    assert (
        groups["prompt_content"]["items"][0]["kept_by"]
        == "categories.prompt_content.storage.exceptions[0] (when: flagged)"
    )


@BACKENDS
def test_deletion_dates_are_the_moments_the_retention_jobs_delete(runner: CliRunner, traffic: Traffic) -> None:
    data = export(runner, traffic)
    jobs = compile_jobs(loopback_plan())
    device = next(i for i in items(data, "usage_event") if "ip_address" in i["values"])
    kept = items(data, "kept_content")[0]
    for item, table, column in (
        (device, tables.usage_events, "ip_address"),
        (kept, tables.quarantine, "id"),
    ):
        moment = datetime.fromisoformat(item["delete_at"])
        for job in jobs:
            job.run(traffic.store, moment - timedelta(seconds=1))
        with traffic.store.begin() as conn:
            before = conn.execute(select(table.c[column]).where(table.c.id == item["id"])).scalar()
        for job in jobs:
            job.run(traffic.store, moment)
        with traffic.store.begin() as conn:
            after = conn.execute(select(table.c[column]).where(table.c.id == item["id"])).scalar()
        assert (before is not None, after) == (True, None), table.name


@BACKENDS
def test_without_a_reason_kept_content_is_listed_but_withheld(runner: CliRunner, traffic: Traffic) -> None:
    data = export(runner, traffic)
    kept = items(data, "kept_content")
    assert len(kept) == 1 and "request" not in kept[0]["values"] and FLAGGED not in json.dumps(data)
    assert data["access"]["content"].startswith("withheld")


def test_an_unknown_account_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["accounts", "export", "ghost", "--db", f"sqlite:///{tmp_path / 'a.db'}"])
    assert (result.exit_code, result.output) == (
        1,
        "Error: no account named 'ghost'; see: aether-policy accounts list\n",
    )


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_an_empty_reason_is_refused(runner: CliRunner, traffic: Traffic) -> None:
    result = runner.invoke(main, ["accounts", "export", "acme", "--db", traffic.url, "--reason", "  "])
    assert result.exit_code == 2 and "say why kept content is decrypted" in result.output


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_the_export_file_is_new_and_readable_by_its_owner_only(
    runner: CliRunner, traffic: Traffic, tmp_path: Path
) -> None:
    out = tmp_path / "acme.json"
    args = ["accounts", "export", "acme", "--db", traffic.url, "--policy", str(traffic.policy_file)]
    result = runner.invoke(main, [*args, "--reason", "request 9", "--out", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    assert out.stat().st_mode & 0o777 == 0o600 and FLAGGED in out.read_text(encoding="utf-8")
    again = runner.invoke(main, [*args, "--out", str(out)])
    assert (again.exit_code, again.output) == (1, f"Error: {out} already exists; choose a new file for the export\n")


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_decrypted_content_reaches_no_log_record(
    runner: CliRunner, traffic: Traffic, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        data = export(runner, traffic, "--reason", "request 9")
    assert FLAGGED in json.dumps(data)
    assert not any(FLAGGED[:16] in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_markdown_lists_the_same_items_and_stored_text_cannot_inject_markup(
    runner: CliRunner, traffic: Traffic
) -> None:
    traffic.store.mark_account("acme", "report 7\n## Injected heading\n<script>x</script>")
    args = ["accounts", "export", "acme", "--db", traffic.url, "--policy", str(traffic.policy_file)]
    markdown = runner.invoke(main, [*args, "--format", "markdown"]).output
    data = export(runner, traffic)
    for group in data["categories"]:
        assert f"## {group['title']} (`{group['category']}`)" in markdown
        for item in group["items"]:
            assert f"`{item['id']}`" in markdown
    assert "\n## Injected" not in markdown and '"report 7\\n## Injected heading' in markdown


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_a_missing_encryption_key_is_a_clear_error_not_a_new_key(
    runner: CliRunner, traffic: Traffic, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AETHER_ENCRYPTION_KEY")
    args = ["accounts", "export", "acme", "--db", traffic.url, "--policy", str(traffic.policy_file)]
    result = runner.invoke(main, [*args, "--reason", "request 9"])
    assert result.exit_code == 1 and "no encryption key to decrypt kept content" in result.output
    assert not (tmp_path / "aether.db.key").exists()


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_an_account_name_with_line_breaks_stays_in_its_heading(runner: CliRunner, traffic: Traffic) -> None:
    traffic.store.create_key("evil\n# Forged heading `x`")
    args = [
        "accounts",
        "export",
        "evil\n# Forged heading `x`",
        "--db",
        traffic.url,
        "--policy",
        str(traffic.policy_file),
    ]
    markdown = runner.invoke(main, [*args, "--format", "markdown"]).output
    assert markdown.startswith("# Data held about account `evil # Forged heading 'x'`\n")
    assert "\n# Forged" not in markdown


@pytest.mark.parametrize("private_database_url", ["sqlite"], indirect=True)
def test_html_and_links_in_stored_text_are_shown_as_text_by_a_markdown_renderer(
    runner: CliRunner, traffic: Traffic
) -> None:
    from markdown_it import MarkdownIt

    reason = "<img src=x onerror=alert(1)> [click me](javascript:alert(2)) ``` <b>"
    traffic.store.mark_account("acme", reason)
    args = ["accounts", "export", "acme", "--db", traffic.url, "--policy", str(traffic.policy_file)]
    markdown = runner.invoke(main, [*args, "--format", "markdown", "--reason", "<a href='javascript:x'>r</a>"]).output
    html = MarkdownIt("commonmark").render(markdown)  # raw HTML on, as most renderers have it
    assert "<img" not in html and "<a " not in html and "<b>" not in html and "javascript:alert" in html
    assert "&lt;img src=x onerror=alert(1)&gt; [click me](javascript:alert(2)) ``` &lt;b&gt;" in html
    assert "&lt;a href='javascript:x'&gt;r&lt;/a&gt;" in html
