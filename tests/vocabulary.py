"""The shipped policy made EU-facing with the whole legal vocabulary, for the vocabulary tests."""

from __future__ import annotations

from tests.policy_edits import edit

BASES = {
    "service_provision": "contract",
    "business_operations": "legitimate_interests",
    "communication": "contract",
    "improvement_analytics": "consent",
    "legal_compliance": "legal_obligation",
}
RIGHTS = """rights:
  available: [access, rectification, erasure, restriction, portability, objection, withdraw_consent, complaint]
  how_to_exercise: Write to [{{ service.contact_email }}](mailto:{{ service.contact_email }}) from your account's address.
  response_time: 1 month

"""
EXTRA = """  data_protection_officer:
    title: Data Protection Officer
    after: contact
    body: Our data protection officer answers at dpo@aetherapi.dev.
  glossary:
    title: Glossary
    after: how_we_use
    body: "*Processing* means anything done with personal data."
"""


def eu_policy(policy_text: str) -> str:
    text = edit(policy_text, "last_updated: 2026-11-25\n", "last_updated: 2026-11-25\napplies_in: [EU, US]\n")
    for purpose, basis in BASES.items():
        text = edit(text, f"  {purpose}:\n    title:", f"  {purpose}:\n    legal_basis: {basis}\n    title:")
    text = edit(
        text,
        "    legal_basis: legitimate_interests\n",
        "    legal_basis: legitimate_interests\n    legitimate_interest: keeping the service available and safe\n",
    )
    for name in ("openai", "anthropic"):
        text = edit(
            text,
            f"  {name}:\n    title:",
            f"  {name}:\n    role: processor\n    countries: [US]\n    transfer: standard_contractual_clauses\n"
            "    title:",
        )
    text = edit(text, "    kind: session\n", "    kind: session\n    consent: not_required\n")
    text = edit(text, "    kind: analytics\n", "    kind: analytics\n    consent: opt_in\n")
    text = edit(text, "    kind: preference\n", "    kind: preference\n    consent: opt_in\n")
    text = edit(text, "\nsections:\n", "\n" + RIGHTS + "sections:\n")
    return text + EXTRA
