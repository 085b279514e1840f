"""The usage-event schema: exactly the columns the policy's collection rules allow, nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aether_policy.model import Policy

# The columns a usage event can carry, keyed by the policy field that allows them. A policy field that
# is declared but has no column here (call_count, login_times) is collected elsewhere or derived.
FIELD_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "account_id": ("account_id",),
    "endpoint": ("endpoint", "method"),
    "timestamp": ("timestamp",),
    "response_code": ("response_code",),
    "model": ("model",),
    "response_time": ("latency_ms",),
    "error_class": ("error_class",),
    "ip_address": ("ip_address",),
    "token_count": ("input_tokens", "output_tokens"),  # as the provider reports them
}
BROWSER_PARTS: Mapping[str, str] = {"family": "browser_family", "major_version": "browser_major_version"}
ALL_COLUMNS: tuple[str, ...] = (
    *(c for columns in FIELD_COLUMNS.values() for c in columns),
    *BROWSER_PARTS.values(),
)


@dataclass(frozen=True, slots=True)
class UsageSchema:
    """Which usage-event columns may be recorded, and which policy field allows each."""

    columns: frozenset[str]
    allowed_by: Mapping[str, str]

    def select(self, offered: Mapping[str, Any]) -> dict[str, Any]:
        """Keep only allowed columns; whatever else the recorder is offered is dropped here."""
        return {key: value for key, value in offered.items() if key in self.columns}


def compile_usage_schema(policy: Policy) -> UsageSchema:
    allowed_by: dict[str, str] = {}
    for cname, category in policy.categories.items():
        if category.source != "automatic" or category.storage is not None:
            continue  # request content never becomes a usage column
        for fname, field in category.fields.items():
            if fname in FIELD_COLUMNS and field.stored_as == "plain":
                for column in FIELD_COLUMNS[fname]:
                    allowed_by[column] = f"{cname}.{fname}"
            if field.derived_from == "user_agent":
                for part in field.keep:
                    if part in BROWSER_PARTS:
                        allowed_by[BROWSER_PARTS[part]] = f"{cname}.{fname}"
    return UsageSchema(frozenset(allowed_by), allowed_by)
