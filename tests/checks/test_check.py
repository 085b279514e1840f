"""`aether-policy check`: each check passes on the shipped project and fails, located, when broken."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from click.testing import CliRunner

from aether_policy.checks import CheckOptions, run_checks
from aether_policy.cli import main
from tests.conftest import POLICY_FILE, ROOT
from tests.repos import first_commit, git


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of this project's policy, templates and site, in a fresh git repository with one commit."""
    for name in ("policies", "templates", "site"):
        shutil.copytree(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    pin_first_publication(tmp_path / "policies" / "aetherapi.yaml")
    CliRunner().invoke(main, ["build"])
    for variable in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    first_commit(tmp_path, "policy v1")
    return tmp_path


def pin_first_publication(policy: Path) -> None:
    """The shipped policy as first published (last updated 2025-10-01, one log entry), whatever it has become
    since: these tests name the base's dates, and later entries in the shipped log must not move them."""
    text = policy.read_text()
    text = re.sub(r"(?m)^last_updated: .*$", "last_updated: 2025-10-01", text, count=1)
    first = text.index("      material: false\n", text.index("  log:\n")) + len("      material: false\n")
    policy.write_text(text[:first] + text[text.index("\nsections:") :])


def edit(project: Path, old: str, new: str) -> Path:
    policy = project / "policies" / "aetherapi.yaml"
    text = policy.read_text()
    assert text.count(old) == 1
    policy.write_text(text.replace(old, new))
    return policy


def log_change(project: Path, summary: str, material: bool | None = None) -> None:
    """What an author does after changing rules: move last_updated, add a change-log entry, rebuild the site."""
    edit(project, "last_updated: 2025-10-01", "last_updated: 2026-12-01")
    entry = f"    - date: 2026-12-01\n      summary: {summary}\n"
    if material is not None:
        entry += f"      material: {str(material).lower()}\n"
    edit(project, "\nsections:\n", entry + "\nsections:\n")
    CliRunner().invoke(main, ["build"])


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.output


def test_the_shipped_project_passes_every_check(project: Path) -> None:
    code, output = check("--base", "HEAD")
    assert code == 0, output
    assert output.splitlines()[-1] == "0 errors, 0 warnings"
    assert output.splitlines()[:6] == [
        "ok   schema",
        "ok   site-freshness",
        "ok   gateway-conformance",
        "ok   promise-coverage",
        "ok   rights",
        "ok   change-control",
    ]


def test_an_invalid_policy_fails_schema_located_and_skips_the_rest(project: Path) -> None:
    policy = edit(project, "minimum_age: 13", "minimum_age: 12")
    code, output = check()
    assert code == 1
    assert output.splitlines()[0] == (
        f"policies/aetherapi.yaml:{line_of(policy, 'minimum_age')}:3: error: [schema] children.minimum_age: must be at least 13, got 12"
    )
    assert "skip site-freshness: the policy does not load" in output


def test_a_stale_site_names_the_file_and_first_differing_line(project: Path) -> None:
    edit(project, "keep_for: 90 days", "keep_for: 120 days")
    code, output = check()
    assert code == 1
    stale = [line for line in output.splitlines() if "[site-freshness]" in line]
    md_line = line_of(project / "site" / "privacy.md", "policy-digest")  # the digest is the first line to differ
    assert (
        f"site/privacy.md:{md_line}:1: error: [site-freshness] stale: differs from a fresh build of policies/aetherapi.yaml from line {md_line}; run `aether-policy build`"
        in stale
    )
    assert len(stale) == 3  # page, Markdown and JSON


def test_a_missing_site_file_says_to_build(project: Path) -> None:
    (project / "site" / "privacy.json").unlink()
    code, output = check()
    assert code == 1
    assert "site/privacy.json:1:1: error: [site-freshness] missing; run `aether-policy build`" in output


def test_a_provider_the_policy_does_not_declare_fails_conformance_at_the_config_line(project: Path) -> None:
    config = project / "gateway.yaml"
    config.write_text(
        "providers:\n  openai:\n    api: openai\n    base_url: https://api.openai.com/v1\n    models: [gpt-*]\n"
        "  mistral:\n    api: openai\n    base_url: https://api.mistral.ai/v1\n    models: [mistral-*]\n"
    )
    code, output = check("--config", "gateway.yaml")
    assert code == 1
    assert "gateway.yaml:6:3: error: [gateway-conformance] provider 'mistral' is not an AI-provider recipient" in output


def test_a_provider_host_outside_the_policy_fails_conformance(project: Path) -> None:
    config = project / "gateway.yaml"
    config.write_text(
        "providers:\n  openai:\n    api: openai\n    base_url: https://eu.proxy.example/v1\n    models: [gpt-*]\n"
    )
    code, output = check("--config", "gateway.yaml")
    assert code == 1
    assert (
        "gateway.yaml:4:5: error: [gateway-conformance] host eu.proxy.example is not declared for recipient 'openai'"
        in output
    )


def test_forwarding_prompts_to_a_provider_that_does_not_receive_them_fails(project: Path) -> None:
    policy = edit(
        project,
        "    receives: [prompt_content, api_usage.model]\n    purposes: [service_provision]\n    provider:\n      api: anthropic",
        "    receives: [api_usage.model]\n    purposes: [service_provision]\n    provider:\n      api: anthropic",
    )
    report = run_checks(CheckOptions(policy, site=None))
    assert [str(f) for f in report.findings if f.check == "gateway-conformance"] == [
        f"{policy}:{line_of(policy, 'receives: [api_usage.model]')}:5: error: [gateway-conformance] the gateway sends "
        "prompt_content to 'anthropic' but the policy does not list it under receives; add it"
    ]


def test_a_policy_binding_no_model_field_is_asked_for_the_binding_in_its_own_names(tmp_path: Path) -> None:
    policy = tmp_path / "nordlicht.yaml"
    source = (ROOT / "policies" / "examples" / "nordlicht.yaml").read_text(encoding="utf-8")
    assert source.count("    model: nutzung.modell\n") == 1
    policy.write_text(source.replace("    model: nutzung.modell\n", "    model: null\n"), encoding="utf-8")
    config = ROOT / "examples" / "nordlicht-gateway.yaml"
    report = run_checks(CheckOptions(policy, site=None, config=config))
    [finding] = [str(f) for f in report.findings if f.check == "gateway-conformance"]
    assert finding.endswith(
        "the gateway sends the requested model's name to 'eigenes_modell' with every request, but no field of the "
        "policy holds the model slot; bind `bindings.usage.model` to the field that records the model, and list "
        "that field under receives"
    )
    assert "api_usage" not in finding


def test_a_policy_that_does_not_declare_the_audit_trail_fails_promise_coverage(project: Path) -> None:
    policy = project / "policies" / "aetherapi.yaml"
    text = policy.read_text()
    text = text[: text.index("  audit_data:\n")] + text[text.index("  cookies:\n    title: Cookies") :]
    text = text[: text.index("  audit_trail:\n")] + text[text.index("  tracking_cookies:\n") :]
    policy.write_text(text)
    findings = [f for f in run_checks(CheckOptions(policy, site=None)).findings if f.check == "promise-coverage"]
    assert [f.message for f in findings][0] == (
        "the gateway stores audit_data data (table audit_events) but the policy declares no 'audit_data' category; "
        "declare it with a retention rule, or name the category that holds it under `bindings.audit`"
    )


def test_an_audit_trail_without_a_retention_rule_fails_the_check(project: Path) -> None:
    policy = project / "policies" / "aetherapi.yaml"
    text = policy.read_text()
    policy.write_text(text[: text.index("  audit_trail:\n")] + text[text.index("  tracking_cookies:\n") :])
    messages = [f.message for f in run_checks(CheckOptions(policy, site=None)).findings]
    assert messages == [
        "categories.audit_data: no retention rule covers 'audit_data'; add it to the `categories` of a rule under "
        "`retention`, so the page says how long it is kept"
    ]


def test_a_policy_without_a_prompt_rule_fails_promise_coverage(project: Path) -> None:
    policy = edit(
        project,
        "    storage:\n      default: never\n",
        "    storage_note_removed: true\n    storage:\n      default: never\n",
    )
    assert (
        run_checks(CheckOptions(policy, site=None)).findings[0].check == "schema"
    )  # unknown key: schema catches it first
    text = policy.read_text().replace("    storage_note_removed: true\n", "")
    start = text.index("    storage:\n      default: never\n")
    end = text.index("  # 2.3 Technical Data")  # the notice goes too: its prose names the storage triggers
    text = text[:start] + text[end:]
    text = text.replace(
        '    categories: [prompt_content]\n    # The reference promises only "temporarily"; 30 days after flagging is our concrete bound.\n    keep_for: 30 days\n    after: flagging',
        "    categories: [prompt_content]\n    keep_for: 30 days\n    after: collection",
    )
    policy.write_text(text)
    report = run_checks(CheckOptions(policy, site=None))
    assert [f.message for f in report.findings if f.check == "promise-coverage"] == [
        "no category holds request content with a `storage` rule, so the prompt gate has nothing to enforce; "
        "declare prompt content with `storage: {default: never}`"
    ]


def test_changed_rules_without_a_new_date_or_log_entry_fail_change_control(project: Path) -> None:
    policy = edit(project, "keep_for: 90 days", "keep_for: 180 days")
    CliRunner().invoke(main, ["build"])
    code, output = check("--base", "HEAD")
    assert code == 1
    lines = [line for line in output.splitlines() if "[change-control]" in line]
    assert lines == [
        f"policies/aetherapi.yaml:{line_of(policy, 'last_updated:')}:1: error: [change-control] rules changed since HEAD "
        "but last_updated is still 2025-10-01; move it forward",
        f"policies/aetherapi.yaml:{line_of(policy, '  log:')}:3: error: [change-control] rules changed since HEAD but the "
        "change log has no entry after 2025-10-01; add one (`aether-policy diff` drafts it)",
        f"policies/aetherapi.yaml:{line_of(policy, '180 days')}:5: warning: [change-control] material change: Usage and "
        "Performance Data kept longer: 90 days → 180 days after collection",
    ]


def test_a_logged_material_change_is_acknowledged_so_fail_on_warn_passes(project: Path) -> None:
    edit(project, "keep_for: 90 days", "keep_for: 180 days")
    log_change(project, "Usage data kept 180 days.", material=True)
    code, output = check("--base", "HEAD", "--fail-on-warn")
    assert code == 0, output
    assert output.splitlines()[-1] == "0 errors, 0 warnings"


def test_a_material_change_logged_as_minor_fails(project: Path) -> None:
    edit(project, "keep_for: 90 days", "keep_for: 180 days")
    log_change(project, "Small fixes.")
    code, output = check("--base", "HEAD")
    assert code == 1
    assert "the changes include material ones but no new change-log entry says `material: true`" in output


def test_a_prose_only_edit_needs_a_date_but_is_not_material(project: Path) -> None:
    edit(project, "We do\n      not knowingly collect", "We never\n      knowingly collect")
    log_change(project, "Wording.")
    code, output = check("--base", "HEAD")
    assert (code, output.splitlines()[-1]) == (0, "0 errors, 0 warnings")


def test_an_unknown_base_revision_is_reported_not_raised(project: Path) -> None:
    code, output = check("--base", "no-such-rev")
    assert code == 1
    assert (
        "policies/aetherapi.yaml:1:1: error: [change-control] cannot compare with --base: 'no-such-rev' is not a "
        "commit in this repository; pass a branch, tag or SHA (in CI, fetch it too: actions/checkout with "
        "`fetch-depth: 0`)"
    ) in output


def test_json_format_parses(project: Path) -> None:
    edit(project, "keep_for: 90 days", "keep_for: 120 days")
    data = json.loads(check("--format", "json")[1])
    assert data["passed"] is False
    assert data["checks"]["change-control"] == {"ran": False, "skipped": "no --base revision given"}
    assert {f["check"] for f in data["findings"]} == {"site-freshness"}


def test_junit_format_has_one_testcase_per_check(project: Path) -> None:
    edit(project, "keep_for: 90 days", "keep_for: 120 days")
    root = ElementTree.fromstring(check("--format", "junit")[1].split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == [
        "schema",
        "site-freshness",
        "gateway-conformance",
        "promise-coverage",
        "rights",
        "change-control",
    ]
    assert cases["site-freshness"].find("failure") is not None and cases["change-control"].find("skipped") is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "1", "1")


def test_sarif_format_has_the_required_fields(project: Path) -> None:
    edit(project, "keep_for: 90 days", "keep_for: 120 days")
    sarif = json.loads(check("--format", "sarif")[1])
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "aether-policy"
    result = run["results"][0]
    assert {"ruleId", "level", "message", "locations"} <= set(result)
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] >= 1 and result["ruleId"] == "site-freshness"


def test_github_format_prints_workflow_annotations(project: Path) -> None:
    edit(project, "keep_for: 90 days", "keep_for: 120 days")
    lines = check("--format", "github")[1].splitlines()
    md_line = line_of(project / "site" / "privacy.md", "policy-digest")
    assert f"::error file=site/privacy.md,line={md_line},col=1,title=site-freshness::stale: differs" in "\n".join(lines)
    assert lines[-1] == "3 errors, 0 warnings"


def test_a_missing_policy_is_a_usage_style_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = check()
    assert code == 1
    assert output.startswith("Error: policies:1:1: no policy file found in")


def test_the_project_itself_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for variable in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    report = run_checks(CheckOptions(POLICY_FILE.relative_to(ROOT)))
    assert report.findings == []


def change_control_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "[change-control]" in line]


def test_a_material_change_the_log_details_do_not_name_stays_a_warning(project: Path) -> None:
    edit(project, "keep_for: 90 days", "keep_for: 180 days")
    edit(project, "password: {title: Password, stored_as: hash}", "password: {title: Password}")
    log_change(project, "Usage data kept longer.", material=True)
    edit(
        project,
        "      summary: Usage data kept longer.\n      material: true\n",
        "      summary: Usage data kept longer.\n      material: true\n      details:\n"
        "        - 'Usage and Performance Data kept longer: 90 days → 180 days after collection'\n",
    )
    CliRunner().invoke(main, ["build"])
    code, output = check("--base", "HEAD", "--fail-on-warn")
    assert code == 1
    assert [line.split(": ", 1)[1] for line in change_control_lines(output)] == [
        "warning: [change-control] material change: Account Information: Password stored as hash → plain; "
        "list it under `details` of a `material: true` entry"
    ]


def test_the_drafted_change_log_entry_acknowledges_every_material_change(project: Path) -> None:
    policy = project / "policies" / "aetherapi.yaml"
    base = project / "base.yaml"
    base.write_text(policy.read_text())
    edit(project, "  aether_analytics:\n    kind: analytics", "  aether_analytics:\n    kind: preference")
    edit(project, "    when: required_by_law\n", "    when: always\n")
    # As an editor does: the policy is updated today (the drafted entry is dated today, never after it).
    edit(project, "last_updated: 2025-10-01", f"last_updated: {date.today().isoformat()}")
    drafted = CliRunner().invoke(main, ["diff", str(base), str(policy), "--format", "changelog"]).output
    base.unlink()
    edit(project, "\nsections:\n", drafted + "\nsections:\n")
    CliRunner().invoke(main, ["build"])
    code, output = check("--base", "HEAD", "--fail-on-warn")
    assert (code, output.splitlines()[-1]) == (0, "0 errors, 0 warnings"), output


def test_a_renamed_policy_is_compared_with_its_base_version(project: Path) -> None:
    git(project, "mv", "policies/aetherapi.yaml", "policies/aether.yaml")
    policy = project / "policies" / "aether.yaml"
    policy.write_text(policy.read_text().replace("keep_for: 90 days", "keep_for: 900 days"))
    CliRunner().invoke(main, ["build"])
    code, output = check("--base", "HEAD")
    assert code == 1
    assert change_control_lines(output) == [
        f"policies/aether.yaml:{line_of(policy, 'last_updated:')}:1: error: [change-control] rules changed since "
        "HEAD (was policies/aetherapi.yaml at HEAD) but last_updated is still 2025-10-01; move it forward",
        f"policies/aether.yaml:{line_of(policy, '  log:')}:3: error: [change-control] rules changed since HEAD (was "
        "policies/aetherapi.yaml at HEAD) but the change log has no entry after 2025-10-01; add one "
        "(`aether-policy diff` drafts it)",
        f"policies/aether.yaml:{line_of(policy, '900 days')}:5: warning: [change-control] material change: Usage and "
        "Performance Data kept longer: 90 days → 900 days after collection",
    ]


def test_a_renamed_commited_policy_is_compared_with_its_base_version(project: Path) -> None:
    git(project, "mv", "policies/aetherapi.yaml", "policies/aether.yaml")
    policy = project / "policies" / "aether.yaml"
    policy.write_text(policy.read_text().replace("keep_for: 90 days", "keep_for: 900 days"))
    CliRunner().invoke(main, ["build"])
    git(project, "commit", "-qam", "rename and keep longer")
    code, output = check("--base", "HEAD~1")
    assert code == 1
    assert "last_updated is still 2025-10-01" in output


def test_a_moved_untracked_and_reformatted_policy_is_still_compared(project: Path) -> None:
    old = project / "policies" / "aetherapi.yaml"
    data = yaml.safe_load(old.read_text())
    data["retention"]["usage_data"]["keep_for"] = "900 days"
    moved = project / "policies" / "privacy.yml"
    moved.write_text(yaml.safe_dump(data, default_flow_style=True, width=60))  # little text in common
    old.unlink()
    code, output = check("--policy", "policies/privacy.yml", "--base", "HEAD", "--site", "nowhere")
    assert code == 1
    assert (
        "error: [change-control] rules changed since HEAD (was policies/aetherapi.yaml at HEAD) but last_updated is "
        "still 2025-10-01; move it forward"
    ) in output


def test_every_policy_file_under_policies_is_covered(project: Path) -> None:
    example = project / "policies" / "examples" / "other.yaml"
    example.parent.mkdir(exist_ok=True)  # policies/examples ships the Nordlicht example
    example.write_text((project / "policies" / "aetherapi.yaml").read_text().replace("AetherAPI", "OtherAPI"))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "an example policy")
    example.write_text(example.read_text().replace("minimum_age: 13", "minimum_age: 16"))
    code, output = check("--base", "HEAD")
    assert code == 1
    assert change_control_lines(output) == [
        f"policies/examples/other.yaml:{line_of(example, 'last_updated:')}:1: error: [change-control] rules changed "
        "since HEAD but last_updated is still 2025-10-01; move it forward",
        f"policies/examples/other.yaml:{line_of(example, '  log:')}:3: error: [change-control] rules changed since "
        "HEAD but the change log has no entry after 2025-10-01; add one (`aether-policy diff` drafts it)",
    ]


def test_another_policy_file_that_does_not_load_fails_change_control(project: Path) -> None:
    (project / "policies" / "examples").mkdir(exist_ok=True)
    (project / "policies" / "examples" / "broken.yml").write_text("version: 1\nservice: [\n")
    code, output = check("--base", "HEAD")
    assert code == 1
    assert "policies/examples/broken.yml:" in "\n".join(change_control_lines(output))
    assert "policy file does not load" in output


def test_a_base_that_looks_like_an_option_is_never_handed_to_git_as_one(project: Path) -> None:
    before = sorted(project.rglob("*"))
    code, output = check("--base=--output=leak.txt")
    assert code == 1
    assert "cannot compare with --base: '--output=leak.txt' is not a commit in this repository" in output
    assert sorted(project.rglob("*")) == before  # git wrote no file


def test_a_base_that_names_a_tree_not_a_commit_is_refused(project: Path) -> None:
    code, output = check("--base", "HEAD^{tree}")
    assert code == 1
    assert "is not a commit in this repository" in output


def test_a_base_policy_that_does_not_load_fails_the_check(project: Path) -> None:
    edit(project, "minimum_age: 13", "minimum_age: 12")
    git(project, "commit", "-qam", "a broken policy")
    edit(project, "minimum_age: 12", "minimum_age: 13")
    code, output = check("--base", "HEAD")
    assert code == 1
    assert (
        "error: [change-control] the policy at HEAD:policies/aetherapi.yaml does not load "
        "(HEAD:policies/aetherapi.yaml:"
    ) in output
    assert "fix the base or compare with another --base" in output


def test_change_control_outside_a_git_repository_fails(project: Path) -> None:
    shutil.rmtree(project / ".git")
    code, output = check("--base", "HEAD")
    assert code == 1
    assert "error: [change-control] cannot compare with --base: " in output


def test_last_updated_may_not_move_backwards(project: Path) -> None:
    policy = edit(project, "last_updated: 2025-10-01", "last_updated: 2025-09-01")
    edit(project, "    - date: 2025-10-01\n", "    - date: 2025-09-01\n")
    CliRunner().invoke(main, ["build"])
    code, output = check("--base", "HEAD")
    assert code == 1
    assert change_control_lines(output) == [
        f"policies/aetherapi.yaml:{line_of(policy, 'last_updated:')}:1: error: [change-control] last_updated moved "
        "backwards: 2025-10-01 at HEAD, now 2025-09-01; it must be the date of the latest change",
        f"policies/aetherapi.yaml:{line_of(policy, '  log:')}:3: error: [change-control] the change-log entry of "
        "2025-10-01 at HEAD was removed or edited; the log is append-only: restore it and add a new entry that "
        "corrects it",
    ]


def test_rewriting_a_published_change_log_entry_fails(project: Path) -> None:
    policy = edit(
        project, "      summary: Published the policy from a single machine-checked source.", "      summary: x"
    )
    CliRunner().invoke(main, ["build"])
    code, output = check("--base", "HEAD")
    assert code == 1
    assert change_control_lines(output) == [
        f"policies/aetherapi.yaml:{line_of(policy, '  log:')}:3: error: [change-control] the change-log entry of "
        "2025-10-01 at HEAD was removed or edited; the log is append-only: restore it and add a new entry that "
        "corrects it"
    ]


def test_other_policy_files_are_found_beside_the_policy_from_any_working_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = project / "policies" / "examples" / "other.yaml"
    example.parent.mkdir(exist_ok=True)
    example.write_text((project / "policies" / "aetherapi.yaml").read_text().replace("AetherAPI", "OtherAPI"))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "an example policy")
    example.write_text(example.read_text().replace("minimum_age: 13", "minimum_age: 16"))
    monkeypatch.chdir(project / "templates")
    code, output = check("--policy", "../policies/aetherapi.yaml", "--site", "../site", "--base", "HEAD")
    assert code == 1
    assert [line.split(":", 1)[0] for line in change_control_lines(output)] == ["../policies/examples/other.yaml"] * 2


def test_a_new_policy_file_has_nothing_to_compare_with(project: Path) -> None:
    example = project / "policies" / "examples" / "new.yaml"
    example.parent.mkdir(exist_ok=True)
    example.write_text(
        (project / "policies" / "aetherapi.yaml")
        .read_text()
        .replace("AetherAPI", "OtherAPI")
        .replace("https://aetherapi.dev", "https://other.example")
    )
    code, output = check("--base", "HEAD")
    assert (code, output.splitlines()[-1]) == (0, "0 errors, 0 warnings"), output


def test_a_base_policy_that_is_not_utf8_fails_the_check(project: Path) -> None:
    policy = project / "policies" / "aetherapi.yaml"
    good = policy.read_bytes()
    policy.write_bytes(good.replace(b"AetherAPI's", b"Aether\xffAPI's"))
    git(project, "commit", "-qam", "a latin-1 byte")
    policy.write_bytes(good)
    code, output = check("--base", "HEAD")
    assert code == 1
    assert "error: [change-control] cannot read the policy at HEAD: policies/aetherapi.yaml is not UTF-8 text" in output


def test_change_control_without_git_fails_with_a_message(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(project / "no-bin"))
    code, output = check("--base", "HEAD", "--site", "nowhere")
    assert code == 1
    assert "error: [change-control] cannot compare with --base: cannot run git:" in output


def test_a_provider_reached_over_plain_http_fails_conformance(project: Path) -> None:
    (project / "gateway.yaml").write_text(
        "providers:\n  openai:\n    api: openai\n    base_url: http://api.openai.com/v1\n    models: [gpt-*]\n"
    )
    code, output = check("--config", "gateway.yaml")
    assert code == 1
    assert "gateway.yaml:4:5: error: [gateway-conformance] http://api.openai.com/v1 is not https" in output


def test_plain_http_is_allowed_only_to_a_loopback_host() -> None:
    from aether_policy.gateway.config import is_loopback

    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "LOCALHOST.")] == [True] * 6
    assert [is_loopback(h) for h in ("10.0.0.1", "localhost.example", "0.0.0.0", "api.openai.com")] == [False] * 4
