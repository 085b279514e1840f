"""Cross-reference checks: every name a rule uses is declared, and every promise is complete.

They run after the models validate, and return key paths so the loader can point at the YAML line.
When some entries do not validate, they still run over the valid rest (`partial_reference_problems`), so an
author sees schema and reference problems together; a finding that could only be caused by a broken entry
(a reference to a purpose whose own definition is invalid) is left out, since its cause is already reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from aether_policy._suggest import did_you_mean
from aether_policy.bindings import CATEGORY_SLOTS, binding_problems, holder_problems, period_problems
from aether_policy.legal import legal_problems
from aether_policy.model import Policy
from aether_policy.page_sections import order_problems

Path = tuple[str | int, ...]
Finding = tuple[Path, str]
Depends = tuple[tuple[str, str | None], ...]
"""What a finding relies on being complete: (top-level key, entry name), or (key, None) for all its entries."""
_Found = tuple[Path, str, Depends]


def cross_reference_problems(policy: Policy) -> list[Finding]:
    """All dangling references and incomplete promises, in document order."""
    return [(path, message) for family, _ in _FAMILIES for path, message, _ in family(policy)]


def partial_reference_problems(policy: Policy, present: set[str], broken: Mapping[str, set[str]]) -> list[Finding]:
    """Reference problems of a policy whose invalid parts were left out.

    `present` names the top-level keys that validated (a family of checks reading any other is skipped);
    `broken` names, per top-level key, the entries dropped because they did not validate.
    """
    found: list[Finding] = []
    for family, reads in _FAMILIES:
        if not reads <= present:
            continue
        for path, message, depends in family(policy):
            if any(key in broken and (name is None or name in broken[key]) for key, name in depends):
                continue
            found.append((path, message))
    return found


def _on(key: str, name: str | None) -> Depends:
    return ((key, name),)


def _on_data(ref: str) -> Depends:
    return _on("categories", ref.partition(".")[0])


def _unknown(kind: str, name: str, choices: Iterable[str]) -> str:
    return f"unknown {kind} '{name}'; {did_you_mean(name, choices)}"


def _purpose_references(policy: Policy) -> Iterator[_Found]:
    for cname, category in policy.categories.items():
        for i, purpose in enumerate(category.purposes):
            if purpose not in policy.purposes:
                yield (
                    ("categories", cname, "purposes", i),
                    _unknown("purpose", purpose, policy.purposes),
                    _on("purposes", purpose),
                )
        if category.storage:
            for i, exception in enumerate(category.storage.exceptions):
                if exception.purpose not in policy.purposes:
                    path: Path = ("categories", cname, "storage", "exceptions", i, "purpose")
                    yield (
                        path,
                        _unknown("purpose", exception.purpose, policy.purposes),
                        _on("purposes", exception.purpose),
                    )
    for rname, recipient in policy.recipients.items():
        for i, purpose in enumerate(recipient.purposes):
            if purpose not in policy.purposes:
                yield (
                    ("recipients", rname, "purposes", i),
                    _unknown("purpose", purpose, policy.purposes),
                    _on("purposes", purpose),
                )
    for name, cookie in policy.cookies.items():
        if cookie.purpose not in policy.purposes:
            yield (
                ("cookies", name, "purpose"),
                _unknown("purpose", cookie.purpose, policy.purposes),
                _on("purposes", cookie.purpose),
            )


def data_reference_problem(policy: Policy, ref: str) -> str | None:
    """Why `category` or `category.field` does not name collected data, or None when it does."""
    category_name, _, field_name = ref.partition(".")
    category = policy.categories.get(category_name)
    if category is None:
        return _unknown("category", category_name, policy.categories) + " (only collected data can be named)"
    if field_name and field_name not in category.fields:
        return _unknown(f"field of '{category_name}'", field_name, category.fields)
    return None


def _data_references(policy: Policy) -> Iterator[_Found]:
    for rname, recipient in policy.recipients.items():
        for i, ref in enumerate(recipient.receives):
            if problem := data_reference_problem(policy, ref):
                yield ("recipients", rname, "receives", i), problem, _on_data(ref)
    for rname, rule in policy.retention.items():
        for i, ref in enumerate(rule.categories):
            if problem := data_reference_problem(policy, ref):
                yield ("retention", rname, "categories", i), problem, _on_data(ref)
    for i, name in enumerate(policy.security.encryption_at_rest):
        if name not in policy.categories:
            yield (
                ("security", "encryption_at_rest", i),
                _unknown("category", name, policy.categories),
                _on("categories", name),
            )


def _recipient_references(policy: Policy) -> Iterator[_Found]:
    for cname, category in policy.categories.items():
        for i, name in enumerate(category.processed_by):
            if name not in policy.recipients:
                yield (
                    ("categories", cname, "processed_by", i),
                    _unknown("recipient", name, policy.recipients),
                    _on("recipients", name),
                )


def _content_storage(policy: Policy) -> Iterator[_Found]:
    content = [name for name, c in policy.categories.items() if c.storage is not None]
    for extra in content[1:]:
        yield (
            ("categories", extra, "storage"),
            (
                f"only one category may hold request content, and '{content[0]}' already does; "
                "merge the two or remove this `storage` block"
            ),
            (),
        )
    for cname in content[:1]:
        storage = policy.categories[cname].storage
        assert storage is not None  # narrowed by the list above
        for i, exception in enumerate(storage.exceptions):
            path: Path = ("categories", cname, "storage", "exceptions", i, "retention")
            rule = policy.retention.get(exception.retention)
            if rule is None:
                yield (
                    path,
                    _unknown("retention rule", exception.retention, policy.retention),
                    _on("retention", exception.retention),
                )
            elif rule.after != "flagging" or cname not in rule.categories:
                yield (
                    path,
                    (
                        f"retention rule '{exception.retention}' must cover '{cname}' with `after: flagging`, "
                        "so kept content expires a fixed time after it was flagged"
                    ),
                    (),
                )
    for rname, rule in policy.retention.items():
        if rule.after == "flagging" and any(ref.split(".")[0] not in content for ref in rule.categories):
            yield (
                ("retention", rname, "after"),
                ("`after: flagging` applies only to request content (a category with a `storage` block)"),
                _on("categories", None),  # a broken content category would make every such rule look wrong
            )


def _retention_coverage(policy: Policy) -> Iterator[_Found]:
    covered: set[str] = set()
    for rule in policy.retention.values():
        covered.update(rule.categories)
    yield from _covered_twice(policy)
    for cname, category in policy.categories.items():
        if cname in covered:
            continue
        missing = [f for f in category.fields if f"{cname}.{f}" not in covered]
        if missing:
            yield (
                ("categories", cname),
                (
                    f"no retention rule covers '{cname}'"
                    + (f" (fields {', '.join(missing)})" if len(missing) < len(category.fields) else "")
                    + "; add it to the `categories` of a rule under `retention`, so the page says how long it is kept"
                ),
                _on("retention", None),  # a broken rule may be the one that covers it
            )


def _covered_twice(policy: Policy) -> Iterator[_Found]:
    """A field two rules cover: the page would print both periods while the jobs keep it under the first."""
    keeper: dict[str, tuple[str, str]] = {}  # field -> (rule, the entry of it that covers the field)
    for rname, rule in policy.retention.items():
        for i, ref in enumerate(rule.categories):
            cname, _, fname = ref.partition(".")
            category = policy.categories.get(cname)
            if category is None or category.storage is not None:
                # An unknown name is reported as such; kept content has one rule per storage exception, chosen
                # by the exception, not by the first rule covering it.
                continue
            reported: set[str] = set()
            for covered in [ref] if fname else [f"{cname}.{f}" for f in category.fields]:
                first = keeper.setdefault(covered, (rname, ref))
                if first[0] == rname or first[0] in reported:
                    continue
                reported.add(first[0])
                yield (
                    ("retention", rname, "categories", i),
                    f"'{covered}' is already kept under retention rule '{first[0]}' (as '{first[1]}'), and "
                    f"'{rname}' covers it again (as '{ref}'); a field is kept under one rule: remove it from "
                    f"'{first[0]}' or from '{rname}'",
                    (),
                )


def _cookies(policy: Policy) -> Iterator[_Found]:
    if not policy.cookies:
        return
    bound = policy.bindings.cookies if policy.bindings is not None else None
    name = bound or CATEGORY_SLOTS["cookies"].default
    category = policy.categories.get(name)
    if category is None:
        if bound is not None:
            return  # the binding itself is reported as an unknown category
        yield (
            ("cookies",),
            f"cookies are declared but no `{name}` category is collected; add one under `categories` (or name "
            "yours under `bindings.cookies`)",
            _on("categories", name),
        )
        return
    for cookie_name, cookie in policy.cookies.items():
        if cookie.kind not in category.fields:
            yield ("cookies", cookie_name, "kind"), _unknown("cookie kind", cookie.kind, category.fields), ()


def _bindings(policy: Policy) -> Iterator[_Found]:
    for path, message in binding_problems(policy):
        yield path, message, _on("categories", None)


def _slot_holders(policy: Policy) -> Iterator[_Found]:
    for path, message in holder_problems(policy):
        yield path, message, _on("categories", None)


def _slot_periods(policy: Policy) -> Iterator[_Found]:
    for path, message in period_problems(policy):
        yield path, message, (*_on("categories", None), *_on("retention", None))


def _sections(policy: Policy) -> Iterator[_Found]:
    groups = {c.group for c in policy.categories.values()}
    declared = policy.sections.information_we_collect.subsections
    for group in sorted(groups - set(declared)):
        yield (
            ("sections", "information_we_collect", "subsections"),
            (f"categories use group '{group}' but no subsection '{group}' introduces it on the page; add one"),
            (),
        )


def _change_log(policy: Policy) -> Iterator[_Found]:
    for i, entry in enumerate(policy.changes.log):
        if entry.date > policy.last_updated:
            yield (
                ("changes", "log", i, "date"),
                (f"change dated {entry.date} is after last_updated ({policy.last_updated}); move last_updated forward"),
                (),
            )


def _section_order(policy: Policy) -> Iterator[_Found]:
    for path, message in order_problems(policy):
        yield path, message, ()


def _legal(policy: Policy) -> Iterator[_Found]:
    for path, message in legal_problems(policy):
        yield path, message, ()


_FAMILIES: tuple[tuple[Callable[[Policy], Iterator[_Found]], set[str]], ...] = (
    (_purpose_references, {"categories", "purposes", "recipients", "cookies"}),
    (_data_references, {"categories", "recipients", "retention", "security"}),
    (_recipient_references, {"categories", "recipients"}),
    (_content_storage, {"categories", "retention"}),
    (_retention_coverage, {"categories", "retention"}),
    (_cookies, {"categories", "cookies", "bindings"}),
    (_bindings, {"categories", "bindings"}),
    (_slot_holders, {"categories", "bindings"}),
    (_slot_periods, {"categories", "bindings", "retention"}),
    (_sections, {"categories", "sections"}),
    (_change_log, {"changes", "last_updated"}),
    (_section_order, {"sections", "rights", "categories", "purposes", "recipients", "retention", "security"}),
    (_legal, {"applies_in", "rights", "recipients", "purposes"}),
)
"""Each family of checks, with the top-level keys it reads."""
