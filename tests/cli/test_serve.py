"""`serve` refuses a config that disagrees with the policy, naming the mismatch."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

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
