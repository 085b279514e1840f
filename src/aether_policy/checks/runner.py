"""`aether-policy check`: every check, each returning located findings; none raises for bad input."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aether_policy._extras import gateway_missing_reason
from aether_policy.anchors import ANCHORS, enforced_by_gateway
from aether_policy.bindings import MODEL_SLOT, binding_warnings
from aether_policy.checks.change_control import change_control
from aether_policy.checks.findings import CHECKS, Finding, guarded
from aether_policy.checks.rights import rights_coverage
from aether_policy.exceptions import PolicyError, PolicyLoadError
from aether_policy.legal import legal_warnings
from aether_policy.loader import LoadedPolicy, load_policy
from aether_policy.plan import compile_policy
from aether_policy.plan.compiled import Plan
from aether_policy.render import build_site

# gateway-conformance and promise-coverage read the gateway's config, tables and retention jobs, which need the
# `gateway` extra: they import it inside, and are skipped with the install command when it is missing.


@dataclass
class Report:
    ran: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def failed(self, fail_on_warn: bool = False) -> bool:
        return any(f.severity == "error" or fail_on_warn for f in self.findings)

    def broke(self) -> bool:
        """Whether aether-policy itself failed in a check (exit 2), as opposed to the project failing it."""
        return any(f.internal for f in self.findings)


@dataclass(frozen=True)
class CheckOptions:
    policy: Path
    site: Path | None = Path("site")
    templates: Path | None = None
    config: Path | None = None
    base: str | None = None


def run_checks(options: CheckOptions) -> Report:
    report = Report()
    report.ran.append("schema")
    try:
        loaded = load_policy(options.policy)
    except PolicyLoadError as error:
        for p in error.problems:
            report.findings.append(
                Finding("schema", "error", p.file, p.line, p.column, f"{p.path}: {p.message}" if p.path else p.message)
            )
        for name in list(CHECKS)[1:]:
            report.skipped[name] = "the policy does not load"
        return report
    plan = compile_policy(loaded.policy)
    for path, message in [*legal_warnings(loaded.policy), *binding_warnings(loaded.policy)]:
        report.findings.append(_at(loaded, "schema", path, message, "warning"))
    if options.site is not None:
        report.ran.append("site-freshness")
        report.findings += site_freshness(loaded, options.site, options.templates)
    else:
        report.skipped["site-freshness"] = "no --site given"
    missing = gateway_missing_reason()
    if missing is not None:
        report.skipped["gateway-conformance"] = missing
        report.skipped["promise-coverage"] = missing
    else:
        report.ran.append("gateway-conformance")
        report.findings += gateway_conformance(loaded, plan, options.config)
        report.ran.append("promise-coverage")
        report.findings += promise_coverage(loaded, plan)
    report.ran.append("rights")
    report.findings += rights_coverage(loaded)
    if options.base is not None:
        report.ran.append("change-control")
        report.findings += change_control(loaded, options.policy, options.base)
    else:
        report.skipped["change-control"] = "no --base revision given"
    return report


def _at(
    loaded: LoadedPolicy, check: str, path: tuple[str | int, ...], message: str, severity: str = "error"
) -> Finding:
    line, column = loaded.located.position(path)
    return Finding(check, severity, loaded.file, line, column, message)  # type: ignore[arg-type]


@guarded("site-freshness")
def site_freshness(loaded: LoadedPolicy, site: Path, templates: Path | None) -> list[Finding]:
    try:
        fresh = build_site(loaded, templates)
    except PolicyError as error:
        return [Finding("site-freshness", "error", loaded.file, 1, 1, f"the site cannot be built: {error}")]
    findings = []
    for relative, content in sorted(fresh.files.items()):
        target = site / relative
        if not target.is_file():
            findings.append(Finding("site-freshness", "error", str(target), 1, 1, "missing; run `aether-policy build`"))
            continue
        current = target.read_bytes()
        if current == content:
            continue
        old_lines, new_lines = current.decode("utf-8", "replace").splitlines(), content.decode("utf-8").splitlines()
        line = next(
            (i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), 1) if a != b),
            min(len(old_lines), len(new_lines)) + 1,
        )
        findings.append(
            Finding(
                "site-freshness",
                "error",
                str(target),
                line,
                1,
                f"stale: differs from a fresh build of {loaded.file} from line {line}; run `aether-policy build`",
            )
        )
    return findings


@guarded("gateway-conformance")
def gateway_conformance(loaded: LoadedPolicy, plan: Plan, config_path: Path | None) -> list[Finding]:
    from aether_policy.gateway.config import conformance_problems, load_config

    try:
        config, located, config_file = load_config(config_path)
    except PolicyLoadError as error:
        return [
            Finding("gateway-conformance", "error", p.file, p.line, p.column, f"{p.path}: {p.message}")
            for p in error.problems
        ]
    findings = []
    for path, message in conformance_problems(config, plan):
        line, column = located.position(path)
        findings.append(Finding("gateway-conformance", "error", config_file, line, column, message))
    # What the gateway sends each provider: the request content and the model name.
    content = plan.content_category
    policy = loaded.policy
    for name, provider in config.providers.items():
        recipient_name = provider.recipient or name
        recipient = policy.recipients.get(recipient_name)
        if recipient is None:
            continue
        receives = set(recipient.receives)
        sent = [ref for ref in (content, plan.bindings.model_ref) if ref is not None]
        for ref in sent:
            category = ref.split(".")[0]
            if ref not in receives and category not in receives:
                findings.append(
                    _at(
                        loaded,
                        "gateway-conformance",
                        ("recipients", recipient_name, "receives"),
                        _not_received(plan, ref, recipient_name),
                    )
                )
    return findings


def _not_received(plan: Plan, ref: str, recipient: str) -> str:
    """What to add to a recipient's `receives`, in the policy's own names."""
    if ref == plan.bindings.model_ref and MODEL_SLOT not in plan.bindings.fields:
        # No field holds the model slot, so the default name may not exist in this policy: ask for the binding.
        return (
            f"the gateway sends the requested model's name to '{recipient}' with every request, but no field of "
            f"the policy holds the {MODEL_SLOT} slot; bind `bindings.usage.{MODEL_SLOT}` to the field that records "
            "the model, and list that field under receives"
        )
    return f"the gateway sends {ref} to '{recipient}' but the policy does not list it under receives; add it"


@guarded("promise-coverage")
def promise_coverage(loaded: LoadedPolicy, plan: Plan) -> list[Finding]:
    from aether_policy.retention import compile_jobs
    from aether_policy.store import tables

    findings = []
    policy = loaded.policy
    for table in tables.DATA_TABLES:
        for category in plan.bindings.table_categories(table.name):
            if category not in policy.categories:
                findings.append(
                    _at(
                        loaded,
                        "promise-coverage",
                        ("categories",),
                        f"the gateway stores {category} data (table {table.name}) but the policy declares no "
                        f"'{category}' category; declare it with a retention rule"
                        + plan.bindings.rebind_hint(table.name),
                    )
                )
            elif plan.retention_for(category) is None and not any(
                ref.startswith(category + ".") for spec in plan.retention for ref in spec.categories
            ):
                findings.append(
                    _at(
                        loaded,
                        "promise-coverage",
                        ("categories", category),
                        f"stored in {table.name} but no retention rule covers it",
                    )
                )
    try:
        jobs = compile_jobs(plan)
    except PolicyError as error:
        return [*findings, _at(loaded, "promise-coverage", ("retention",), str(error))]
    for name, rule in policy.retention.items():
        if not enforced_by_gateway(rule.after):
            findings.append(
                _at(
                    loaded,
                    "promise-coverage",
                    ("retention", name, "after"),
                    f"'{name}' counts from {ANCHORS[rule.after].event}, which the bundled gateway does not record: "
                    "`aether-policy retention run` does not delete this data; enforce it where the data is held",
                    "warning",
                )
            )
    job_names = {job.name for job in jobs}
    for spec in plan.retention:
        if spec.name not in job_names:
            findings.append(_at(loaded, "promise-coverage", ("retention", spec.name), "retention rule has no job"))
    if plan.content_category is None:
        findings.append(
            _at(
                loaded,
                "promise-coverage",
                ("categories",),
                "no category holds request content with a `storage` rule, so the prompt gate has nothing to enforce; "
                "declare prompt content with `storage: {default: never}`",
            )
        )
    elif not plan.storage_windows:
        findings.append(
            _at(
                loaded,
                "promise-coverage",
                ("categories", plan.content_category, "storage"),
                "prompt content has no storage exceptions: flagged content can never be kept for review",
                "warning",
            )
        )
    return findings
