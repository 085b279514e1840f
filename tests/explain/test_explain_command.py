"""`aether-policy explain` as an operator runs it: text and JSON, nothing sent, nothing written, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aether_policy.cli import main
from aether_policy.store import Store
from tests.helpers import loopback_policy_text, serve
from tests.standins import StandIn

FLAGGED = {"model": "gpt-4o", "messages": [{"role": "user", "content": "please build a keylogger for me"}]}
CLEAN = {"model": "claude-3-5-haiku", "max_tokens": 16, "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, StandIn]]:
    upstream = StandIn()
    with serve(upstream.app()) as base:
        yield base, upstream


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, standin: tuple[str, StandIn]) -> Path:
    """A project directory whose providers are a live stand-in: had explain sent anything, it would receive it."""
    base, _ = standin
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AETHER_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("AETHER_DATABASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{base}/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider-openai-0001")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "aetherapi.yaml").write_text(loopback_policy_text(), encoding="utf-8")
    (tmp_path / "flagged.json").write_text(json.dumps(FLAGGED), encoding="utf-8")
    (tmp_path / "clean.json").write_text(json.dumps(CLEAN), encoding="utf-8")
    return tmp_path


def files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_a_flagged_request_is_explained_by_its_pattern_and_kept_until_its_window_ends(
    runner: CliRunner, project: Path, standin: tuple[str, StandIn]
) -> None:
    before, sent = files(project), len(standin[1].received)
    result = runner.invoke(main, ["explain", "flagged.json", "--now", "2026-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert (
        "flagged: pattern:malware_request  by categories.prompt_content.storage.exceptions[0].patterns.malware_request"
        in result.output
    )
    assert (
        "kept sealed (AES-256-GCM) until 2026-01-31T00:00:00+00:00, then deleted by retention.flagged_content"
        in result.output
    )
    assert "recipients.openai at 127.0.0.1:" in result.output
    assert files(project) == before and len(standin[1].received) == sent


def test_a_clean_request_is_not_stored_by_the_default_rule(runner: CliRunner, project: Path) -> None:
    result = runner.invoke(main, ["explain", "clean.json", "--endpoint", "/v1/messages", "--format", "json"])
    found = json.loads(result.output)
    assert found["content"] == {
        "flagged": False,
        "kept": False,
        "rule": "categories.prompt_content.storage.default: never",
        "page": "#data-prompt-content",
    }
    assert [e["recipient"] for e in found["egress"]] == ["recipients.anthropic"]
    assert found["egress"][0]["body_fields"] == ["model", "max_tokens", "messages"]


def test_the_providers_moderation_verdict_can_be_simulated(runner: CliRunner, project: Path) -> None:
    args = ["explain", "clean.json", "--endpoint", "/v1/messages", "--moderated", "--format", "json"]
    found = json.loads(runner.invoke(main, args).output)
    assert [r["reason"] for r in found["content"]["reasons"]] == ["upstream_moderation:refusal"]
    assert (
        found["content"]["reasons"][0]["rule"]
        == "categories.prompt_content.storage.exceptions[0].detectors (upstream_moderation: refusal)"
    )


def test_usage_columns_name_their_field_and_deletion_date(runner: CliRunner, project: Path) -> None:
    args = ["explain", "clean.json", "--format", "json", "--now", "2026-01-01T00:00:00Z", "--client-ip", "198.51.100.4"]
    recorded = {c["column"]: c for c in json.loads(runner.invoke(main, args).output)["usage"]["recorded"]}
    assert recorded["ip_address"]["value"] == "198.51.100.4"
    assert recorded["ip_address"]["rule"] == "categories.device.fields.ip_address"
    assert recorded["ip_address"]["delete_at"] == "2026-01-31T00:00:00+00:00"
    assert recorded["model"]["delete_at"] == "2026-04-01T00:00:00+00:00"
    assert recorded["latency_ms"]["field"] == "performance.response_time"


def test_the_guard_strips_forwarding_headers_and_refuses_the_callers_key(runner: CliRunner, project: Path) -> None:
    args = ["explain", "clean.json", "--format", "json", "--header", "X-Forwarded-For: 192.0.2.1"]
    args += ["--header", "x-api-key: aether-sk-callerkey1234", "--header", "Anthropic-Version: 2023-06-01"]
    verdicts = {h["header"]: h["guard"] for h in json.loads(runner.invoke(main, args).output)["caller_headers"]}
    assert verdicts == {
        "x-forwarded-for": "strips it",
        "x-api-key": "refuses the request",
        "anthropic-version": "lets it through",
    }


def test_a_marked_account_in_the_database_has_its_content_kept(runner: CliRunner, project: Path) -> None:
    store = Store(f"sqlite:///{project / 'aether.db'}")
    store.migrate()
    store.create_key("acme")
    store.mark_account("acme", "ToS report 3")
    store.close()
    found = json.loads(runner.invoke(main, ["explain", "clean.json", "--account", "acme", "--format", "json"]).output)
    assert found["content"]["trigger"] == "account_marked"
    assert (
        found["content"]["reasons"][0]["rule"]
        == "categories.prompt_content.storage.exceptions[1] (when: account_marked)"
    )


def test_an_account_without_a_database_is_a_clear_error_and_creates_none(runner: CliRunner, project: Path) -> None:
    result = runner.invoke(main, ["explain", "clean.json", "--account", "acme"])
    assert result.exit_code == 1 and "no gateway database at sqlite:///aether.db" in result.output
    assert not (project / "aether.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain"], "give either REQUEST_FILE or --field"),
        (["explain", "clean.json", "--field", "device"], "give either REQUEST_FILE or --field"),
        (["explain", "clean.json", "--endpoint", "/v1/embeddings"], "--endpoint must be one of /v1/chat/completions"),
        (["explain", "clean.json", "--header", "no colon"], "'no colon' is not NAME: VALUE"),
        (["explain", "clean.json", "--header", "X-A: b\r\nX-B: c"], "is not NAME: VALUE"),
        (["explain", "missing.json"], "cannot read missing.json"),
    ],
)
def test_bad_invocations_say_what_to_fix(runner: CliRunner, project: Path, args: list[str], message: str) -> None:
    result = runner.invoke(main, args)
    assert result.exit_code in (1, 2) and message in result.output


def test_a_request_the_gateway_refuses_is_explained_with_its_status(runner: CliRunner, project: Path) -> None:
    (project / "bad.json").write_text('{"model": "gpt-4o", "messages": "not a list"}', encoding="utf-8")
    found = json.loads(runner.invoke(main, ["explain", "bad.json", "--format", "json"]).output)
    assert found["request"]["status"] == 400 and found["egress"] == [] and found["content"]["kept"] is False


def test_field_explains_collection_retention_recipients_and_page(runner: CliRunner, project: Path) -> None:
    [found] = json.loads(runner.invoke(main, ["explain", "--field", "device.ip_address", "--format", "json"]).output)
    assert found["collected"]["gateway"] == "recorded in usage events as ip_address"
    assert found["collected"]["at"].startswith("policies/aetherapi.yaml:")
    assert (
        found["retention"]["rule"] == "retention.technical_data"
        and found["retention"]["page"] == "#retention-technical-data"
    )
    assert "erases ip_address in usage events" in found["retention"]["job"]
    assert [r["recipient"] for r in found["recipients"]] == ["recipients.legal_requests"]
    assert {h["header"]: h["guard_lets_it_reach"] for h in found["forwarded_headers"]}["x-forwarded-for"] == []


def test_a_category_explains_each_of_its_fields(runner: CliRunner, project: Path) -> None:
    text = runner.invoke(main, ["explain", "--field", "account"]).output
    for field in ("account.name", "account.email", "account.username", "account.password"):
        assert f"\n{field} (" in f"\n{text}"
    assert "stored as hash" in text and "Payment Processors (as account.name" in text


def test_an_unknown_field_suggests_the_closest(runner: CliRunner, project: Path) -> None:
    result = runner.invoke(main, ["explain", "--field", "device.ip_adress"])
    assert result.exit_code == 1
    assert result.output == "Error: --field: category 'device' has no field 'ip_adress'; did you mean 'ip_address'?\n"


def test_framing_headers_from_the_caller_cannot_break_the_run(runner: CliRunner, project: Path) -> None:
    args = [
        "explain",
        "clean.json",
        "--format",
        "json",
        "--header",
        "Content-Length: 3",
        "--header",
        "Host: evil.example",
    ]
    args += ["--header", "Transfer-Encoding: chunked"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0 and json.loads(result.output)["request"]["status"] == 200


def test_a_prompt_carrying_the_callers_own_key_is_refused_as_the_gateway_refuses_it(
    runner: CliRunner, project: Path
) -> None:
    key = "aether-sk-pasted-into-the-prompt-0123456789"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"my key is {key}"}]}
    (project / "leak.json").write_text(json.dumps(body), encoding="utf-8")
    args = ["explain", "leak.json", "--format", "json", "--header", f"Authorization: Bearer {key}"]
    found = json.loads(runner.invoke(main, args).output)
    assert found["request"]["status"] == 502 and found["egress"] == []
    plain = json.loads(runner.invoke(main, ["explain", "leak.json", "--format", "json"]).output)
    assert plain["request"]["status"] == 200


def test_a_deleted_accounts_request_is_explained_as_refused(runner: CliRunner, project: Path) -> None:
    store = Store(f"sqlite:///{project / 'aether.db'}")
    store.migrate()
    store.create_key("gone")
    store.delete_account("gone")
    store.close()
    found = json.loads(runner.invoke(main, ["explain", "clean.json", "--account", "gone", "--format", "json"]).output)
    assert found["request"]["status"] == 401 and found["request"]["account_deleted"] is True
    assert found["egress"] == [] and found["content"]["kept"] is False


@pytest.mark.parametrize(
    ("field", "kept"),
    [
        ("audit_data.action", "applies where the gateway keeps it, the audit trail (table audit_events);"),
        ("account.email", "applies where the gateway keeps it, accounts and API keys (tables accounts, api_keys);"),
        ("payment.billing_address", "binds whoever holds it (the gateway stores none of it)"),
    ],
)
def test_field_names_the_table_its_data_is_kept_in(runner: CliRunner, project: Path, field: str, kept: str) -> None:
    [found] = json.loads(runner.invoke(main, ["explain", "--field", field, "--format", "json"]).output)
    assert found["retention"]["job"].startswith(kept)
