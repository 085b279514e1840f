"""`explain --field device.ip_address` (or a category): every rule that touches the data, each located.

For each field: how it is collected (its declaration, source, storage form and purposes) and what the gateway
records for it, how long it is kept (the retention rule the jobs apply, and whether the job erases a column or
deletes a row), who receives it (recipients, and which forwarded headers would carry it), whether it is
encrypted at rest or kept only when flagged, and where the published page shows each of those rules.
"""

from __future__ import annotations

from typing import Any

from aether_policy._positions import Path
from aether_policy._suggest import did_you_mean
from aether_policy.bindings import CATEGORY_SLOTS, FORWARDED_HEADERS
from aether_policy.exceptions import PolicyError
from aether_policy.loader import LoadedPolicy
from aether_policy.plan.compiled import Plan
from aether_policy.rulebook import anchor, receivers_of, retention_of, split_ref


def explain_field(loaded: LoadedPolicy, plan: Plan, ref: str) -> list[dict[str, Any]]:
    """One explanation per field: the field itself, or every field of a category."""
    policy = loaded.policy
    category_name, field_name = split_ref(ref)
    if category_name not in policy.categories:
        raise PolicyError(
            f"--field: no category '{category_name}' in {loaded.file}; {did_you_mean(category_name, policy.categories)}"
        )
    category = policy.categories[category_name]
    if field_name is not None and field_name not in category.fields:
        hint = did_you_mean(field_name, category.fields)
        raise PolicyError(f"--field: category '{category_name}' has no field '{field_name}'; {hint}")
    names = [field_name] if field_name is not None else list(category.fields)
    return [_explain_one(loaded, plan, category_name, name) for name in names]


def _where(loaded: LoadedPolicy, path: Path) -> str:
    line, _ = loaded.located.position(path)
    return f"{loaded.file}:{line}"


def _explain_one(loaded: LoadedPolicy, plan: Plan, category_name: str, field_name: str) -> dict[str, Any]:
    policy = loaded.policy
    category = policy.categories[category_name]
    data = category.fields[field_name]
    ref = f"{category_name}.{field_name}"
    columns = sorted(c for c, allowed in plan.usage.allowed_by.items() if allowed == ref)
    if columns:
        gateway = f"recorded in usage events as {', '.join(columns)}"
    elif category.storage is not None:
        gateway = "never stored, except as the storage exceptions below allow (sealed, in the review quarantine)"
    else:
        gateway = "not recorded by the gateway's usage events"
    retention = retention_of(policy, ref)
    explained: dict[str, Any] = {
        "data": ref,
        "title": data.title,
        "collected": {
            "rule": f"categories.{category_name}.fields.{field_name}",
            "at": _where(loaded, ("categories", category_name, "fields", field_name)),
            "source": category.source,
            "stored_as": data.stored_as,
            "derived_from": data.derived_from,
            "keeps_only": list(data.keep),
            "purposes": [f"purposes.{p}" for p in category.purposes],
            "gateway": gateway,
            "page": anchor("data", category_name),
        },
        "retention": None,
        "recipients": [],
        "forwarded_headers": _headers(plan, category_name, ref),
        "encrypted_at_rest": category_name in policy.security.encryption_at_rest or category.storage is not None,
    }
    if retention is not None:
        explained["retention"] = {
            **retention.as_dict(),
            "at": _where(loaded, ("retention", retention.rule)),
            "job": _job(
                _row_seconds(loaded, plan),
                columns,
                retention.seconds,
                category.storage is not None,
                _kept_in(plan, category_name),
            ),
            "page": retention.page,
        }
    for receiver in receivers_of(policy, ref):
        explained["recipients"].append(
            {**receiver.as_dict(), "at": _where(loaded, ("recipients", receiver.name)), "page": receiver.page}
        )
    if category.storage is not None:
        explained["storage"] = [
            {
                "rule": f"categories.{category_name}.storage.exceptions[{i}]",
                "at": _where(loaded, ("categories", category_name, "storage", "exceptions", i)),
                "when": exception.when,
                "detectors": list(exception.detectors),
                "patterns": sorted(exception.patterns),
                "retention": f"retention.{exception.retention}",
                "purpose": f"purposes.{exception.purpose}",
                "reviewed": exception.reviewed,
            }
            for i, exception in enumerate(category.storage.exceptions)
        ]
    cookie_kinds = category_name == plan.bindings.categories["cookies"]
    cookies = [name for name, cookie in policy.cookies.items() if cookie_kinds and cookie.kind == field_name]
    if cookies:
        explained["cookies"] = [
            {"cookie": name, "max_age": str(policy.cookies[name].max_age or "session"), "rule": f"cookies.{name}"}
            for name in cookies
        ]
    return explained


def _row_seconds(loaded: LoadedPolicy, plan: Plan) -> int:
    """A usage row lives as long as its longest-kept column (the retention jobs' rule)."""
    periods = [retention_of(loaded.policy, ref) for ref in set(plan.usage.allowed_by.values())]
    return max((p.seconds for p in periods if p is not None), default=0)


def _kept_in(plan: Plan, category_name: str) -> list[str]:
    """What the gateway keeps of this category in its own tables, by the table slots bound to it."""
    return [
        entry.kept for entry in CATEGORY_SLOTS.values() if plan.bindings.categories.get(entry.slot) == category_name
    ]


def _job(row_seconds: int, columns: list[str], seconds: int, content: bool, kept_in: list[str]) -> str:
    if content:
        return "deletes kept content when its window ends (fixed when it was flagged) or the rule's period does"
    if not columns and kept_in:
        return f"applies where the gateway keeps it, {' and '.join(kept_in)}; elsewhere it binds whoever holds it"
    if not columns:
        return "binds whoever holds it (the gateway stores none of it)"
    if seconds < row_seconds:
        return f"erases {', '.join(columns)} in usage events when the period ends (the rest of the row stays)"
    return "deletes the usage events when the period ends"


def _headers(plan: Plan, category_name: str, ref: str) -> list[dict[str, Any]]:
    """Headers that would carry this data to an AI provider, and the providers the egress guard lets them reach."""
    found = []
    for header in FORWARDED_HEADERS:
        refs = plan.bindings.header_refs(header)
        specific = [r for r in refs if "." in r]
        carries = ref in refs if specific else category_name in refs
        if carries:
            allowed = sorted(f"recipients.{name}" for name, rule in plan.egress.items() if header in rule.headers)
            found.append({"header": header, "guard_lets_it_reach": allowed})
    return found
