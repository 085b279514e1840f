"""Hypothesis strategies for valid policies: small, but with every kind of cross-reference."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import strategies as st

from aether_policy.model import Policy
from aether_policy.page_sections import FIXED

identifiers = st.from_regex(r"\A[a-z][a-z0-9_]{0,11}\Z")
# Any Unicode but braces (they start a prose reference) and surrogates (not encodable).
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), min_size=1, max_size=40
)
durations = st.builds(
    lambda n, unit: f"{n} {unit}", st.integers(0, 999), st.sampled_from(["seconds", "hours", "days", "weeks"])
)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    purpose_names = draw(st.lists(identifiers, min_size=1, max_size=3, unique=True))
    purposes = {
        p: {"title": draw(texts), "activities": draw(st.lists(texts, min_size=1, max_size=2))} for p in purpose_names
    }
    category_names = draw(st.lists(identifiers, min_size=1, max_size=4, unique=True))
    categories: dict[str, Any] = {}
    for name in category_names:
        fields = draw(st.lists(identifiers, min_size=1, max_size=3, unique=True))
        categories[name] = {
            "title": draw(texts),
            "group": draw(st.sampled_from(["personal", "usage", "technical"])),
            "source": draw(st.sampled_from(["provided", "automatic"])),
            "purposes": draw(st.lists(st.sampled_from(purpose_names), min_size=1, max_size=2)),
            "fields": {
                f: {"title": draw(texts), "stored_as": draw(st.sampled_from(["plain", "hash"]))} for f in fields
            },
        }
    retention: dict[str, Any] = {
        "general": {
            "title": draw(texts),
            "categories": category_names,
            "keep_for": draw(durations),
            "after": draw(st.sampled_from(["collection", "account_deletion"])),
        }
    }
    if draw(st.booleans()):
        retention["general"]["categories"] = [c for c in category_names if c != "prompts"]
        categories["prompts"] = {
            "title": draw(texts),
            "group": "usage",
            "source": "automatic",
            "purposes": [purpose_names[0]],
            "fields": {"request": {"title": draw(texts)}},
            "storage": {
                "exceptions": [
                    {"when": when, "retention": "flagged", "purpose": purpose_names[0]}
                    for when in draw(st.lists(st.sampled_from(["flagged", "account_marked"]), unique=True))
                ]
            },
        }
        retention["flagged"] = {
            "title": draw(texts),
            "categories": ["prompts"],
            "keep_for": draw(durations),
            "after": "flagging",
        }
    all_refs = [*categories, *(f"{c}.{f}" for c, v in categories.items() for f in v["fields"])]
    recipients = {
        name: {
            "title": draw(texts),
            "kind": "analytics_provider",
            "receives": draw(st.lists(st.sampled_from(all_refs), min_size=1, max_size=3)),
            "purposes": [draw(st.sampled_from(purpose_names))],
        }
        for name in draw(st.lists(identifiers, max_size=2, unique=True))
    }
    last_updated = draw(dates)
    groups = {c["group"] for c in categories.values()}
    sections: dict[str, Any] = {s: {"title": draw(texts), "body": draw(texts)} for s in FIXED}
    sections["information_we_collect"]["subsections"] = {g: {"title": draw(texts)} for g in sorted(groups)}
    return Policy.model_validate(
        {
            "version": draw(st.integers(1, 1000)),
            "last_updated": last_updated,
            "service": {
                "name": draw(texts),
                "url": "https://example.test",
                "contact_email": "privacy@example.test",
                "description": draw(texts),
            },
            "purposes": purposes,
            "categories": categories,
            "recipients": recipients,
            "retention": retention,
            "security": {"measures": {"tls": {"title": draw(texts), "description": draw(texts)}}},
            "children": {"minimum_age": draw(st.integers(13, 21))},
            "changes": {
                "notify_by": ["website"],
                "log": [
                    {"date": d, "summary": draw(texts)}
                    for d in draw(st.lists(st.dates(max_value=last_updated, min_value=date(2000, 1, 1)), max_size=2))
                ],
            },
            "sections": sections,
        }
    )
