"""Purposes, prompt-content storage, cookies and the policy-wide rules, compared by what they allow."""

from __future__ import annotations

from collections.abc import Iterator

from aether_policy.bindings import CATEGORY_SLOTS, USAGE_SLOTS, bind
from aether_policy.diff.change import Change, Kind, Path, membership, rule_family, words
from aether_policy.diff.treatment import ACCEPTANCE_STRENGTH
from aether_policy.model import ContentStorage, Cookie, Policy, Purpose, StorageException


def purposes(old: Policy, new: Policy) -> Iterator[Change]:
    yield from rule_family(
        "purposes",
        old.purposes,
        new.purposes,
        lambda n: f"new purpose '{new.purposes[n].title}'",
        lambda n: f"purpose '{old.purposes[n].title}' removed",
        _purpose,
    )


def _purpose(name: str, before: Purpose, after: Purpose) -> Iterator[Change]:
    here: Path = ("purposes", name)
    yield from membership(
        before.activities,
        after.activities,
        lambda a: (*here, "activities"),
        lambda a: f"{after.title} now also covers: {a}",
        lambda a: f"{after.title} no longer covers: {a}",
    )
    if before.title != after.title:
        yield Change((*here, "title"), f"purpose '{before.title}' now titled '{after.title}'", False, "prose")


def content_storage(old: Policy, new: Policy) -> Iterator[Change]:
    """Every way prompt content can come to be stored: a wider trigger, detector, pattern or window is material.

    Whether one regular expression matches more than another cannot be decided in general, so any pattern that
    was not there before (a new one, or an edited one) is material; `'.'` keeps every prompt.
    """
    old_name, before = _content(old)
    new_name, after = _content(new)
    if new_name is None or after is None:
        if old_name is not None:
            yield Change(("categories",), "no category holds request content any more", False)
        return
    here: Path = ("categories", new_name, "storage")
    if old_name != new_name:
        yield Change(here, f"request content is now the '{new_name}' category (was {old_name})", True)
    old_exceptions = {e.when: e for e in before.exceptions} if before else {}
    new_exceptions = {e.when: (i, e) for i, e in enumerate(after.exceptions)}
    title = new.categories[new_name].title
    for when, (i, exception) in new_exceptions.items():
        at: Path = (*here, "exceptions", i)
        if when not in old_exceptions:
            rule = new.retention.get(exception.retention)
            period = f" for {rule.keep_for} after flagging" if rule else ""
            yield Change(at, f"{title}: now kept when {words(when)}{period}", True)
            continue
        yield from _exception(old, new, at, title, old_exceptions[when], exception)
    for when in old_exceptions:
        if when not in new_exceptions:
            yield Change(here, f"{title}: no longer kept when {words(when)}", False)


def _content(policy: Policy) -> tuple[str | None, ContentStorage | None]:
    for name, category in policy.categories.items():
        if category.storage is not None:
            return name, category.storage
    return None, None


def _exception(
    old: Policy, new: Policy, here: Path, title: str, before: StorageException, after: StorageException
) -> Iterator[Change]:
    label = f"{title} kept when {words(after.when)}"
    if before.retention != after.retention:
        window_before, window_after = old.retention[before.retention], new.retention[after.retention]
        longer = window_after.keep_for.nominal_seconds > window_before.keep_for.nominal_seconds
        yield Change(
            (*here, "retention"),
            f"{label}: kept {window_before.keep_for} → {window_after.keep_for} (rule '{after.retention}')",
            longer or window_after.after != window_before.after,
        )
    if before.purpose != after.purpose:
        yield Change((*here, "purpose"), f"{label}: now for {words(after.purpose)} ({words(before.purpose)})", True)
    if after.reviewed and not before.reviewed:
        yield Change((*here, "reviewed"), f"{label}: staff may now review it", True)
    elif before.reviewed and not after.reviewed:
        yield Change((*here, "reviewed"), f"{label}: no longer reviewed by staff", False)
    if before.title != after.title:
        yield Change((*here, "title"), f"{label}: named '{after.phrase}' on the page", False, "prose")
    yield from membership(
        sorted(before.detectors),
        sorted(after.detectors),
        lambda d: (*here, "detectors"),
        lambda d: f"{label}: new detector {words(d)}",
        lambda d: f"{label}: detector {words(d)} removed",
    )
    old_patterns = set(before.patterns.values())
    for name, pattern in after.patterns.items():
        if pattern in old_patterns:
            continue
        verb = "changed" if name in before.patterns else "new"
        yield Change((*here, "patterns", name), f"{label}: {verb} pattern '{name}': {pattern}", True)
    new_patterns = set(after.patterns.values())
    for name, pattern in before.patterns.items():
        if pattern not in new_patterns and name not in after.patterns:
            yield Change((*here, "patterns"), f"{label}: pattern '{name}' removed", False)


def cookies(old: Policy, new: Policy) -> Iterator[Change]:
    yield from rule_family(
        "cookies",
        old.cookies,
        new.cookies,
        lambda n: f"new {words(new.cookies[n].kind)} cookie '{n}'",
        lambda n: f"cookie '{n}' removed",
        _cookie,
    )


def _cookie(name: str, before: Cookie, after: Cookie) -> Iterator[Change]:
    here: Path = ("cookies", name)
    if before.kind != after.kind:
        # Kinds decide consent and retention: an analytics cookie called "session" escapes both.
        yield Change((*here, "kind"), f"cookie '{name}' reclassified: {before.kind} → {after.kind}", True)
    if before.purpose != after.purpose:
        yield Change(
            (*here, "purpose"), f"cookie '{name}' now for {words(after.purpose)} ({words(before.purpose)})", True
        )
    if before.max_age != after.max_age:
        longer = after.max_age is not None and (
            before.max_age is None or after.max_age.nominal_seconds > before.max_age.nominal_seconds
        )
        description = f"cookie '{name}' lifetime {before.max_age or 'session'} → {after.max_age or 'session'}"
        yield Change((*here, "max_age"), description, longer)


def other_rules(old: Policy, new: Policy) -> Iterator[Change]:
    if old.children.minimum_age != new.children.minimum_age:
        lower = new.children.minimum_age < old.children.minimum_age
        yield Change(
            ("children", "minimum_age"), f"minimum age {old.children.minimum_age} → {new.children.minimum_age}", lower
        )
    if old.changes.acceptance != new.changes.acceptance:
        weaker = ACCEPTANCE_STRENGTH[new.changes.acceptance] < ACCEPTANCE_STRENGTH[old.changes.acceptance]
        yield Change(
            ("changes", "acceptance"),
            f"changes accepted by {words(old.changes.acceptance)} → {words(new.changes.acceptance)}",
            weaker,
        )
    yield from membership(
        sorted(old.changes.notify_by),
        sorted(new.changes.notify_by),
        lambda c: ("changes", "notify_by"),
        lambda c: f"changes now also announced by {c}",
        lambda c: f"changes no longer announced by {c}: users may not learn of them",
        adding_is_material=False,
        removing_is_material=True,
    )
    removed = [m for m in old.security.measures if m not in new.security.measures]
    for name in removed:
        yield Change(("security", "measures"), f"security measure '{old.security.measures[name].title}' removed", True)
    for name in (m for m in new.security.measures if m not in old.security.measures):
        yield Change(
            ("security", "measures", name), f"new security measure '{new.security.measures[name].title}'", False
        )
    for name in (m for m in new.security.measures if m in old.security.measures):
        if old.security.measures[name] != new.security.measures[name]:
            here: Path = ("security", "measures", name)
            yield Change(here, f"security measure '{new.security.measures[name].title}' reworded", False, "prose")
    if old.service != new.service:
        changed = [k for k in type(new.service).model_fields if getattr(old.service, k) != getattr(new.service, k)]
        yield Change(("service",), f"service details changed: {', '.join(changed)}", False)
    if old.version != new.version:
        yield Change(("version",), f"version {old.version} → {new.version}", False)


def bindings(old: Policy, new: Policy) -> Iterator[Change]:
    """What the gateway records, filed under other names. Binding a slot to another field or category is
    material (the data it records is now kept and shared as that field is); a slot no longer recorded is not.
    Only an explicit `bindings` section can differ here: the defaults follow the categories, judged elsewhere."""
    if old.bindings == new.bindings:
        return
    before, after = bind(old), bind(new)
    for slot in USAGE_SLOTS:
        was, now = before.fields.get(slot), after.fields.get(slot)
        if was == now:
            continue
        if now is None:
            yield Change(("bindings",), f"the gateway no longer records its {slot} slot (was {was})", False)
        else:
            where = f"{was} → {now}" if was else f"now records it as {now}"
            yield Change(("bindings", "usage", slot), f"the gateway's {slot} slot: {where}", True)
    for slot in CATEGORY_SLOTS:
        was, now = before.categories[slot], after.categories[slot]
        if was != now:
            yield Change(("bindings", slot), f"the gateway's {slot} are now category '{now}' (was '{was}')", True)


def order(old: Policy, new: Policy) -> Iterator[Change]:
    """The same rules in another order: the page lists them so; for retention the first covering rule applies,
    which the retention comparison judges field by field."""
    for family in ("purposes", "categories", "recipients", "retention", "cookies"):
        before, after = list(getattr(old, family)), list(getattr(new, family))
        if set(before) == set(after) and before != after:
            kind: Kind = "rule" if family == "retention" else "prose"
            yield Change((family,), f"{family.replace('_', ' ')} listed in another order", False, kind)


def prose(old: Policy, new: Policy) -> Iterator[Change]:
    for name in type(new.sections).model_fields:
        if getattr(old.sections, name) != getattr(new.sections, name):
            yield Change(("sections", name), f"text of '{getattr(new.sections, name).title}' changed", False, "prose")
    extra_before, extra_after = old.sections.model_extra or {}, new.sections.model_extra or {}
    for name, section in extra_after.items():
        if name not in extra_before:
            yield Change(("sections", name), f"new section '{section.title}'", False, "prose")
        elif extra_before[name] != section:
            yield Change(("sections", name), f"text of '{section.title}' changed", False, "prose")
    for name, section in extra_before.items():
        if name not in extra_after:
            yield Change(("sections",), f"section '{section.title}' removed", False, "prose")
