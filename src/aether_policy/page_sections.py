"""The page's section order: the fixed eight, the rights section when declared, and the policy's extra sections.

Extra sections follow the fixed ones in the order written, or right after the section their `after` names. Each
gets an anchor from its key, so a key must not collide with an anchor the page already uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from aether_policy.model import Policy, Section, Sections

FIXED = tuple(Sections.model_fields)
"""The fixed eight, in the order the model declares them (and the page prints them)."""
RIGHTS = "your_rights"
"""The key (and anchor, `#your-rights`) of the section `rights` renders into, after security and retention."""
_RIGHTS_AFTER = "security_and_retention"
# Anchors the page's own markup uses whatever the policy says; an extra section may not take them.
RESERVED = frozenset({"your-rights", "what-changed", "content", "toc-title"})


def used_anchors(policy: Policy) -> set[str]:
    """Every `id` the default templates give the rules of this policy (sections' own anchors aside)."""

    def anchors(prefix: str, names: Iterable[str]) -> set[str]:
        return {f"{prefix}{name}".replace("_", "-") for name in names}

    sections = policy.sections
    return {
        *RESERVED,
        *anchors("", FIXED),
        *anchors("data-", policy.categories),
        *anchors("purpose-", policy.purposes),
        *anchors("recipient-", policy.recipients),
        *anchors("retention-", policy.retention),
        *anchors("security-", policy.security.measures),
        *anchors("right-", policy.rights.available if policy.rights else ()),
        *anchors("sharing-", sections.sharing.subsections),
        *anchors("", sections.security_and_retention.subsections),
        *{f"{group}-data" for group in sections.information_we_collect.subsections},
    }


def key_problem(policy: Policy, key: str, section: Section) -> str | None:
    """Why an extra section cannot use this key (its anchors would clash with the page's), or None."""
    used = used_anchors(policy)
    anchor = key.replace("_", "-")
    own = [anchor, f"{anchor}-title", *(f"{anchor}-{sub}".replace("_", "-") for sub in section.subsections)]
    taken = next((a for a in own if a in used), None)
    if taken is not None or anchor.endswith("-title"):
        return f"section key '{key}' would give the page a second '#{taken or anchor}'; choose another name"
    return None


def order_problems(policy: Policy) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Located problems with `after`: on a fixed section, naming an unknown or later section."""
    sections = policy.sections
    for key in FIXED:
        if getattr(sections, key).after is not None:
            yield ("sections", key, "after"), "only an extra section can be placed with `after`; remove it"
    placed = {*FIXED, *([RIGHTS] if policy.rights else [])}
    for key, section in (sections.model_extra or {}).items():
        if (problem := key_problem(policy, key, section)) is not None:
            yield ("sections", key), problem
        if section.after is not None and section.after not in placed:
            yield (
                ("sections", key, "after"),
                f"'{section.after}' is not a section written before '{key}'; name one of: {', '.join(sorted(placed))}",
            )
        placed.add(key)


def page_sections(policy: Policy) -> list[tuple[str, Section]]:
    """(key, section) in page order. The rights section is built from `rights`; its partial prints the list."""
    order: list[tuple[str, Section]] = [(key, getattr(policy.sections, key)) for key in FIXED]
    if policy.rights is not None:
        at = [key for key, _ in order].index(_RIGHTS_AFTER) + 1
        order.insert(at, (RIGHTS, Section(title=policy.rights.title, body=policy.rights.how_to_exercise)))
    for key, section in (policy.sections.model_extra or {}).items():
        keys = [k for k, _ in order]
        at = keys.index(section.after) + 1 if section.after in keys else len(order)
        order.insert(at, (key, section))
    return order
