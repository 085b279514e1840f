"""Check reports for people and for CI: text, JSON, JUnit XML, SARIF 2.1.0, GitHub workflow annotations."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from urllib.parse import quote
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
        "internal_error": report.broke(),
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
        errors=str(sum(1 for name in CHECKS if _internal(report, name))),
        skipped=str(len(report.skipped)),
    )
    for name in CHECKS:
        case = ElementTree.SubElement(suite, "testcase", classname="aether_policy.check", name=name)
        if name in report.skipped:
            ElementTree.SubElement(case, "skipped", message=_xml(report.skipped[name]))
            continue
        broken = _internal(report, name)
        if broken:  # JUnit's <error>: the test itself could not run, as opposed to a <failure> it found
            error = ElementTree.SubElement(case, "error", message=_xml(broken[0].message), type="internal")
            error.text = _xml("\n".join(str(f) for f in broken))
        errors = _errors(report, name)
        if errors:
            failure = ElementTree.SubElement(case, "failure", message=f"{len(errors)} finding(s)", type="policy")
            failure.text = _xml("\n".join(str(f) for f in errors))
        warnings = [f for f in report.findings if f.check == name and f.severity == "warning"]
        if warnings:
            ElementTree.SubElement(case, "system-out").text = _xml("\n".join(str(f) for f in warnings))
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def _errors(report: Report, name: str) -> list[Finding]:
    return [f for f in report.findings if f.check == name and f.severity == "error" and not f.internal]


def _internal(report: Report, name: str) -> list[Finding]:
    return [f for f in report.findings if f.check == name and f.internal]


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """Text XML 1.0 can carry: control characters and lone surrogates (from odd file names) become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def as_sarif(report: Report) -> str:
    rules = [
        {"id": name, "name": name.replace("-", " ").title().replace(" ", ""), "shortDescription": {"text": text}}
        for name, text in CHECKS.items()
    ]
    seen: Counter[str] = Counter()
    results = []
    for f in report.findings:
        result: dict[str, object] = {
            "ruleId": f.check,
            "level": f.severity,
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.file)},
                        "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
                    }
                }
            ],
            "partialFingerprints": {"aetherPolicyFinding/v1": _fingerprint(f, seen)},
        }
        if f.check in CHECKS:
            result["ruleIndex"] = list(CHECKS).index(f.check)
        if f.internal:
            result["properties"] = {"internal": True}
        results.append(result)
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


_NUMBERS = re.compile(r"\d+")


def _fingerprint(finding: Finding, seen: Counter[str]) -> str:
    """Stable across edits elsewhere in the file: check, file and message with its numbers (line numbers in
    messages such as "first written on line 12") left out, plus which occurrence of that it is."""
    key = "\0".join((finding.check, finding.file, _NUMBERS.sub("#", finding.message)))
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    seen[digest] += 1
    return f"{digest}:{seen[digest]}"


def _uri(path: str) -> str:
    """A file path as the relative URI reference SARIF wants: spaces, `#` and `%` percent-encoded."""
    return quote(path.replace("\\", "/"), safe="/:@!$&'()*+,;=-._~", errors="surrogatepass")


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A workflow-command property value: `,` and `:` would end it early, so they are escaped too."""
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def as_github(report: Report) -> str:
    lines = [
        f"::{f.severity} file={_escape_property(f.file)},line={f.line},col={f.column},"
        f"title={_escape_property(f.check + (' (internal error)' if f.internal else ''))}::{_escape(f.message)}"
        for f in report.findings
    ]
    return "\n".join([*lines, as_text(report).rstrip("\n").splitlines()[-1]]) + "\n"


FORMATS = {"text": as_text, "json": as_json, "junit": as_junit, "sarif": as_sarif, "github": as_github}
