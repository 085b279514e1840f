"""The usage-event schema: exactly the columns the policy's collection rules allow, nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aether_policy.bindings import BROWSER_PARTS, BROWSER_SLOT, USAGE_SLOTS, Bound, bind
from aether_policy.model import Policy

__all__ = ["ALL_COLUMNS", "BROWSER_PARTS", "FIELD_COLUMNS", "UsageSchema", "compile_usage_schema"]

# The columns a usage event can carry, by the runtime's slot that fills them (`aether_policy.bindings`); the
# policy binds each slot to one of its fields. A field bound to no slot (call_count) is derived or kept elsewhere.
FIELD_COLUMNS: Mapping[str, tuple[str, ...]] = {s: c for s, c in USAGE_SLOTS.items() if s != BROWSER_SLOT}
ALL_COLUMNS: tuple[str, ...] = tuple(c for columns in USAGE_SLOTS.values() for c in columns)


@dataclass(frozen=True, slots=True)
class UsageSchema:
    """Which usage-event columns may be recorded, and which policy field allows each."""

    columns: frozenset[str]
    allowed_by: Mapping[str, str]

    def select(self, offered: Mapping[str, Any]) -> dict[str, Any]:
        """Keep only allowed columns; whatever else the recorder is offered is dropped here."""
        return {key: value for key, value in offered.items() if key in self.columns}


def compile_usage_schema(policy: Policy, bound: Bound | None = None) -> UsageSchema:
    """The columns the policy's bound usage fields allow, each with the field that allows it."""
    allowed_by = dict((bound or bind(policy)).columns)
    return UsageSchema(frozenset(allowed_by), allowed_by)
