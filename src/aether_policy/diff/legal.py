"""The legal vocabulary compared: legal bases, recipients' roles and countries, rights, cookie consent.

Material when users lose a protection: a purpose moves to another legal basis (consent they could refuse may
become an interest they can only object to), data goes to a new country or under another or no safeguard, a
processor becomes a controller (it may use the data for its own ends), a right is withdrawn or answers come
slower, or a cookie needs weaker consent. Stating a basis, a country's safeguard or a right for the first time
is not material: nothing more happens to anyone's data.
"""

from __future__ import annotations

from collections.abc import Iterator

from aether_policy.diff.change import Change, Path, membership, words
from aether_policy.model import Policy, Recipient

# Stronger consent first; a cookie moving down this order needs less of the user's agreement.
CONSENT_STRENGTH = {"opt_in": 2, "opt_out": 1, "not_required": 0}


def legal(old: Policy, new: Policy) -> Iterator[Change]:
    yield from _bases(old, new)
    yield from _recipients(old, new)
    yield from _rights(old, new)
    yield from _cookie_consent(old, new)
    yield from membership(
        sorted(old.applies_in),
        sorted(new.applies_in),
        lambda p: ("applies_in",),
        lambda p: f"the policy now applies in {p}",
        lambda p: f"the policy no longer says it applies in {p}",
        adding_is_material=False,
    )


def _bases(old: Policy, new: Policy) -> Iterator[Change]:
    for name in (n for n in new.purposes if n in old.purposes):
        before, after = old.purposes[name], new.purposes[name]
        here: Path = ("purposes", name)
        if before.legal_basis != after.legal_basis:
            was, now = before.legal_basis, after.legal_basis
            description = f"{after.title}: legal basis {words(was or 'not stated')} → {words(now or 'not stated')}"
            yield Change((*here, "legal_basis"), description, was is not None)
        if before.legitimate_interest != after.legitimate_interest:
            yield Change((*here, "legitimate_interest"), f"{after.title}: interest reworded", False, "prose")


def _recipients(old: Policy, new: Policy) -> Iterator[Change]:
    for name in (n for n in new.recipients if n in old.recipients):
        yield from _recipient(("recipients", name), old.recipients[name], new.recipients[name])


def _recipient(here: Path, before: Recipient, after: Recipient) -> Iterator[Change]:
    yield from membership(
        sorted(before.countries),
        sorted(after.countries),
        lambda c: (*here, "countries"),
        lambda c: f"{after.title} now processes data in {c}",
        lambda c: f"{after.title} no longer processes data in {c}",
    )
    if before.transfer != after.transfer:
        was, now = words(before.transfer or "none"), words(after.transfer or "none")
        yield Change(
            (*here, "transfer"), f"{after.title}: transfer safeguard {was} → {now}", before.transfer is not None
        )
    if before.role != after.role:
        description = f"{after.title}: role {before.role or 'not stated'} → {after.role or 'not stated'}"
        yield Change((*here, "role"), description, after.role == "controller")
    if before.mention != after.mention:
        yield Change((*here, "mention"), f"{after.title}: named differently in sentences", False, "prose")


def _rights(old: Policy, new: Policy) -> Iterator[Change]:
    before, after = old.rights, new.rights
    if before is None and after is None:
        return
    if after is None:
        yield Change(("rights",), "data-subject rights no longer stated", True)
        return
    if before is None:
        yield Change(("rights",), f"data-subject rights stated: {', '.join(words(r) for r in after.available)}", False)
        return
    yield from membership(
        before.available,
        after.available,
        lambda r: ("rights", "available"),
        lambda r: f"new right: {words(r)}",
        lambda r: f"right withdrawn: {words(r)}",
        adding_is_material=False,
        removing_is_material=True,
    )
    if before.response_time != after.response_time:
        slower = after.response_time.nominal_seconds > before.response_time.nominal_seconds
        description = f"requests answered within {before.response_time} → {after.response_time}"
        yield Change(("rights", "response_time"), description, slower)
    if (before.title, before.how_to_exercise) != (after.title, after.how_to_exercise):
        yield Change(("rights",), "how to exercise your rights reworded", False, "prose")


def _cookie_consent(old: Policy, new: Policy) -> Iterator[Change]:
    for name in (n for n in new.cookies if n in old.cookies):
        was, now = old.cookies[name].consent, new.cookies[name].consent
        if was == now:
            continue
        weaker = was is not None and (now is None or CONSENT_STRENGTH[now] < CONSENT_STRENGTH[was])
        description = f"cookie '{name}' consent {words(was or 'not stated')} → {words(now or 'not stated')}"
        yield Change(("cookies", name, "consent"), description, weaker)
