"""`aether-policy init` starts a repository that validates, builds and checks out of the box."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from aether_policy import load_policy
from aether_policy.cli import main
from aether_policy.exceptions import PolicyError
from aether_policy.init_repo import Starter, scaffold
from aether_policy.render import default_templates_dir
from tests.repos import first_commit


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory as the working directory, with the gateway's providers at their defaults."""
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "AETHER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_init_then_build_passes_every_check_in_a_fresh_git_repository(fresh: Path) -> None:
    assert (
        invoke("init", "--service", "Acme AI", "--url", "https://acme.example", "--email", "privacy@acme.example")[0]
        == 0
    )
    assert invoke("validate")[0] == 0
    assert invoke("build")[0] == 0
    first_commit(fresh, "Start the privacy policy")
    code, output = invoke("check", "--base", "HEAD")
    assert code == 0, output
    assert output.splitlines()[-7:] == [
        "ok   schema",
        "ok   site-freshness",
        "ok   gateway-conformance",
        "ok   promise-coverage",
        "ok   rights",
        "ok   change-control",
        "0 errors, 0 warnings",
    ]


def test_the_starter_policy_carries_the_given_service_and_todays_date(fresh: Path) -> None:
    assert (
        invoke("init", "--service", "Acme AI", "--url", "https://acme.example", "--email", "privacy@acme.example")[0]
        == 0
    )
    policy = load_policy(fresh / "policies" / "policy.yaml").policy
    assert (policy.service.name, policy.service.url, policy.service.contact_email) == (
        "Acme AI",
        "https://acme.example",
        "privacy@acme.example",
    )
    assert policy.last_updated == policy.changes.log[0].date
    assert str(policy.retention["usage_data"].keep_for) == "3 months"


def test_a_service_name_with_yaml_syntax_stays_one_value_and_adds_no_keys(tmp_path: Path) -> None:
    hostile = 'Acme: "AI" #1\nversion: 99 {{ 7 * 7 }}'
    with pytest.raises(PolicyError, match="--service: write the service's name on one line"):
        scaffold(tmp_path, Starter(hostile, "https://a.example", "p@a.example", date(2026, 1, 1)))
    assert not (tmp_path / "policies").exists()
    quoted = 'Acme: "AI" #1 [a, b] {c: d}'
    scaffold(tmp_path, Starter(quoted, "https://a.example", "p@a.example", date(2026, 1, 1)))
    policy = load_policy(tmp_path / "policies" / "policy.yaml").policy
    assert (policy.service.name, policy.version) == (quoted, 1)


def test_a_service_name_that_holds_a_template_expression_is_refused_not_evaluated(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"--service: prose may not use arithmetic \(`\*`\)"):
        scaffold(tmp_path, Starter("Acme {{ 7 * 7 }}", "https://a.example", "p@a.example", date(2026, 1, 1)))
    assert not (tmp_path / "policies").exists()


def test_a_bad_email_is_refused_with_the_option_that_carries_it_and_nothing_is_written(fresh: Path) -> None:
    code, output = invoke("init", "--email", "not-an-address")
    assert code == 1
    assert output.startswith("Error: --email: 'not-an-address' is not valid")
    assert list(fresh.iterdir()) == []


def test_init_refuses_to_overwrite_and_writes_nothing_at_all(fresh: Path) -> None:
    (fresh / ".pre-commit-config.yaml").write_text("repos: []\n", encoding="utf-8")
    code, output = invoke("init")
    assert code == 1
    assert output == (
        "Error: . already has .pre-commit-config.yaml; nothing was written (pass --force to overwrite them)\n"
    )
    assert sorted(p.name for p in fresh.iterdir()) == [".pre-commit-config.yaml"]
    assert (fresh / ".pre-commit-config.yaml").read_text(encoding="utf-8") == "repos: []\n"


def test_force_overwrites_the_files_init_writes(fresh: Path) -> None:
    (fresh / ".pre-commit-config.yaml").write_text("repos: []\n", encoding="utf-8")
    assert invoke("init", "--force")[0] == 0
    assert "aether-policy-check" in (fresh / ".pre-commit-config.yaml").read_text(encoding="utf-8")


def test_another_policy_already_in_policies_is_refused_even_with_force(fresh: Path) -> None:
    (fresh / "policies").mkdir()
    (fresh / "policies" / "ours.yaml").write_text("version: 1\n", encoding="utf-8")
    code, output = invoke("init", "--force")
    assert code == 1
    assert "already holds a policy (ours.yaml); nothing was written" in output
    assert sorted(p.name for p in (fresh / "policies").iterdir()) == ["ours.yaml"]


def test_an_existing_gitignore_is_extended_once_and_keeps_its_lines(fresh: Path) -> None:
    (fresh / ".gitignore").write_text(".venv/\n*.key", encoding="utf-8")
    assert invoke("init")[0] == 0
    assert invoke("init", "--force")[0] == 0
    lines = (fresh / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == [".venv/", "*.key"]
    assert lines.count("*.key") == 1 and lines.count(".aether/") == 1 and "*.db" in lines


def test_the_ci_workflow_checks_pull_requests_against_their_base_with_the_same_version(fresh: Path) -> None:
    assert invoke("init")[0] == 0
    workflow = yaml.safe_load((fresh / ".github" / "workflows" / "privacy-policy.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["check"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    install = next(s["run"] for s in steps if "pip install" in s.get("run", ""))
    from importlib.metadata import version

    assert install == f"pip install 'aether-policy=={version('aether-policy')}'"
    check = steps[-1]
    # The branch name reaches the shell through the environment, never pasted into the script.
    assert check["env"]["BASE"] == "${{ github.base_ref }}" and "${{" not in check["run"]
    assert 'aether-policy check --base "origin/$BASE" --format github' in check["run"]
    assert set(workflow[True]) == {"pull_request", "push"}  # YAML 1.1 reads the key `on` as True


def test_the_pre_commit_config_builds_and_checks_with_the_same_version(fresh: Path) -> None:
    assert invoke("init")[0] == 0
    config = yaml.safe_load((fresh / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for hook in config["repos"][0]["hooks"]}
    assert {name: hook["entry"] for name, hook in hooks.items()} == {
        "aether-policy-build": "aether-policy build",
        "aether-policy-check": "aether-policy check",
    }
    from importlib.metadata import version

    assert all(
        hook["additional_dependencies"] == [f"aether-policy=={version('aether-policy')}"] for hook in hooks.values()
    )


def test_init_with_templates_copies_every_default_template_to_edit(fresh: Path) -> None:
    assert invoke("init", "--templates", "elsewhere")[0] == 0
    defaults = default_templates_dir()
    expected = {p.relative_to(defaults): p.read_bytes() for p in defaults.rglob("*") if p.is_file()}
    copied = fresh / "elsewhere" / "templates"
    assert {p.relative_to(copied): p.read_bytes() for p in copied.rglob("*") if p.is_file()} == expected


def test_the_schema_init_writes_is_the_one_the_schema_command_prints(fresh: Path) -> None:
    assert invoke("init")[0] == 0
    assert (fresh / "policies" / "policy.schema.json").read_text(encoding="utf-8") == invoke("schema")[1]
