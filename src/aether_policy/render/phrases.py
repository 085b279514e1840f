"""Sentences the page builds from rules, so each number is printed from its rule and never retyped.

Nothing here names a service, a document or a brand: those come from the policy (titles, `mention`, prose).
Engine wording describes only what a rule means: an anchor's event, a legal basis, a right, a consent mode.
"""

from __future__ import annotations

from aether_policy.anchors import ANCHORS
from aether_policy.bindings import bind
from aether_policy.exercise import ways
from aether_policy.model import Category, Policy, Recipient
from aether_policy.prose import join_and
from aether_policy.vocabulary import COOKIE_CONSENT, LEGAL_BASES, REGIONS, RIGHTS, ROLES, TRANSFER_MECHANISMS


def lower_first(title: str) -> str:
    """'Email address' becomes 'email address' mid-sentence; 'API usage' and 'OpenAI key' keep their capitals."""
    first = title.split(" ", 1)[0]
    if any(ch.isupper() for ch in first[1:]):
        return title
    return title[:1].lower() + title[1:]


def field_list(category: Category) -> str:
    """'Name, email address, username, and password': the reference policy's list style."""
    titles = [f.title for f in category.fields.values()]
    return join_and([titles[0], *(lower_first(t) for t in titles[1:])])


def join_or(phrases: list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " or " + phrases[-1]


def retention_sentence(policy: Policy, name: str) -> str:
    """How long, counted from which event; for request content, also when it is kept at all."""
    rule = policy.retention[name]
    if rule.summary:
        return rule.summary
    anchor = ANCHORS[rule.after]
    storage = next((c.storage for c in policy.categories.values() if c.storage is not None), None)
    exceptions = [e for e in storage.exceptions if e.retention == name] if storage else []
    if exceptions:
        review = " for review" if any(e.reviewed for e in exceptions) else ""
        return (
            f"Not stored under normal conditions; content that is {join_or([e.phrase for e in exceptions])} is "
            f"kept{review} and deleted no later than {rule.keep_for} after {anchor.event}."
        )
    return anchor.describe(rule.keep_for)


def mention(recipient: Recipient) -> str:
    return recipient.mention or f"by {recipient.title}"


def processed_by(policy: Policy, category: Category) -> str:
    """'processed by Stripe', or in the policy's words: 'processed securely through third-party processors'."""
    return "processed " + join_and(mention(policy.recipients[name]) for name in category.processed_by)


def recipient_receives(policy: Policy, refs: tuple[str, ...]) -> str:
    """Titles as the policy writes them: a category's as written (it may be a name), a field's sentence-cased."""
    names = []
    for i, ref in enumerate(refs):
        category_name, _, field_name = ref.partition(".")
        category = policy.categories[category_name]
        if field_name:
            title = category.fields[field_name].title
            names.append(title if i == 0 else lower_first(title))
        else:
            names.append(category.title)
    return join_and(names)


def cookie_kind(policy: Policy, name: str) -> str:
    """The title of a cookie's kind: a field of the category the policy binds to cookies (`bindings.cookies`)."""
    category = policy.categories[bind(policy).categories["cookies"]]
    return category.fields[policy.cookies[name].kind].title


def cookie_lifetime(policy: Policy, name: str) -> str:
    cookie = policy.cookies[name]
    return "until you close your browser" if cookie.max_age is None else f"up to {cookie.max_age}"


def cookie_consent(policy: Policy, name: str) -> str:
    consent = policy.cookies[name].consent
    return COOKIE_CONSENT[consent] if consent else ""


_NOTIFY = {
    "website": "post the updated policy on our website",
    "email": "email the address on your account",
    "dashboard": "show a notice in your dashboard",
}
# change-control makes every rule change move `last_updated`, so the page may promise it.
_DATE = 'change the "Last Updated" date'
_ACCEPTANCE = {
    "continued_use": "Continued use of the Service after changes constitutes your acceptance of the updated policy.",
    "explicit": "A changed policy applies to you only once you have accepted it explicitly.",
}


def notify_sentence(policy: Policy) -> str:
    """How users learn of a change: each `notify_by` channel, and the date change-control makes us move."""
    return "We will " + join_and([*(_NOTIFY[way] for way in policy.changes.notify_by), _DATE]) + "."


def acceptance_sentence(policy: Policy) -> str:
    return _ACCEPTANCE[policy.changes.acceptance]


def applies_in_sentence(policy: Policy) -> str:
    """'This policy applies in the European Union and GB.', or '' when `applies_in` is not set."""
    if not policy.applies_in:
        return ""
    return f"This policy applies in {join_and(REGIONS.get(place, place) for place in policy.applies_in)}."


def legal_basis(policy: Policy, name: str) -> str:
    """'Legal basis: our legitimate interests (GDPR Art. 6(1)(f)): preventing abuse.', or '' when none is set."""
    purpose = policy.purposes[name]
    if purpose.legal_basis is None:
        return ""
    interest = f": {purpose.legitimate_interest.rstrip('.')}" if purpose.legitimate_interest else ""
    return f"Legal basis: {LEGAL_BASES[purpose.legal_basis]}{interest}."


def recipient_role(recipient: Recipient) -> str:
    return ROLES[recipient.role] if recipient.role else ""


def recipient_where(recipient: Recipient) -> str:
    """'US (standard contractual clauses (GDPR Art. 46(2)(c)))', or '' when no country is declared."""
    if not recipient.countries:
        return ""
    where = join_and(recipient.countries)
    return f"{where}, under {TRANSFER_MECHANISMS[recipient.transfer]}" if recipient.transfer else where


def rights_list(policy: Policy) -> list[tuple[str, str, str, str]]:
    """(name, title, what it lets you do, how it is exercised) for each right the policy grants, in the order
    written. "How" comes from the registry `check` reads too (`aether_policy.exercise`): the command that
    answers it and where to ask, or "" (a complaint goes to an authority; an unexercisable right fails `check`)."""
    return [(way.right, *RIGHTS[way.right], way.sentence()) for way in ways(policy)]


def response_sentence(policy: Policy) -> str:
    return "" if policy.rights is None else f"We answer every request within {policy.rights.response_time}."
