from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aether_policy.cli import main
from aether_policy.schema import policy_json_schema
from tests.conftest import POLICY_FILE


def test_validate_accepts_the_shipped_policy_and_prints_its_digest(runner: CliRunner) -> None:
    result = runner.invoke(main, ["validate", str(POLICY_FILE)])
    assert result.exit_code == 0
    assert result.output.startswith(f"{POLICY_FILE}: valid (sha256:")


def test_validate_prints_located_errors_and_exits_1(runner: CliRunner, tmp_path: Path, policy_text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy_text.replace("minimum_age: 13", "minimum_age: -1"), encoding="utf-8")
    result = runner.invoke(main, ["validate", str(bad)])
    assert result.exit_code == 1
    line = next(i for i, row in enumerate(bad.read_text().splitlines(), 1) if "minimum_age" in row)
    assert result.output == (f"Error: {bad}:{line}:3: children.minimum_age: must be at least 13, got -1\n")


def test_validate_finds_policies_in_the_current_directory(
    runner: CliRunner, tmp_path: Path, policy_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(policy_text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 0
    assert result.output.startswith("policies/p.yaml: valid")


def test_validate_with_nothing_to_check_is_a_usage_error(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 2
    assert "Error: no policy files given and none found in ./policies/" in result.output


def test_validate_never_shows_a_traceback_for_a_binary_file(runner: CliRunner, tmp_path: Path) -> None:
    binary = tmp_path / "p.yaml"
    binary.write_bytes(b"version: 1\n\x89PNG\x00garbage")
    result = runner.invoke(main, ["validate", str(binary)])
    assert result.exit_code == 1
    assert result.output == f"Error: {binary}:2:1: not valid UTF-8 (byte 0x89); save the file as UTF-8\n"
    assert "Traceback" not in result.output


def test_schema_prints_the_models_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == policy_json_schema()
