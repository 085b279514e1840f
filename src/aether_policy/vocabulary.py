"""The legal vocabulary a policy can use, and how the page says each term.

Names follow GDPR, the common ground of fideslang and TILT: legal bases are Art. 6(1)(a)-(f), data-subject
rights are Art. 15-22 and 77, transfer mechanisms are the safeguards of Chapter V. The page prints the phrase
of each term a rule names, never a term no rule names.
"""

from __future__ import annotations

from typing import Literal

LegalBasis = Literal[
    "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"
]
LEGAL_BASES: dict[str, str] = {
    "consent": "your consent (GDPR Art. 6(1)(a))",
    "contract": "performing our contract with you (GDPR Art. 6(1)(b))",
    "legal_obligation": "complying with a legal obligation (GDPR Art. 6(1)(c))",
    "vital_interests": "protecting someone's vital interests (GDPR Art. 6(1)(d))",
    "public_task": "a task carried out in the public interest (GDPR Art. 6(1)(e))",
    "legitimate_interests": "our legitimate interests (GDPR Art. 6(1)(f))",
}

Role = Literal["controller", "processor"]
ROLES: dict[str, str] = {
    "controller": "Independent controller",
    "processor": "Processor on our behalf",
}

TransferMechanism = Literal[
    "adequacy_decision",
    "standard_contractual_clauses",
    "binding_corporate_rules",
    "code_of_conduct",
    "certification",
    "derogation",
]
TRANSFER_MECHANISMS: dict[str, str] = {
    "adequacy_decision": "an adequacy decision of the European Commission (GDPR Art. 45)",
    "standard_contractual_clauses": "standard contractual clauses (GDPR Art. 46(2)(c))",
    "binding_corporate_rules": "binding corporate rules (GDPR Art. 47)",
    "code_of_conduct": "an approved code of conduct (GDPR Art. 46(2)(e))",
    "certification": "an approved certification (GDPR Art. 46(2)(f))",
    "derogation": "a derogation for a specific situation (GDPR Art. 49)",
}

Right = Literal[
    "access",
    "rectification",
    "erasure",
    "restriction",
    "portability",
    "objection",
    "withdraw_consent",
    "automated_decisions",
    "complaint",
]
RIGHTS: dict[str, tuple[str, str]] = {
    "access": ("Access", "ask for a copy of the personal data we hold about you"),
    "rectification": ("Rectification", "have inaccurate or incomplete data about you corrected"),
    "erasure": ("Erasure", "have your personal data deleted"),
    "restriction": ("Restriction", "have us limit how we use your personal data"),
    "portability": (
        "Portability",
        "receive the data you gave us in a machine-readable format, or have it sent to another service",
    ),
    "objection": ("Objection", "object to our use of your data based on our legitimate interests"),
    "withdraw_consent": (
        "Withdrawing consent",
        "withdraw a consent you gave at any time, without affecting what was done before",
    ),
    "automated_decisions": (
        "Human review",
        "not be subject to a decision based solely on automated processing that significantly affects you",
    ),
    "complaint": ("Complaint", "lodge a complaint with a data protection supervisory authority"),
}

CookieConsent = Literal["not_required", "opt_in", "opt_out"]
COOKIE_CONSENT: dict[str, str] = {
    "not_required": "strictly necessary; set without asking",
    "opt_in": "set only after you agree",
    "opt_out": "set unless you opt out",
}

# The European Economic Area: the EU's 27 members plus Iceland, Liechtenstein and Norway (ISO 3166-1 alpha-2).
EEA = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split())
# Countries with a European Commission adequacy decision (the United States only for organisations certified under
# the EU-US Data Privacy Framework). Used for a warning only: the list changes, and the policy's word stands.
ADEQUATE = frozenset("AD AR CA FO GG IL IM JP JE NZ KR CH GB UY US".split())


REGIONS = {"EU": "the European Union", "EEA": "the European Economic Area"}


def eu_facing(applies_in: tuple[str, ...]) -> bool:
    """Does a policy that applies in these places speak to people in the EEA (so GDPR applies)?"""
    return any(place in ("EU", "EEA") or place in EEA for place in applies_in)
