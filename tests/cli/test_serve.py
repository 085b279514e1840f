"""`serve` refuses a config that disagrees with the policy, naming the mismatch."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aether_policy.cli import main
from tests.conftest import POLICY_FILE


def test_serve_refuses_a_provider_the_policy_does_not_declare(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "providers:\n  mistral:\n    api: openai\n    base_url: https://api.mistral.ai/v1\n    models: [mistral-*]\n"
    )
    result = runner.invoke(
        main, ["serve", "--policy", str(POLICY_FILE), "--config", str(config), "--db", f"sqlite:///{tmp_path}/a.db"]
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: the gateway config shares data the policy does not declare:\n"
        f"{config}: providers.mistral: provider 'mistral' is not an AI-provider recipient in the policy (declared: "
        "anthropic, openai); add it under `recipients` with `kind: ai_provider`, or set `recipient:` to one of those\n"
    )


def test_serve_refuses_an_undeclared_host_from_the_environment(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example.net/v1")
    result = runner.invoke(main, ["serve", "--policy", str(POLICY_FILE), "--db", f"sqlite:///{tmp_path}/a.db"])
    assert result.exit_code == 1
    assert (
        "<environment>: providers.openai.base_url: host proxy.example.net is not declared for recipient 'openai'"
        in result.output
    )


def test_serve_refuses_a_provider_reached_over_plain_http(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://api.openai.com/v1")
    result = runner.invoke(main, ["serve", "--policy", str(POLICY_FILE), "--db", f"sqlite:///{tmp_path}/a.db"])
    assert result.exit_code == 1
    assert "<environment>: providers.openai.base_url: http://api.openai.com/v1 is not https" in result.output


def test_a_config_typo_is_located(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "providers:\n  openai:\n    api: openai\n    base_ur: https://api.openai.com/v1\n    models: [gpt-*]\n"
    )
    result = runner.invoke(main, ["serve", "--policy", str(POLICY_FILE), "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}:4:5: providers.openai.base_ur: unknown key 'base_ur'; did you mean 'base_url'?" in result.output


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[object]:
    """`serve` up to the point it would listen: the uvicorn server records its app instead of serving it."""
    import uvicorn

    apps: list[object] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, *_, **__: apps.append(server.config.app))
    monkeypatch.delenv("AETHER_ENCRYPTION_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return apps


def serve_on(runner: CliRunner, db: str) -> Result:
    return runner.invoke(main, ["serve", "--policy", str(POLICY_FILE), "--db", db])


def test_serve_creates_a_key_and_records_its_fingerprint(
    runner: CliRunner, started: list[object], database_url: str
) -> None:
    from aether_policy.crypto import load_key
    from aether_policy.store import Store, key_file_for, parse_url

    result = serve_on(runner, database_url)
    assert result.exit_code == 0 and len(started) == 1
    key_file = key_file_for(parse_url(database_url))
    assert f"created encryption key {key_file} (mode 0600)" in result.output
    store = Store(database_url)
    assert store.key_fingerprint() == load_key(key_file).fingerprint
    store.close()
    assert "created encryption key" not in serve_on(runner, database_url).output  # the second start reuses it


def test_serve_refuses_a_key_other_than_the_one_the_database_records(
    runner: CliRunner, started: list[object], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aether_policy.crypto import new_key

    monkeypatch.setenv("AETHER_ENCRYPTION_KEY", new_key())
    assert serve_on(runner, database_url).exit_code == 0
    monkeypatch.setenv("AETHER_ENCRYPTION_KEY", new_key())  # a replica configured with another key
    result = serve_on(runner, database_url)
    assert result.exit_code == 1 and len(started) == 1
    assert "Error: AETHER_ENCRYPTION_KEY is not the encryption key of " in result.output
    assert "every process on one database needs the same key" in result.output


def test_serve_makes_no_new_key_for_a_database_whose_content_is_sealed_already(
    runner: CliRunner, started: list[object], database_url: str
) -> None:
    from aether_policy.store import key_file_for, parse_url

    assert serve_on(runner, database_url).exit_code == 0
    key_file = key_file_for(parse_url(database_url))
    key_file.unlink()  # lost, or kept elsewhere
    result = serve_on(runner, database_url)
    assert result.exit_code == 1 and "Error: no encryption key:" in result.output
    assert "if its key is lost: aether-policy encryption-key replace --discard-sealed" in result.output
    assert not key_file.exists()


def test_serve_warns_about_database_and_key_files_other_users_can_read(
    runner: CliRunner, started: list[object], tmp_path: Path
) -> None:
    from aether_policy.crypto import new_key

    db = tmp_path / "old.db"
    db.touch()
    db.chmod(0o644)  # as versions before 0600 files created it
    key_file = tmp_path / "old.db.key"
    key_file.write_text(new_key() + "\n")
    key_file.chmod(0o640)
    result = serve_on(runner, f"sqlite:///{db}")
    assert result.exit_code == 0
    assert f"warning: {db} is open to other users (mode 0644); restrict it: chmod 600 {db}\n" in result.output
    assert (
        f"warning: {key_file} is open to other users (mode 0640); restrict it: chmod 600 {key_file}\n" in result.output
    )


def test_serve_on_a_new_database_has_nothing_to_warn_about_its_files(
    runner: CliRunner, started: list[object], tmp_path: Path
) -> None:
    result = serve_on(runner, f"sqlite:///{tmp_path / 'new.db'}")
    assert result.exit_code == 0 and "open to other users" not in result.output


def test_serve_says_at_start_what_it_enforces_where_it_stores_and_where_it_sends(
    runner: CliRunner, started: list[object], tmp_path: Path
) -> None:
    from tests.helpers import shipped_plan

    db = f"sqlite:///{tmp_path / 'a.db'}"
    result = runner.invoke(main, ["serve", "--policy", str(POLICY_FILE), "--db", db, "--retention-every", "1h"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"aether-policy gateway on http://127.0.0.1:8000 enforcing policy {shipped_plan().digest}" in lines
    assert f"  database: {db}" in lines
    assert any(
        line.startswith(
            "  provider openai (openai API, recipient 'openai') at https://api.openai.com/v1: models gpt-6.2-sol"
        )
        and "gpt-*" in line
        for line in lines
    )
    assert any(line.startswith("  provider anthropic (anthropic API") and "claude-*" in line for line in lines)
    assert any(
        line.startswith("  retention: every 1 hour; rules: account_data 30 days after account_deletion")
        for line in lines
    )


def test_the_start_banner_never_prints_the_database_password() -> None:
    from aether_policy.store import Store

    store = Store("postgresql://aether:s3cret-pw@db.internal:5432/aether")
    assert store.safe_url() == "postgresql+psycopg://aether:***@db.internal:5432/aether"
    store.close()


def test_serve_with_a_metrics_token_answers_metrics_only_to_it(
    runner: CliRunner, started: list[object], tmp_path: Path
) -> None:
    import httpx

    from tests.helpers import serve, shipped_plan

    token = "t" * 24
    db = f"sqlite:///{tmp_path / 'a.db'}"
    result = runner.invoke(main, ["serve", "--policy", str(POLICY_FILE), "--db", db, "--metrics-token", token])
    assert result.exit_code == 0, result.output
    assert "  metrics: GET /metrics with the metrics token" in result.output.splitlines()
    with serve(started[0]) as base:  # type: ignore[arg-type]
        assert httpx.get(f"{base}/metrics").status_code == 401
        scraped = httpx.get(f"{base}/metrics", headers={"authorization": f"Bearer {token}"})
    assert scraped.status_code == 200
    assert f'aether_policy_info{{digest="{shipped_plan().digest}",version="1"}} 1.0' in scraped.text


def test_serve_without_a_metrics_token_does_not_serve_metrics(
    runner: CliRunner, started: list[object], tmp_path: Path
) -> None:
    import httpx

    from tests.helpers import serve

    result = runner.invoke(main, ["serve", "--policy", str(POLICY_FILE), "--db", f"sqlite:///{tmp_path / 'a.db'}"])
    assert "  metrics: off (set --metrics-token)" in result.output.splitlines()
    with serve(started[0]) as base:  # type: ignore[arg-type]
        assert httpx.get(f"{base}/metrics", headers={"authorization": "Bearer anything"}).status_code == 404


def test_a_short_metrics_token_is_refused_with_how_to_make_one(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        main,
        ["serve", "--policy", str(POLICY_FILE), "--db", f"sqlite:///{tmp_path / 'a.db'}", "--metrics-token", "abc"],
    )
    assert result.exit_code == 2
    assert "must be at least 16 characters; make one with: python -c" in result.output
    assert not (tmp_path / "a.db").exists()
