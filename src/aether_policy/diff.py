"""A semantic diff of two policies: what a reader of the page, or a regulator, would call a change.

Material changes are those that let us collect, share or keep more: a new category, field, recipient or
shared data, a longer retention period, a new reason to keep prompt content, a new cookie, a lower minimum age.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aether_policy.model import Policy

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Change:
    path: Path
    description: str
    material: bool

    def as_dict(self) -> dict[str, Any]:
        return {"path": ".".join(str(p) for p in self.path), "description": self.description, "material": self.material}


def _keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    both = [k for k in new if k in old]
    return added, removed, both


def semantic_diff(old: Policy, new: Policy) -> list[Change]:
    return [
        *_categories(old, new),
        *_recipients(old, new),
        *_retention(old, new),
        *_purposes(old, new),
        *_cookies(old, new),
        *_other_rules(old, new),
        *_prose(old, new),
    ]


def _categories(old: Policy, new: Policy) -> Iterator[Change]:
    added, removed, both = _keys(old.categories, new.categories)
    for name in added:
        yield Change(("categories", name), f"new data category '{new.categories[name].title}'", True)
    for name in removed:
        yield Change(("categories", name), f"data category '{old.categories[name].title}' no longer collected", False)
    for name in both:
        before, after = old.categories[name], new.categories[name]
        f_added, f_removed, _ = _keys(before.fields, after.fields)
        for field in f_added:
            yield Change(
                ("categories", name, "fields", field), f"{after.title}: now collects {after.fields[field].title}", True
            )
        for field in f_removed:
            yield Change(
                ("categories", name, "fields", field),
                f"{after.title}: no longer collects {before.fields[field].title}",
                False,
            )
        if set(after.purposes) - set(before.purposes):
            extra = ", ".join(sorted(set(after.purposes) - set(before.purposes)))
            yield Change(("categories", name, "purposes"), f"{after.title}: also used for {extra}", True)
        old_triggers = {e.when for e in before.storage.exceptions} if before.storage else set()
        new_triggers = {e.when for e in after.storage.exceptions} if after.storage else set()
        for trigger in sorted(new_triggers - old_triggers):
            yield Change(
                ("categories", name, "storage"), f"{after.title}: now kept when {trigger.replace('_', ' ')}", True
            )
        for trigger in sorted(old_triggers - new_triggers):
            yield Change(
                ("categories", name, "storage"),
                f"{after.title}: no longer kept when {trigger.replace('_', ' ')}",
                False,
            )


def _recipients(old: Policy, new: Policy) -> Iterator[Change]:
    added, removed, both = _keys(old.recipients, new.recipients)
    for name in added:
        yield Change(("recipients", name), f"new recipient '{new.recipients[name].title}'", True)
    for name in removed:
        yield Change(("recipients", name), f"recipient '{old.recipients[name].title}' removed", False)
    for name in both:
        before, after = old.recipients[name], new.recipients[name]
        for ref in sorted(set(after.receives) - set(before.receives)):
            yield Change(("recipients", name, "receives"), f"{after.title} now receives {ref}", True)
        for ref in sorted(set(before.receives) - set(after.receives)):
            yield Change(("recipients", name, "receives"), f"{after.title} no longer receives {ref}", False)
        if before.provider and after.provider and set(after.provider.hosts) - set(before.provider.hosts):
            hosts = ", ".join(sorted(set(after.provider.hosts) - set(before.provider.hosts)))
            yield Change(("recipients", name, "provider", "hosts"), f"{after.title}: new hosts {hosts}", True)


def _retention(old: Policy, new: Policy) -> Iterator[Change]:
    added, removed, both = _keys(old.retention, new.retention)
    for name in added:
        rule = new.retention[name]
        yield Change(
            ("retention", name), f"new retention rule '{rule.title}': {rule.keep_for} after {rule.after}", False
        )
    for name in removed:
        yield Change(("retention", name), f"retention rule '{old.retention[name].title}' removed", True)
    for name in both:
        before, after = old.retention[name], new.retention[name]
        if before.keep_for != after.keep_for:
            longer = after.keep_for.seconds > before.keep_for.seconds
            verb = "longer" if longer else "shorter"
            yield Change(
                ("retention", name, "keep_for"),
                f"{after.title} kept {verb}: {before.keep_for} → {after.keep_for} after {after.after}",
                longer,
            )
        if before.after != after.after:
            yield Change(("retention", name, "after"), f"{after.title}: now counted from {after.after}", True)
        if set(after.categories) - set(before.categories):
            cats = ", ".join(sorted(set(after.categories) - set(before.categories)))
            yield Change(("retention", name, "categories"), f"{after.title} now also covers {cats}", False)


def _purposes(old: Policy, new: Policy) -> Iterator[Change]:
    added, removed, _ = _keys(old.purposes, new.purposes)
    for name in added:
        yield Change(("purposes", name), f"new purpose '{new.purposes[name].title}'", True)
    for name in removed:
        yield Change(("purposes", name), f"purpose '{old.purposes[name].title}' removed", False)


def _cookies(old: Policy, new: Policy) -> Iterator[Change]:
    added, removed, both = _keys(old.cookies, new.cookies)
    for name in added:
        yield Change(("cookies", name), f"new cookie '{name}'", True)
    for name in removed:
        yield Change(("cookies", name), f"cookie '{name}' removed", False)
    for name in both:
        before, after = old.cookies[name].max_age, new.cookies[name].max_age
        if before != after:
            longer = after is not None and (before is None or after.seconds > before.seconds)
            yield Change(
                ("cookies", name, "max_age"),
                f"cookie '{name}' lifetime {before or 'session'} → {after or 'session'}",
                longer,
            )


def _other_rules(old: Policy, new: Policy) -> Iterator[Change]:
    if old.children.minimum_age != new.children.minimum_age:
        lower = new.children.minimum_age < old.children.minimum_age
        yield Change(
            ("children", "minimum_age"), f"minimum age {old.children.minimum_age} → {new.children.minimum_age}", lower
        )
    if old.service != new.service:
        yield Change(("service",), "service details changed", False)
    if old.security != new.security:
        removed = set(old.security.measures) - set(new.security.measures)
        yield Change(
            ("security",),
            "security measures changed" + (f" (removed: {', '.join(sorted(removed))})" if removed else ""),
            bool(removed),
        )
    if old.changes.notify_by != new.changes.notify_by or old.changes.acceptance != new.changes.acceptance:
        yield Change(("changes",), "how changes are announced changed", False)


def _prose(old: Policy, new: Policy) -> Iterator[Change]:
    for name in type(new.sections).model_fields:
        if getattr(old.sections, name) != getattr(new.sections, name):
            yield Change(("sections", name), f"text of '{getattr(new.sections, name).title}' changed", False)


def rules_changed(old: Policy, new: Policy) -> bool:
    """Anything but the date and the change log itself changed."""
    strip: dict[str, Any] = {"last_updated": True, "changes": {"log": True}}
    return old.model_dump(exclude=strip) != new.model_dump(exclude=strip)
