"""Sentences the page builds from rules, so each number is printed from its rule and never retyped."""

from __future__ import annotations

from aether_policy.model import Category, Policy, RetentionRule
from aether_policy.prose import join_and


def lower_first(title: str) -> str:
    """'Email address' becomes 'email address' mid-sentence; 'API usage' keeps its acronym."""
    if len(title) > 1 and title[1].isupper():
        return title
    return title[:1].lower() + title[1:]


def field_list(category: Category) -> str:
    """'Name, email address, username, and password': the reference policy's list style."""
    titles = [f.title for f in category.fields.values()]
    return join_and([titles[0], *(lower_first(t) for t in titles[1:])])


def retention_sentence(policy: Policy, rule: RetentionRule) -> str:
    if rule.after == "account_deletion":
        return f"Until account deletion plus {rule.keep_for}."
    if rule.after == "flagging":
        return (
            "NOT stored under normal conditions; only temporarily retained and reviewed when abuse or violations "
            f"of the Terms of Service are detected, and deleted no later than {rule.keep_for} after flagging."
        )
    return f"{rule.keep_for} after collection."


def recipient_receives(policy: Policy, refs: tuple[str, ...]) -> str:
    names = []
    for ref in refs:
        category_name, _, field_name = ref.partition(".")
        category = policy.categories[category_name]
        title = category.fields[field_name].title if field_name else category.title
        names.append(" ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in title.split()))
    return join_and(names)


def cookie_lifetime(policy: Policy, name: str) -> str:
    cookie = policy.cookies[name]
    return "until you close your browser" if cookie.max_age is None else f"up to {cookie.max_age}"


_NOTIFY = {
    "website": "posting the updated policy on our website",
    "email": "emailing the address on your account",
    "dashboard": "showing a notice in your dashboard",
}


def notify_sentence(policy: Policy) -> str:
    return "We tell you about changes by " + join_and(_NOTIFY[way] for way in policy.changes.notify_by) + "."
