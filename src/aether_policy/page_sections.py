"""The page's section order: the fixed eight, the rights section when declared, and the policy's extra sections.

Extra sections follow the fixed ones in the order written, or right after the section their `after` names. Each
gets an anchor from its key, so a key must not collide with an anchor the page already uses.
"""

from __future__ import annotations

from collections.abc import Iterator

from aether_policy.model import Policy, Section

FIXED = (
    "introduction",
    "information_we_collect",
    "how_we_use",
    "sharing",
    "security_and_retention",
    "children",
    "changes",
    "contact",
)
RIGHTS = "your_rights"
"""The key (and anchor, `#your-rights`) of the section `rights` renders into, after security and retention."""
_RIGHTS_AFTER = "security_and_retention"
# Anchors the page's own markup uses; an extra section may not take them.
RESERVED = frozenset({RIGHTS, "what_changed", "content", "toc_title", "security", "retention"})
_RESERVED_PREFIXES = ("data_", "purpose_", "recipient_", "retention_", "security_", "sharing_", "right_")


def key_problem(key: str) -> str | None:
    """Why an extra section cannot use this key, or None."""
    if key in RESERVED or key.startswith(_RESERVED_PREFIXES) or key.endswith("_data"):
        return f"section key '{key}' would collide with an anchor the page already uses; choose another name"
    return None


def order_problems(policy: Policy) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Located problems with `after`: on a fixed section, naming an unknown or later section."""
    sections = policy.sections
    for key in FIXED:
        if getattr(sections, key).after is not None:
            yield ("sections", key, "after"), "only an extra section can be placed with `after`; remove it"
    placed = {*FIXED, *([RIGHTS] if policy.rights else [])}
    for key, section in (sections.model_extra or {}).items():
        if (problem := key_problem(key)) is not None:
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
