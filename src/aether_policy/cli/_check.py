"""`check` and `diff`: what CI runs on every pull request that touches the policy or the gateway."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aether_policy.cli._build import templates_option
from aether_policy.cli._common import config_option, policy_option, user_errors
from aether_policy.exceptions import PolicyLoadError, Problem

if TYPE_CHECKING:  # the checks import the whole engine; commands that do not run them should not pay for it
    from aether_policy.checks import Finding, Report

if TYPE_CHECKING:
    from aether_policy.diff import Change


@click.command()
@policy_option
@click.option("--site", type=click.Path(path_type=Path, file_okay=False), default=Path("site"), show_default=True)
@templates_option
@config_option
@click.option("--base", default=None, help="Git revision to compare with for change control, e.g. origin/main.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit", "sarif", "github"]),
    default="text",
    show_default=True,
)
@click.option("--fail-on-warn", is_flag=True, help="Exit 1 on warnings too.")
def check(
    policy_path: Path | None,
    site: Path,
    templates: Path | None,
    config_path: Path | None,
    base: str | None,
    fmt: str,
    fail_on_warn: bool,
) -> None:
    """Run every compliance check: schema, site freshness, gateway conformance, promise coverage, change control.

    Exit 0 when all pass, 1 on failures, 2 on a usage error or when aether-policy itself fails (reported as a
    finding, so json, junit, sarif and github output stay valid documents). Every finding is located at file:line.

    Example: aether-policy check --base origin/main --format github
    """
    from aether_policy.checks import FORMATS, CheckOptions, run_checks
    from aether_policy.checks.findings import internal_finding
    from aether_policy.loader import find_policy

    try:
        path = find_policy(policy_path)
    except PolicyLoadError as error:
        if fmt == "text":
            raise click.ClickException(str(error)) from None
        report = _unchecked([_schema_finding(p) for p in error.problems])  # machines still get a document
    else:
        try:
            report = run_checks(CheckOptions(path, site, templates, config_path, base))
        except Exception as error:  # a bug outside any one check: still a valid report, exit 2
            report = _unchecked([internal_finding("schema", str(path), error)])
    click.echo(_formatted(FORMATS[fmt], report), nl=False)
    if report.broke():
        raise SystemExit(2)
    if report.failed(fail_on_warn):
        raise SystemExit(1)


def _schema_finding(problem: Problem) -> Finding:
    from aether_policy.checks import Finding

    message = f"{problem.path}: {problem.message}" if problem.path else problem.message
    return Finding("schema", "error", problem.file, problem.line, problem.column, message)


def _unchecked(findings: list[Finding]) -> Report:
    """A report for a policy that could not be checked at all: the schema check failed, the rest skipped."""
    from aether_policy.checks import CHECKS, Report

    report = Report(ran=["schema"], findings=findings)
    for name in list(CHECKS)[1:]:
        report.skipped[name] = "the policy does not load"
    return report


def _formatted(formatter: Callable[[Report], str], report: Report) -> str:
    from aether_policy.checks import Report
    from aether_policy.checks.findings import internal_finding

    try:
        return formatter(report)
    except Exception as error:  # a formatting bug: report it in the same format rather than print nothing
        broken = Report(ran=list(report.ran), skipped=dict(report.skipped))
        broken.findings.append(internal_finding("schema", "<report>", error))
        return formatter(broken)


@click.command()
@click.argument("old", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("new", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "changelog"]),
    default="text",
    show_default=True,
    help="changelog: a ready-to-paste `changes.log` entry for NEW.",
)
def diff(old: Path, new: Path, fmt: str) -> None:
    """Semantic diff of two policy files by what happens to the data; MATERIAL and prose changes marked.

    Each field's effective retention, storage, recipients, purposes and cookies are compared, and every way
    prompt content can come to be stored. Wording is marked `prose` and is never material.

    Example: aether-policy diff old/aetherapi.yaml policies/aetherapi.yaml --format changelog
    """
    from aether_policy.diff import semantic_diff
    from aether_policy.loader import load_policy

    with user_errors():
        changes = semantic_diff(load_policy(old).policy, load_policy(new).policy)
    if fmt == "json":
        click.echo(json.dumps([c.as_dict() for c in changes], indent=2))
        return
    if fmt == "changelog":
        click.echo(_changelog_entry(changes), nl=False)
        return
    if not changes:
        click.echo("no changes")
    for change in changes:
        mark = "MATERIAL " if change.material else "prose " if change.kind == "prose" else ""
        click.echo(f"{mark}{'.'.join(str(p) for p in change.path)}: {change.description}")


def _changelog_entry(changes: list[Change]) -> str:
    """A `changes.log` entry whose `details` list every change, so change control knows what it acknowledges."""
    material = any(c.material for c in changes)
    rules = [c.description for c in changes if c.kind == "rule"]
    summary = "; ".join(rules) or ("Wording only." if changes else "No rule changes.")
    lines = [
        f"    - date: {date.today().isoformat()}",
        f"      summary: {json.dumps(summary, ensure_ascii=False)}",
        f"      material: {str(material).lower()}",
    ]
    if changes:
        lines.append("      details:")
        lines += [f"        - {json.dumps(c.description, ensure_ascii=False)}" for c in changes]
    return "\n".join(lines) + "\n"
