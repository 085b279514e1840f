"""Which rules of a policy touch one piece of data: the answers an access request, an erasure and `explain` share.

A data reference is a category (`device`) or one of its fields (`device.ip_address`), as the policy writes them.
Every answer names the rule it comes from (`retention.usage_data`) and the page anchor that shows it, so a
person reading an export or an explanation can find the promise on the published page.

Retention is looked up exactly as the retention jobs look it up (the first rule, in policy order, naming the
category or the field), so the dates printed here are the dates the jobs delete on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aether_policy.durations import Duration
from aether_policy.model import Policy, Recipient, RetentionRule


def anchor(prefix: str, name: str) -> str:
    """The page's stable anchor for a rule: `#retention-usage-data` for `retention.usage_data`."""
    return f"#{prefix}-{name.replace('_', '-')}"


def split_ref(ref: str) -> tuple[str, str | None]:
    category, _, field = ref.partition(".")
    return category, field or None


def covers(refs: tuple[str, ...], category: str, field: str | None) -> bool:
    """Whether a list of references (a recipient's `receives`, a rule's `categories`) covers the data."""
    return category in refs or (field is not None and f"{category}.{field}" in refs)


@dataclass(frozen=True)
class Retention:
    """The retention rule that bounds some data, as the page prints it and the jobs apply it."""

    rule: str
    title: str
    keep_for: str
    after: str
    period: Duration

    @property
    def seconds(self) -> int:
        """For ordering rules only: months and years have no fixed length (dates come from `deletion_date`)."""
        return self.period.nominal_seconds

    @property
    def path(self) -> str:
        return f"retention.{self.rule}"

    @property
    def page(self) -> str:
        return anchor("retention", self.rule)

    def sentence(self) -> str:
        anchor_event = {"collection": "collection", "account_deletion": "account deletion", "flagging": "flagging"}
        return f"{self.keep_for} after {anchor_event.get(self.after, self.after)}"

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.path, "title": self.title, "keep_for": self.keep_for, "after": self.after}


@dataclass(frozen=True)
class Receiver:
    """A recipient that receives some data, with the references that make it so."""

    name: str
    title: str
    kind: str
    when: str
    receives: tuple[str, ...]
    hosts: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"recipients.{self.name}"

    @property
    def page(self) -> str:
        return anchor("recipient", self.name)

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "recipient": self.path,
            "title": self.title,
            "kind": self.kind,
            "when": self.when,
            "receives": list(self.receives),
        }
        if self.hosts:
            found["hosts"] = list(self.hosts)
        return found


def retention_of(policy: Policy, ref: str) -> Retention | None:
    """The first rule in policy order that names the category or the field: the one the jobs apply."""
    category, field = split_ref(ref)
    for name, rule in policy.retention.items():
        if covers(rule.categories, category, field):
            return _retention(name, rule)
    return None


def _retention(name: str, rule: RetentionRule) -> Retention:
    return Retention(name, rule.title, str(rule.keep_for), rule.after, rule.keep_for)


def receivers_of(policy: Policy, ref: str) -> list[Receiver]:
    """Every recipient that receives the data; for a whole category, also those receiving one of its fields."""
    category, field = split_ref(ref)
    found = []
    for name, recipient in policy.recipients.items():
        if field is None:
            matched = tuple(r for r in recipient.receives if split_ref(r)[0] == category)
        else:
            matched = tuple(r for r in recipient.receives if r in (category, f"{category}.{field}"))
        if matched:
            found.append(_receiver(name, recipient, matched))
    return found


def _receiver(name: str, recipient: Recipient, matched: tuple[str, ...]) -> Receiver:
    hosts = recipient.provider.hosts if recipient.provider is not None else ()
    return Receiver(name, recipient.title, recipient.kind, recipient.when, matched, hosts)


def deletion_date(retention: Retention | None, anchor_time: datetime | None) -> datetime | None:
    """When the jobs delete data anchored at `anchor_time` (None: the anchoring event has not happened)."""
    if retention is None or anchor_time is None:
        return None
    return retention.period.after(anchor_time)  # calendar arithmetic for months and years, as the jobs do
