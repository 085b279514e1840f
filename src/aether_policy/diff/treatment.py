"""The effective treatment of each piece of data, whichever rule states it.

A policy says the same thing in many shapes: a field is kept for as long as *any* retention rule naming it or its
category says, a recipient receives a field whether it lists the field or its category. The diff compares what
these shapes amount to, so moving a field between rules or between `account` and `account.email` is judged by
its effect, not by which list it sits in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aether_policy.durations import Duration
from aether_policy.model import Policy

STORAGE_EXPOSURE = {"hash": 0, "derived": 1, "plain": 2}
"""How much of a value is readable once stored: a one-way hash, parts derived from it, or the value itself."""

WHEN_EXPOSURE = {"required_by_law": 0, "always": 1}
ACCEPTANCE_STRENGTH = {"continued_use": 0, "explicit": 1}


@dataclass(frozen=True)
class Period:
    """One retention rule as it bears on one field."""

    rule: str
    keep_for: Duration
    after: str

    @property
    def key(self) -> tuple[str, int]:
        """What the period means, without the rule's name: renaming a rule changes nothing."""
        return (self.after, self.keep_for.nominal_seconds)

    def __str__(self) -> str:
        return f"{self.keep_for} after {self.after.replace('_', ' ')}"


def data_fields(policy: Policy) -> Iterator[str]:
    """Every collected field as `category.field`, in document order."""
    for cname, category in policy.categories.items():
        for fname in category.fields:
            yield f"{cname}.{fname}"


def expand(policy: Policy, refs: Iterable[str]) -> frozenset[str]:
    """Data references (`account`, `account.email`) as the set of fields they name."""
    fields: set[str] = set()
    for ref in refs:
        cname, _, fname = ref.partition(".")
        category = policy.categories.get(cname)
        if category is None:
            continue
        fields.update([f"{cname}.{fname}"] if fname else (f"{cname}.{f}" for f in category.fields))
    return frozenset(fields)


def periods(policy: Policy, ref: str) -> tuple[Period, ...]:
    """Every rule that covers the field `category.field`, in policy order.

    The retention jobs apply the first one; the page promises all of them, so both the first and the longest
    per anchor matter.
    """
    cname = ref.partition(".")[0]
    return tuple(
        Period(name, rule.keep_for, rule.after)
        for name, rule in policy.retention.items()
        if cname in rule.categories or ref in rule.categories
    )


def kept_longer(before: tuple[Period, ...], after: tuple[Period, ...]) -> bool:
    """Whether `after` keeps the data longer than `before` could, by the rule applied or by any promised rule.

    Periods counted from different events cannot be compared, so a period counted from an event no earlier
    rule used is longer: data kept "90 days after account deletion" instead of "after collection" may be kept
    for years.
    """
    if not before:
        return bool(after)
    if not after:
        return False
    applied_before, applied_after = before[0].key, after[0].key
    if applied_after[0] != applied_before[0] or applied_after[1] > applied_before[1]:
        return True
    longest: dict[str, int] = {}
    for period in before:
        longest[period.after] = max(longest.get(period.after, 0), period.keep_for.nominal_seconds)
    return any(p.after not in longest or p.keep_for.nominal_seconds > longest[p.after] for p in after)


def describe_periods(found: tuple[Period, ...]) -> str:
    """The period the jobs apply, then any other a rule promises."""
    texts = list(dict.fromkeys(str(p) for p in found))
    if not texts:
        return "no period"
    return texts[0] + (f" (also covered by {', '.join(texts[1:])})" if len(texts) > 1 else "")


def describe_fields(policy: Policy, fields: Iterable[str]) -> str:
    """Fields for a reader: a whole category by its title, some of its fields by theirs."""
    by_category: dict[str, list[str]] = {}
    for ref in sorted(fields):
        cname, _, fname = ref.partition(".")
        by_category.setdefault(cname, []).append(fname)
    parts = []
    for cname, fnames in by_category.items():
        category = policy.categories.get(cname)
        if category is None:
            parts.append(", ".join(f"{cname}.{f}" for f in fnames))
        elif set(fnames) == set(category.fields):
            parts.append(category.title)
        else:
            titles = [category.fields[f].title if f in category.fields else f for f in fnames]
            parts.append(f"{category.title} ({', '.join(titles)})")
    return "; ".join(parts)
