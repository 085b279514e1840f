"""Check reports for people and for CI: text, JSON, JUnit XML, SARIF 2.1.0, GitHub workflow annotations."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from aether_policy.checks.findings import CHECKS, Finding
from aether_policy.checks.runner import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def as_text(report: Report) -> str:
    lines = [str(f) for f in report.findings]
    for name in report.ran:
        count = sum(1 for f in report.findings if f.check == name)
        lines.append(
            f"{'FAIL' if any(f.check == name and f.severity == 'error' for f in report.findings) else 'ok  '} {name}"
            + (f" ({count} finding{'s' if count != 1 else ''})" if count else "")
        )
    for name, why in report.skipped.items():
        lines.append(f"skip {name}: {why}")
    errors = sum(1 for f in report.findings if f.severity == "error")
    warnings = len(report.findings) - errors
    lines.append(f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}")
    return "\n".join(lines) + "\n"


def as_json(report: Report) -> str:
    data = {
        "passed": not report.failed(),
        "checks": {name: {"ran": name in report.ran, "skipped": report.skipped.get(name)} for name in CHECKS},
        "findings": [f.as_dict() for f in report.findings],
    }
    return json.dumps(data, indent=2) + "\n"


def as_junit(report: Report) -> str:
    suite = ElementTree.Element(
        "testsuite",
        name="aether-policy check",
        tests=str(len(report.ran) + len(report.skipped)),
        failures=str(sum(1 for name in report.ran if _errors(report, name))),
        errors="0",
        skipped=str(len(report.skipped)),
    )
    for name in CHECKS:
        case = ElementTree.SubElement(suite, "testcase", classname="aether_policy.check", name=name)
        if name in report.skipped:
            ElementTree.SubElement(case, "skipped", message=report.skipped[name])
            continue
        errors = _errors(report, name)
        if errors:
            failure = ElementTree.SubElement(case, "failure", message=f"{len(errors)} finding(s)", type="policy")
            failure.text = "\n".join(str(f) for f in errors)
        warnings = [f for f in report.findings if f.check == name and f.severity == "warning"]
        if warnings:
            ElementTree.SubElement(case, "system-out").text = "\n".join(str(f) for f in warnings)
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def _errors(report: Report, name: str) -> list[Finding]:
    return [f for f in report.findings if f.check == name and f.severity == "error"]


def as_sarif(report: Report) -> str:
    rules = [
        {"id": name, "name": name.replace("-", " ").title().replace(" ", ""), "shortDescription": {"text": text}}
        for name, text in CHECKS.items()
    ]
    results = [
        {
            "ruleId": f.check,
            "ruleIndex": list(CHECKS).index(f.check),
            "level": f.severity,
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }
            ],
        }
        for f in report.findings
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {"name": "aether-policy", "informationUri": "https://aetherapi.dev", "rules": rules}
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def as_github(report: Report) -> str:
    lines = [
        f"::{f.severity} file={f.file},line={f.line},col={f.column},title={f.check}::{_escape(f.message)}"
        for f in report.findings
    ]
    return "\n".join([*lines, as_text(report).rstrip("\n").splitlines()[-1]]) + "\n"


FORMATS = {"text": as_text, "json": as_json, "junit": as_junit, "sarif": as_sarif, "github": as_github}
