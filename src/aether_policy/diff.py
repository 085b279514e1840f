"""A semantic diff of two policies: what a reader of the page, or a regulator, would call a change.

Material changes are those that let us collect, share or keep more: a new category, field, recipient or
shared data, a longer retention period, a new reason to keep prompt content, a new cookie, a lower minimum age.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aether_policy.model import Category, Policy, Recipient

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Change:
    path: Path
    description: str
    material: bool

    def as_dict(self) -> dict[str, Any]:
        return {"path": ".".join(str(p) for p in self.path), "description": self.description, "material": self.material}


def _membership(
    before: Iterable[str],
    after: Iterable[str],
    where: Callable[[str], Path],
    added: Callable[[str], str],
    removed: Callable[[str], str],
    *,
    adding_is_material: bool = True,
) -> Iterator[Change]:
    """Changes for items that joined or left a collection (dict keys keep their order, the rest sorted)."""
    before_list, after_list = list(before), list(after)
    before_set, after_set = set(before_list), set(after_list)
    for item in after_list:
        if item not in before_set:
            yield Change(where(item), added(item), adding_is_material)
    for item in before_list:
        if item not in after_set:
            yield Change(where(item), removed(item), not adding_is_material)


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
    yield from _membership(
        old.categories,
        new.categories,
        lambda n: ("categories", n),
        lambda n: f"new data category '{new.categories[n].title}'",
        lambda n: f"data category '{old.categories[n].title}' no longer collected",
    )
    for name in (n for n in new.categories if n in old.categories):
        yield from _category(name, old.categories[name], new.categories[name])


def _category(name: str, before: Category, after: Category) -> Iterator[Change]:
    yield from _membership(
        before.fields,
        after.fields,
        lambda f: ("categories", name, "fields", f),
        lambda f: f"{after.title}: now collects {after.fields[f].title}",
        lambda f: f"{after.title}: no longer collects {before.fields[f].title}",
    )
    if set(after.purposes) - set(before.purposes):
        extra = ", ".join(sorted(set(after.purposes) - set(before.purposes)))
        yield Change(("categories", name, "purposes"), f"{after.title}: also used for {extra}", True)
    yield from _membership(
        sorted(e.when for e in before.storage.exceptions) if before.storage else [],
        sorted(e.when for e in after.storage.exceptions) if after.storage else [],
        lambda t: ("categories", name, "storage"),
        lambda t: f"{after.title}: now kept when {t.replace('_', ' ')}",
        lambda t: f"{after.title}: no longer kept when {t.replace('_', ' ')}",
    )


def _recipients(old: Policy, new: Policy) -> Iterator[Change]:
    yield from _membership(
        old.recipients,
        new.recipients,
        lambda n: ("recipients", n),
        lambda n: f"new recipient '{new.recipients[n].title}'",
        lambda n: f"recipient '{old.recipients[n].title}' removed",
    )
    for name in (n for n in new.recipients if n in old.recipients):
        yield from _recipient(name, old.recipients[name], new.recipients[name])


def _recipient(name: str, before: Recipient, after: Recipient) -> Iterator[Change]:
    yield from _membership(
        sorted(before.receives),
        sorted(after.receives),
        lambda r: ("recipients", name, "receives"),
        lambda r: f"{after.title} now receives {r}",
        lambda r: f"{after.title} no longer receives {r}",
    )
    if before.provider and after.provider and set(after.provider.hosts) - set(before.provider.hosts):
        hosts = ", ".join(sorted(set(after.provider.hosts) - set(before.provider.hosts)))
        yield Change(("recipients", name, "provider", "hosts"), f"{after.title}: new hosts {hosts}", True)


def _retention(old: Policy, new: Policy) -> Iterator[Change]:
    yield from _membership(
        old.retention,
        new.retention,
        lambda n: ("retention", n),
        lambda n: (
            f"new retention rule '{new.retention[n].title}': {new.retention[n].keep_for} after {new.retention[n].after}"
        ),
        lambda n: f"retention rule '{old.retention[n].title}' removed",
        adding_is_material=False,
    )
    both = [n for n in new.retention if n in old.retention]
    for name in both:
        before, after = old.retention[name], new.retention[name]
        if before.keep_for != after.keep_for:
            longer = after.keep_for > before.keep_for
            # Months and years compare by their mean length; "1 year" and "12 months" are the same period reworded.
            verb = "longer" if longer else "shorter" if after.keep_for < before.keep_for else "as long (reworded)"
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
    yield from _membership(
        old.purposes,
        new.purposes,
        lambda n: ("purposes", n),
        lambda n: f"new purpose '{new.purposes[n].title}'",
        lambda n: f"purpose '{old.purposes[n].title}' removed",
    )


def _cookies(old: Policy, new: Policy) -> Iterator[Change]:
    yield from _membership(
        old.cookies,
        new.cookies,
        lambda n: ("cookies", n),
        lambda n: f"new cookie '{n}'",
        lambda n: f"cookie '{n}' removed",
    )
    for name in (n for n in new.cookies if n in old.cookies):
        before, after = old.cookies[name].max_age, new.cookies[name].max_age
        if before != after:
            longer = after is not None and (before is None or after > before)
            description = f"cookie '{name}' lifetime {before or 'session'} → {after or 'session'}"
            yield Change(("cookies", name, "max_age"), description, longer)


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
