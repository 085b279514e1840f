"""A semantic diff of two policies: what a reader of the page, or a regulator, would call a change.

Changes are judged by the effective treatment of data, not by which list a name sits in: a change is material
when it lets us collect more, store it more readably, keep it longer, share it with more recipients, for more
purposes or more often, keep prompt content in more cases, set longer-lived or reclassified cookies, or weaken
how users learn of and accept changes. Wording alone is reported as `prose` and is never material.
README.md ("Checks in CI") has the table.
"""

from __future__ import annotations

import json
from typing import Any

from aether_policy.diff.change import Change
from aether_policy.diff.data import categories, retention
from aether_policy.diff.legal import legal
from aether_policy.diff.rules import bindings, content_storage, cookies, order, other_rules, prose, purposes
from aether_policy.diff.sharing import recipients
from aether_policy.model import Policy

__all__ = ["Change", "rules_changed", "semantic_diff"]


def semantic_diff(old: Policy, new: Policy) -> list[Change]:
    return [
        *categories(old, new),
        *content_storage(old, new),
        *recipients(old, new),
        *retention(old, new),
        *purposes(old, new),
        *cookies(old, new),
        *legal(old, new),
        *other_rules(old, new),
        *bindings(old, new),
        *order(old, new),
        *prose(old, new),
    ]


def rules_changed(old: Policy, new: Policy) -> bool:
    """Anything but the date and the change log itself changed, order included.

    Wording counts (the page changes), and so does order: the page lists rules in it, and the retention jobs
    apply the first rule that covers a piece of data. Dicts compare equal in any order, so the dumps are
    compared as JSON text, keys in document order.
    """
    strip: dict[str, Any] = {"last_updated": True, "changes": {"log": True}}
    return _ordered(old.model_dump(mode="json", exclude=strip)) != _ordered(new.model_dump(mode="json", exclude=strip))


def _ordered(dump: dict[str, Any]) -> str:
    return json.dumps(dump, ensure_ascii=False)
