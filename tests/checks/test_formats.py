"""Machine formats never break: json, junit, sarif and github output parse on every failure, internal included.

CI reads these documents, not the exit code alone: an empty SARIF file after a traceback hides the failure
from the code-scanning UI. A bug in aether-policy is itself a finding, with exit code 2.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from aether_policy.checks import FORMATS as FORMATTERS
from aether_policy.checks import CheckOptions, run_checks
from aether_policy.cli import main
from tests.conftest import ROOT
from tests.hostile import run_cli_limited
from tests.policy.test_hostile_yaml import billion_laughs
from tests.policy.test_no_traceback import SHIPPED, TOKENS

FORMATS = ("json", "junit", "sarif", "github")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of this project's policy, templates and site, as the working directory."""
    for name in ("policies", "templates", "site"):
        shutil.copytree(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for variable in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


def parse(fmt: str, output: str) -> list[dict[str, object]]:
    """The findings a document carries, as (check, file, line, message) dicts; fails if it does not parse."""
    if fmt == "json":
        data = json.loads(output)
        return [{k: f[k] for k in ("check", "file", "line", "message")} for f in data["findings"]]
    if fmt == "sarif":
        run = json.loads(output)["runs"][0]
        return [
            {
                "check": r["ruleId"],
                "file": r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                "line": r["locations"][0]["physicalLocation"]["region"]["startLine"],
                "message": r["message"]["text"],
            }
            for r in run["results"]
        ]
    if fmt == "junit":
        assert output.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
        root = ElementTree.fromstring(output.split("\n", 1)[1])
        found = []
        for case in root.iter("testcase"):
            for element in (*case.findall("failure"), *case.findall("error")):
                for line in (element.text or "").splitlines():
                    match = re.fullmatch(r"(.*):(\d+):\d+: (?:error|warning): \[[^\]]+\] (.*)", line)
                    assert match, line
                    found.append(
                        {"check": case.get("name"), "file": match[1], "line": int(match[2]), "message": match[3]}
                    )
        return found
    found = []
    for line in output.splitlines()[:-1]:
        match = re.fullmatch(r"::(error|warning) file=([^,]*),line=(\d+),col=\d+,title=([^:]*)::(.*)", line)
        assert match, line
        found.append({"check": match[4], "file": match[2], "line": int(match[3]), "message": match[5]})
    assert re.fullmatch(r"\d+ errors?, \d+ warnings?", output.splitlines()[-1])
    return found


def break_date(project: Path) -> int:
    policy = project / "policies" / "aetherapi.yaml"
    text = policy.read_text()
    policy.write_text(text.replace("last_updated: 2025-10-01", "last_updated: 2025-02-30"))
    return next(i for i, row in enumerate(policy.read_text().splitlines(), 1) if "2025-02-30" in row)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_impossible_date_is_a_located_finding_in_every_format(project: Path, fmt: str) -> None:
    line = break_date(project)
    code, output = check("--format", fmt)
    assert code == 1
    (finding,) = parse(fmt, output)
    assert (finding["file"], finding["line"]) == ("policies/aetherapi.yaml", line)
    assert str(finding["message"]).startswith(
        "&#x27;2025-02-30&#x27;" if False else "'2025-02-30' cannot be read as a date"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_crashing_check_is_an_internal_finding_with_exit_code_2(
    project: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("renderer exploded\x01 here")

    monkeypatch.setattr("aether_policy.checks.runner.build_site", explode)
    code, output = check("--format", fmt)
    assert code == 2
    findings = parse(fmt, output)
    assert [f["check"] for f in findings] == ["site-freshness" + (" (internal error)" if fmt == "github" else "")]
    assert "internal error in aether-policy (RuntimeError" in str(findings[0]["message"])
    assert "renderer exploded" in str(findings[0]["message"])


def test_the_other_checks_still_run_when_one_crashes(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aether_policy.checks.runner.build_site", lambda *a, **k: 1 / 0)
    data = json.loads(check("--format", "json")[1])
    assert data["internal_error"] is True and data["passed"] is False
    assert all(data["checks"][name]["ran"] for name in ("schema", "gateway-conformance", "promise-coverage"))
    assert [f["internal"] for f in data["findings"]] == [True]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_crash_outside_any_check_still_gives_a_document(
    project: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise KeyError("plan")

    monkeypatch.setattr("aether_policy.checks.runner.compile_policy", explode)
    code, output = check("--format", fmt)
    assert code == 2
    (finding,) = parse(fmt, output)
    assert "internal error in aether-policy (KeyError" in str(finding["message"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_policy_at_all_is_a_finding_not_an_empty_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = check("--format", fmt)
    assert code == 1
    (finding,) = parse(fmt, output)
    assert str(finding["message"]).startswith("no policy file found in")


def sarif_results(*args: str) -> list[dict[str, object]]:
    results: list[dict[str, object]] = json.loads(check("--format", "sarif", *args)[1])["runs"][0]["results"]
    return results


def test_sarif_fingerprints_survive_lines_moving_and_tell_findings_apart(project: Path) -> None:
    policy = project / "policies" / "aetherapi.yaml"
    text = policy.read_text()
    text = text.replace(
        "purposes: [service_provision, business_operations, communication]", "purposes: [nope, nada, communication]"
    )
    policy.write_text(text)
    before = sarif_results()
    policy.write_text("# a comment that moves every line down\n" + text)
    after = sarif_results()
    assert [r["partialFingerprints"] for r in before] == [r["partialFingerprints"] for r in after]
    assert len({json.dumps(r["partialFingerprints"]) for r in before}) == len(before) == 2
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in (before[0], after[0])]  # type: ignore[index]
    assert lines[1] == lines[0] + 1


def test_sarif_uris_are_percent_encoded(project: Path) -> None:
    odd = project / "policies" / "my policy#1.yaml"
    (project / "policies" / "aetherapi.yaml").rename(odd)
    odd.write_text(odd.read_text().replace("minimum_age: 13", "minimum_age: x"))
    (result,) = sarif_results("--policy", str(odd.relative_to(project)))
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "policies/my%20policy%231.yaml"  # type: ignore[index]


def test_github_annotation_properties_escape_commas_and_colons(project: Path) -> None:
    odd = project / "policies" / "a,b:c.yaml"
    (project / "policies" / "aetherapi.yaml").rename(odd)
    odd.write_text(odd.read_text().replace("minimum_age: 13", "minimum_age: x"))
    output = check("--format", "github", "--policy", str(odd.relative_to(project)))[1]
    assert output.splitlines()[0].startswith("::error file=policies/a%2Cb%3Ac.yaml,line=")


def test_an_alias_bomb_under_a_memory_limit_still_gives_valid_sarif(project: Path) -> None:
    (project / "policies" / "aetherapi.yaml").write_text(billion_laughs())
    outcome = run_cli_limited("check", "--format", "sarif", cwd=str(project))
    assert outcome.code == 1, outcome
    (result,) = json.loads(outcome.stdout)["runs"][0]["results"]
    assert result["ruleId"] == "schema" and "expands to more than 100,000 values" in result["message"]["text"]


@settings(max_examples=25)
@given(
    st.integers(0, len(SHIPPED)),
    st.integers(0, 40),
    st.lists(st.sampled_from(TOKENS), max_size=8).map("".join),
)
def test_every_format_parses_whatever_the_policy_says(start: int, length: int, insert: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "p.yaml"
        policy.write_text(SHIPPED[:start] + insert + SHIPPED[start + length :], encoding="utf-8")
        report = run_checks(CheckOptions(policy, site=None))
    assert not report.broke(), report.findings
    for fmt in FORMATS:
        parse(fmt, FORMATTERS[fmt](report))
