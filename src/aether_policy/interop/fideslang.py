"""The policy as a fideslang manifest: a `system` with one privacy declaration per purpose and category, the
recipients as the systems data flows to, and a `dataset` describing the gateway's tables.

fideslang's taxonomy has fixed keys (`user.contact.email`, `essential.service`); the policy names its own
categories and purposes. The tables below map the names this project's policies use; a field without a
mapping takes its category's, and a category or purpose without one takes fideslang's most general key
(`user`, `operations`) and is listed under the system's `meta.aether_unmapped`, so nothing is silently
mislabelled as something specific.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aether_policy.exceptions import PolicyError
from aether_policy.model import Policy
from aether_policy.plan.compiled import Plan
from aether_policy.rulebook import receivers_of, retention_of

FIDESLANG_VERSION = "3.1.4"
"""The fideslang release whose taxonomy keys and models this export is tested against."""

CATEGORIES: dict[str, str] = {
    "account": "user.account",
    "payment": "user.financial",
    "contact": "user.contact",
    "api_usage": "user.behavior",
    "dashboard_activity": "user.behavior",
    "performance": "system.operations",
    "prompt_content": "user.content.private",
    "device": "user.device",
    "logs": "system.operations",
    "audit_data": "system.operations",
    "cookies": "user.device.cookie",
}
FIELDS: dict[str, str] = {
    "account.name": "user.name",
    "account.email": "user.contact.email",
    "account.username": "user.account.username",
    "account.password": "user.authorization.password",
    "payment.billing_address": "user.contact.address",
    "payment.payment_history": "user.behavior.purchase_history",
    "contact.email": "user.contact.email",
    "contact.support_messages": "user.content.private",
    "api_usage.account_id": "user.unique_id",
    "dashboard_activity.settings_configured": "user.account.settings",
    "device.ip_address": "user.device.ip_address",
    "cookies.session": "user.device.cookie_id",
}
PURPOSES: dict[str, str] = {
    "service_provision": "essential.service",
    "business_operations": "essential.service.operations",
    "communication": "essential.service.notifications",
    "improvement_analytics": "functional.service.improve",
    "legal_compliance": "essential.legal_obligation",
}
GENERAL_CATEGORY = "user"
GENERAL_USE = "operations"
# A credential is a credential whatever the policy calls the category it is kept under.
CREDENTIAL = "user.authorization.credentials"


def fides_key(text: str) -> str:
    """A valid fides_key (letters, digits, `_ . < > -`) from any name."""
    return re.sub(r"[^A-Za-z0-9_.<>-]+", "_", text.strip().lower()).strip("_") or "aether"


class _Mapper:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.unmapped: set[str] = set()

    def category(self, ref: str) -> str:
        name, _, field = ref.partition(".")
        if ref in FIELDS:
            return FIELDS[ref]
        if name in CATEGORIES:
            return CATEGORIES[name]
        self.unmapped.add(f"categories.{name}")
        return GENERAL_CATEGORY

    def categories(self, refs: Iterable[str]) -> list[str]:
        found: list[str] = []
        for ref in refs:
            name, _, field = ref.partition(".")
            fields = [field] if field else list(self.policy.categories[name].fields)
            for key in (self.category(f"{name}.{f}") for f in fields):
                if key not in found:
                    found.append(key)
        return found

    def use(self, purpose: str) -> str:
        if purpose in PURPOSES:
            return PURPOSES[purpose]
        self.unmapped.add(f"purposes.{purpose}")
        return GENERAL_USE


def fideslang_manifest(policy: Policy, plan: Plan) -> dict[str, Any]:
    """`{"system": [...], "dataset": [...]}`, as fides reads manifests."""
    mapper = _Mapper(policy)
    system_key = fides_key(policy.service.name)
    dataset_key = f"{system_key}_gateway"
    recipient_keys = {name: f"{system_key}_recipient_{fides_key(name)}" for name in policy.recipients}
    declarations = []
    for category_name, category in policy.categories.items():
        retention = retention_of(policy, category_name)
        receivers = receivers_of(policy, category_name)
        shared = mapper.categories(ref for r in receivers for ref in r.receives)
        for purpose in category.purposes:
            declaration: dict[str, Any] = {
                "name": f"{policy.purposes[purpose].title}: {category.title}",
                "data_categories": mapper.categories([category_name]),
                "data_use": mapper.use(purpose),
                "data_subjects": ["customer"],
                "dataset_references": [dataset_key],
                "retention_period": retention.sentence() if retention else None,
                "data_shared_with_third_parties": bool(receivers),
                "shared_categories": shared,
            }
            if receivers:
                declaration["third_parties"] = ", ".join(r.title for r in receivers)
                declaration["egress"] = [recipient_keys[r.name] for r in receivers]
            declarations.append(declaration)
    egress = []
    for name, recipient in policy.recipients.items():
        egress.append(
            {
                "fides_key": recipient_keys[name],
                "type": "system",
                "data_categories": mapper.categories(recipient.receives),
            }
        )
    max_ages = [c.max_age.nominal_seconds for c in policy.cookies.values() if c.max_age is not None]
    system: dict[str, Any] = {
        "fides_key": system_key,
        "name": policy.service.name,
        "description": policy.service.description,
        "system_type": "Service",
        "privacy_policy": plan.page_url,
        "dataset_references": [dataset_key],
        "processes_personal_data": True,
        "uses_cookies": bool(policy.cookies),
        "cookie_max_age_seconds": max(max_ages) if max_ages else None,
        "data_security_practices": "; ".join(m.title for m in policy.security.measures.values()),
        "egress": egress,
        "privacy_declarations": declarations,
    }
    recipients = [
        {
            "fides_key": recipient_keys[name],
            "name": recipient.title,
            "description": f"{recipient.kind.replace('_', ' ')} receiving data from {policy.service.name}"
            + (" only when required by law" if recipient.when == "required_by_law" else ""),
            "system_type": "Third party",
            "privacy_declarations": [
                {
                    "name": f"{policy.purposes[p].title}: data from {policy.service.name}",
                    "data_categories": mapper.categories(recipient.receives),
                    "data_use": mapper.use(p),
                    "data_subjects": ["customer"],
                }
                for p in recipient.purposes
            ],
        }
        for name, recipient in policy.recipients.items()
    ]
    dataset = _dataset(policy, plan, mapper, dataset_key)
    system["meta"] = {
        "aether_policy_digest": plan.digest,
        "aether_policy_version": str(policy.version),
        "aether_unmapped": sorted(mapper.unmapped),
    }
    return {"system": [system, *recipients], "dataset": [dataset]}


def _dataset(policy: Policy, plan: Plan, mapper: _Mapper, key: str) -> dict[str, Any]:
    """The gateway's tables: each stored column with the data category it holds and the rule that bounds it."""
    from aether_policy.plan.usage import ALL_COLUMNS

    try:
        from aether_policy.store import tables
    except ImportError:  # the gateway's storage stack is an optional install
        raise PolicyError(
            "the fideslang dataset describes the gateway's tables, which needs SQLAlchemy: "
            "pip install 'aether-policy[gateway]'"
        ) from None

    retention: dict[str, str] = {}

    def field(name: str, ref: str | None, category: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {"name": name}
        key_ = category or (mapper.category(ref) if ref else None)
        if key_:
            found["data_categories"] = [key_]
        return found

    def bound(collection: str, ref: str) -> None:
        rule = retention_of(policy, ref) if ref.partition(".")[0] in policy.categories else None
        if rule is not None:
            retention[collection] = f"{rule.sentence()} ({rule.path})"

    account_category = plan.bindings.categories["accounts"]
    account_fields = policy.categories[account_category].fields if account_category in policy.categories else {}
    name_ref = f"{account_category}.name" if "name" in account_fields else account_category
    collections = [
        {
            "name": str(tables.accounts.name),
            "fields": [
                field("id", None, "user.unique_id"),
                field("name", name_ref),
                field("created_at", account_category),
                field("marked_at", account_category),
                field("mark_reason", account_category),
                field("deleted_at", account_category),
            ],
        },
        {
            "name": str(tables.api_keys.name),
            "fields": [
                field("id", account_category),
                field("account_id", None, "user.unique_id"),
                field("key_hash", None, CREDENTIAL),
                field("prefix", None, CREDENTIAL),
                field("created_at", account_category),
                field("revoked_at", account_category),
            ],
        },
        {
            "name": str(tables.usage_events.name),
            "fields": [field("id", None, "system.operations")]
            + [field(c, plan.usage.allowed_by[c]) for c in ALL_COLUMNS if c in plan.usage.allowed_by],
        },
    ]
    bound(str(tables.accounts.name), account_category)
    bound(str(tables.api_keys.name), account_category)
    usage_rules = [retention_of(policy, ref) for ref in plan.usage.allowed_by.values()]
    longest = max((r for r in usage_rules if r is not None), key=lambda r: r.seconds, default=None)
    if longest is not None:
        retention[str(tables.usage_events.name)] = (
            f"{longest.sentence()} ({longest.path}); shorter-kept columns erased sooner"
        )
    if plan.content_category is not None:
        content = plan.content_category
        collections.append(
            {
                "name": str(tables.quarantine.name),
                "description": "Flagged content only, sealed with AES-256-GCM; nothing else is ever stored",
                "fields": [
                    field("id", None, "system.operations"),
                    field("account_id", None, "user.unique_id"),
                    field("trigger", None, "system.operations"),
                    field("reasons", None, "system.operations"),
                    field("created_at", None, "system.operations"),
                    field("expires_at", None, "system.operations"),
                    field("sealed", content),
                ],
            }
        )
        bound(str(tables.quarantine.name), content)
    return {
        "fides_key": key,
        "name": f"{policy.service.name} gateway database",
        "description": "What the bundled gateway stores, as aether-policy's retention jobs enforce it",
        "meta": {"retention": retention},
        "collections": collections,
    }
