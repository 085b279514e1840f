"""The runtime plan compiled from a policy: usage schema, prompt gate, egress guard, cookies, retention."""

from typing import Any

from aether_policy.plan.compiled import Plan, RetentionSpec, compile_policy
from aether_policy.plan.egress import ProviderEgress
from aether_policy.plan.gate import NOT_FLAGGED, PromptGate, QuarantineRecord, Verdict
from aether_policy.plan.usage import UsageSchema


def __getattr__(name: str) -> Any:
    # The transport needs httpx, part of the gateway extra: imported only when asked for, so that compiling a
    # plan (as `check` does) works without the gateway stack.
    if name == "GuardedTransport":
        from aether_policy.plan.transport import GuardedTransport

        return GuardedTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
