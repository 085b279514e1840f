"""Retention anchors: the events a retention period is counted from, declared once.

Each anchor says how the page names its event and which of the bundled gateway's tables can be expired from it.
Adding an anchor is one entry here: the schema accepts it, the page prints it, and the retention jobs refuse to
pretend to enforce it on data they cannot date from it (`check` warns that such a rule is enforced elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

from aether_policy._suggest import did_you_mean


@dataclass(frozen=True)
class Anchor:
    name: str
    event: str
    """The event mid-sentence: '30 days after {event}'."""
    description: str
    gateway_tables: frozenset[str] = frozenset()
    """Tables whose rows the bundled gateway's retention jobs can expire counted from this event."""
    sentence: str = "{keep_for} after {event}."

    def describe(self, keep_for: object) -> str:
        return self.sentence.format(keep_for=keep_for, event=self.event)


ANCHORS: dict[str, Anchor] = {
    anchor.name: anchor
    for anchor in (
        Anchor(
            "collection",
            "collection",
            "When the data was collected (a usage event's timestamp).",
            frozenset({"usage_events"}),
        ),
        Anchor(
            "account_deletion",
            "account deletion",
            "When the account is deleted: data is kept while the account exists.",
            frozenset({"accounts", "api_keys"}),
            sentence="Until {event} plus {keep_for}.",
        ),
        Anchor(
            "flagging",
            "flagging",
            "When request content was flagged for review (only for request content).",
            frozenset({"quarantine"}),
        ),
        Anchor(
            "last_activity",
            "your last activity",
            "The account's last sign-in or API call: data of an inactive account expires.",
        ),
        Anchor(
            "contract_end",
            "the end of your contract",
            "When the contract with the customer ends (for billing records kept for tax law, say).",
        ),
    )
}


def check_anchor(name: str) -> str:
    """Validator for `retention.*.after`: an anchor of the registry."""
    if name not in ANCHORS:
        raise ValueError(f"unknown retention anchor '{name}'; {did_you_mean(name, ANCHORS)}")
    return name


def enforced_for(anchor: str, table: str) -> bool:
    """Can the bundled gateway's retention jobs expire rows of `table` counted from `anchor`?"""
    return table in ANCHORS[anchor].gateway_tables


def enforced_by_gateway(anchor: str) -> bool:
    """Does the bundled gateway record this event at all?"""
    return bool(ANCHORS[anchor].gateway_tables)
