"""`compile_policy(policy) -> Plan`: everything the runtime consults, computed once.

The middleware, the gateway and the retention jobs read the Plan, never the YAML, so each request pays
for dictionary look-ups and set membership, not for walking the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from aether_policy.bindings import Bound, bind
from aether_policy.digest import policy_digest
from aether_policy.durations import Duration
from aether_policy.model import Policy
from aether_policy.plan.egress import ProviderEgress, compile_egress
from aether_policy.plan.usage import UsageSchema, compile_usage_schema


@dataclass(frozen=True, slots=True)
class RetentionSpec:
    """One retention rule as the jobs need it."""

    name: str
    title: str
    categories: tuple[str, ...]
    keep_for: Duration
    after: str


@dataclass(frozen=True, slots=True)
class Plan:
    digest: str
    version: int
    last_updated: date
    service_name: str
    page_url: str
    usage: UsageSchema
    content_category: str | None
    storage_windows: Mapping[str, Duration]
    detectors: frozenset[str]
    patterns: Mapping[str, str]
    egress: Mapping[str, ProviderEgress]
    cookies: frozenset[str]
    retention: tuple[RetentionSpec, ...]
    # The longest each declared cookie may live (None: a session cookie); the middleware caps Set-Cookie to it.
    cookie_max_age: Mapping[str, Duration | None] = field(default_factory=dict)
    # The policy's names for what the runtime records (`aether_policy.bindings`).
    bindings: Bound = field(default_factory=lambda: Bound({}, {}, {}, None))
    # Each storage exception's trigger and the rule that keeps what it stores (several rules may keep content).
    storage_rules: Mapping[str, str] = field(default_factory=dict)

    def retention_for(self, category: str) -> RetentionSpec | None:
        """The rule that covers a category (or all its fields), if any."""
        for spec in self.retention:
            if category in spec.categories:
                return spec
        return None


def compile_policy(policy: Policy) -> Plan:
    bound = bind(policy)
    content_name = bound.content
    windows: dict[str, Duration] = {}
    rules: dict[str, str] = {}
    detectors: set[str] = set()
    patterns: dict[str, str] = {}
    if content_name is not None:
        storage = policy.categories[content_name].storage
        assert storage is not None  # found by the line above
        for exception in storage.exceptions:
            windows[exception.when] = policy.retention[exception.retention].keep_for
            rules[exception.when] = exception.retention
            detectors.update(exception.detectors)
            patterns.update(exception.patterns)
    return Plan(
        digest=policy_digest(policy),
        version=policy.version,
        last_updated=policy.last_updated,
        service_name=policy.service.name,
        page_url=policy.service.url.rstrip("/") + "/privacy/",
        usage=compile_usage_schema(policy, bound),
        content_category=content_name,
        storage_windows=windows,
        detectors=frozenset(detectors),
        patterns=patterns,
        egress=compile_egress(policy, bound),
        cookies=frozenset(policy.cookies),
        retention=tuple(
            RetentionSpec(name, rule.title, rule.categories, rule.keep_for, rule.after)
            for name, rule in policy.retention.items()
        ),
        cookie_max_age={name: cookie.max_age for name, cookie in policy.cookies.items()},
        bindings=bound,
        storage_rules=rules,
    )
