"""What `validate` and `check` can verify of a policy's legal vocabulary.

Errors make the policy invalid (the page would omit something the law requires it to say); warnings are
reported by `check` and fail it only with `--fail-on-warn`. Each comes with the key path of the rule at fault.
"""

from __future__ import annotations

from collections.abc import Iterator

from aether_policy.durations import Duration
from aether_policy.model import Policy
from aether_policy.vocabulary import ADEQUATE, EEA, eu_facing

Path = tuple[str | int, ...]
Finding = tuple[Path, str]
ONE_MONTH = Duration(1, "month")


def _repeated(path: Path, items: tuple[str, ...]) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            yield (*path, i), f"'{item}' is listed twice; remove one"
        seen.add(item)


def legal_problems(policy: Policy) -> Iterator[Finding]:
    """Errors: an EU-facing purpose with no legal basis, a transfer out of the EEA with no safeguard, a repeat."""
    eu = eu_facing(policy.applies_in)
    yield from _repeated(("applies_in",), policy.applies_in)
    if policy.rights is not None:
        yield from _repeated(("rights", "available"), policy.rights.available)
    for name, recipient in policy.recipients.items():
        yield from _repeated(("recipients", name, "countries"), recipient.countries)
    for name, purpose in policy.purposes.items():
        if eu and purpose.legal_basis is None:
            yield (
                ("purposes", name),
                f"purpose '{name}' has no `legal_basis`, but the policy applies in the EU (`applies_in`); add one of "
                "consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests",
            )
        if purpose.legitimate_interest and purpose.legal_basis != "legitimate_interests":
            yield (
                ("purposes", name, "legitimate_interest"),
                "`legitimate_interest` explains `legal_basis: legitimate_interests`; set that basis or remove it",
            )
    for name, recipient in policy.recipients.items():
        outside = [(i, c) for i, c in enumerate(recipient.countries) if c not in EEA]
        if eu and outside and recipient.transfer is None:
            i, country = outside[0]
            yield (
                ("recipients", name, "countries", i),
                f"'{recipient.title}' receives data in {country}, outside the EEA, but names no `transfer` mechanism; "
                "add one (adequacy_decision, standard_contractual_clauses, binding_corporate_rules, ...)",
            )
        if recipient.transfer is not None and not recipient.countries:
            yield (
                ("recipients", name, "transfer"),
                "a `transfer` mechanism needs the `countries` the data goes to; list them",
            )


def legal_warnings(policy: Policy) -> Iterator[Finding]:
    """Warnings: what the law expects but a policy may have reasons to leave out, or a claim that looks wrong."""
    eu = eu_facing(policy.applies_in)
    if eu and policy.rights is None:
        yield ("applies_in",), "the policy applies in the EU but declares no `rights` (GDPR Art. 13(2)(b)); add them"
    rights = policy.rights
    if eu and rights is not None and rights.response_time.nominal_seconds > ONE_MONTH.nominal_seconds:
        yield (
            ("rights", "response_time"),
            f"requests are answered in {rights.response_time}; GDPR Art. 12(3) allows one month",
        )
    for name, purpose in policy.purposes.items():
        if purpose.legal_basis == "legitimate_interests" and not purpose.legitimate_interest:
            yield (
                ("purposes", name, "legal_basis"),
                "say which interest is pursued in `legitimate_interest` (GDPR Art. 13(1)(d))",
            )
        if purpose.legal_basis == "consent" and rights is not None and "withdraw_consent" not in rights.available:
            yield (
                ("purposes", name, "legal_basis"),
                "this purpose rests on consent, but `rights.available` lacks withdraw_consent (GDPR Art. 7(3))",
            )
    for name, recipient in policy.recipients.items():
        if recipient.transfer == "adequacy_decision":
            for i, country in enumerate(recipient.countries):
                if country not in EEA and country not in ADEQUATE:
                    yield (
                        ("recipients", name, "countries", i),
                        f"{country} has no EU adequacy decision that this tool knows of; check the transfer mechanism",
                    )
    if eu:
        for name, cookie in policy.cookies.items():
            if cookie.consent == "opt_out":
                yield (
                    ("cookies", name, "consent"),
                    "in the EU a cookie that is not strictly necessary needs prior consent (ePrivacy Art. 5(3)); "
                    "use opt_in, or not_required if it is strictly necessary",
                )
