"""The runtime plan compiled from a policy: usage schema, prompt gate, egress guard, cookies, retention."""

from aether_policy.plan.compiled import Plan, RetentionSpec, compile_policy
from aether_policy.plan.egress import GuardedTransport, ProviderEgress
from aether_policy.plan.gate import NOT_FLAGGED, PromptGate, QuarantineRecord, Verdict
from aether_policy.plan.usage import UsageSchema

__all__ = [
    "NOT_FLAGGED",
    "GuardedTransport",
    "Plan",
    "PromptGate",
    "ProviderEgress",
    "QuarantineRecord",
    "RetentionSpec",
    "UsageSchema",
    "Verdict",
    "compile_policy",
]
