"""What is collected, how it is stored and how long it is kept, compared field by field."""

from __future__ import annotations

from collections.abc import Iterator

from aether_policy.diff.change import Change, Path, membership, rule_family, words
from aether_policy.diff.treatment import (
    STORAGE_EXPOSURE,
    data_fields,
    describe_fields,
    describe_periods,
    kept_longer,
    periods,
)
from aether_policy.model import Category, DataField, Policy, RetentionRule


def categories(old: Policy, new: Policy) -> Iterator[Change]:
    yield from rule_family(
        "categories",
        old.categories,
        new.categories,
        lambda n: f"new data category '{new.categories[n].title}'",
        lambda n: f"data category '{old.categories[n].title}' no longer collected",
        _category,
    )
    for name in sorted(set(old.security.encryption_at_rest) - set(new.security.encryption_at_rest)):
        if name in new.categories:
            title = new.categories[name].title
            yield Change(("security", "encryption_at_rest"), f"{title} no longer encrypted at rest", True)


def _category(name: str, before: Category, after: Category) -> Iterator[Change]:
    here: Path = ("categories", name)
    if before.title != after.title:
        yield Change((*here, "title"), f"category '{before.title}' now titled '{after.title}'", False, "prose")
    yield from membership(
        before.fields,
        after.fields,
        lambda f: (*here, "fields", f),
        lambda f: f"{after.title}: now collects {after.fields[f].title}",
        lambda f: f"{after.title}: no longer collects {before.fields[f].title}",
    )
    for fname in (f for f in after.fields if f in before.fields):
        yield from _field((*here, "fields", fname), after.title, before.fields[fname], after.fields[fname])
    yield from membership(
        sorted(before.purposes),
        sorted(after.purposes),
        lambda p: (*here, "purposes"),
        lambda p: f"{after.title}: now also used for {words(p)}",
        lambda p: f"{after.title}: no longer used for {words(p)}",
    )
    yield from membership(
        sorted(before.processed_by),
        sorted(after.processed_by),
        lambda r: (*here, "processed_by"),
        lambda r: f"{after.title}: now processed by {r}",
        lambda r: f"{after.title}: no longer processed by {r}",
    )
    if before.source != after.source:
        yield Change(
            (*here, "source"),
            f"{after.title}: now {'collected automatically' if after.source == 'automatic' else 'provided by you'}",
            after.source == "automatic",
        )
    if before.group != after.group:
        yield Change((*here, "group"), f"{after.title}: now listed under {after.group} data", False)
    if before.notice != after.notice:
        yield Change((*here, "notice"), f"{after.title}: notice text changed", False, "prose")


def _field(here: Path, category: str, before: DataField, after: DataField) -> Iterator[Change]:
    label = f"{category}: {after.title}"
    if before.title != after.title:
        yield Change((*here, "title"), f"{category}: '{before.title}' now titled '{after.title}'", False, "prose")
    if before.stored_as != after.stored_as:
        wider = STORAGE_EXPOSURE[after.stored_as] > STORAGE_EXPOSURE[before.stored_as]
        yield Change((*here, "stored_as"), f"{label} stored as {before.stored_as} → {after.stored_as}", wider)
    if before.derived_from != after.derived_from and before.derived_from and after.derived_from:
        yield Change(
            (*here, "derived_from"), f"{label} now derived from {after.derived_from} ({before.derived_from})", True
        )
    yield from membership(
        sorted(before.keep),
        sorted(after.keep),
        lambda k: (*here, "keep"),
        lambda k: f"{label}: now keeps {words(k)}",
        lambda k: f"{label}: no longer keeps {words(k)}",
    )


def retention(old: Policy, new: Policy) -> Iterator[Change]:
    """Rule by rule for what a rule itself says; data by data for what moved between rules."""
    yield from rule_family(
        "retention",
        old.retention,
        new.retention,
        lambda n: (
            f"new retention rule '{new.retention[n].title}': {new.retention[n].keep_for} after "
            f"{words(new.retention[n].after)}"
        ),
        lambda n: f"retention rule '{old.retention[n].title}' removed",
        _rule,
        adding_is_material=False,  # what it means for each piece of data is judged below
    )
    yield from _effective_retention(old, new)


def _rule(name: str, before: RetentionRule, after: RetentionRule) -> Iterator[Change]:
    here: Path = ("retention", name)
    if before.title != after.title:
        yield Change((*here, "title"), f"retention rule '{before.title}' now titled '{after.title}'", False, "prose")
    if before.summary != after.summary:
        yield Change((*here, "summary"), f"{after.title}: the page's sentence reworded", False, "prose")
    if before.keep_for != after.keep_for:
        longer = after.keep_for.nominal_seconds > before.keep_for.nominal_seconds
        shorter = after.keep_for.nominal_seconds < before.keep_for.nominal_seconds
        verb = "kept longer" if longer else "kept shorter" if shorter else "kept as long (reworded)"
        yield Change(
            (*here, "keep_for"),
            f"{after.title} {verb}: {before.keep_for} → {after.keep_for} after {words(after.after)}",
            longer,
        )
    if before.after != after.after:
        yield Change((*here, "after"), f"{after.title}: now counted from {words(after.after)}", True)
    yield from membership(
        before.categories,
        after.categories,
        lambda r: (*here, "categories", *([after.categories.index(r)] if r in after.categories else [])),
        lambda r: f"{after.title} now also covers {r}",
        lambda r: f"{after.title} no longer covers {r}",
        adding_is_material=False,  # judged by its effect below
    )


def _effective_retention(old: Policy, new: Policy) -> Iterator[Change]:
    """Data whose covering rules changed: kept longer, or by other rules, is judged by the periods that apply.

    A rule's own period changing is reported above, once for the rule; here only data that moved.
    """
    moved: dict[tuple[str, str, str], list[str]] = {}
    where: dict[tuple[str, str, str], Path] = {}
    material: dict[tuple[str, str, str], bool] = {}
    old_fields = set(data_fields(old))
    for ref in data_fields(new):
        if ref not in old_fields:
            continue  # a new field is reported as such
        before, after = periods(old, ref), periods(new, ref)
        if [p.rule for p in before] == [p.rule for p in after]:
            continue
        if [p.key for p in before] == [p.key for p in after]:
            continue  # the same periods under other rule names
        key = (ref.partition(".")[0], describe_periods(before), describe_periods(after))
        moved.setdefault(key, []).append(ref)
        material[key] = material.get(key, False) or kept_longer(before, after)
        rule = max(after, key=lambda p: p.keep_for.nominal_seconds).rule if after else None
        where.setdefault(key, _rule_ref_path(new, rule, ref) if rule else ("categories", key[0]))
    for key, refs in moved.items():
        _, before_text, after_text = key
        verb = "kept longer" if material[key] else "retention changed"
        yield Change(where[key], f"{describe_fields(new, refs)} {verb}: {before_text} → {after_text}", material[key])


def _rule_ref_path(policy: Policy, rule: str, ref: str) -> Path:
    names = policy.retention[rule].categories
    index = names.index(ref) if ref in names else names.index(ref.partition(".")[0])
    return ("retention", rule, "categories", index)
