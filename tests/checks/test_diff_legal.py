"""The diff judges the legal vocabulary: users losing a protection is material, stating one is not."""

from __future__ import annotations

from tests.checks.test_diff import changes
from tests.policy_edits import edit
from tests.vocabulary import RIGHTS, eu_policy

SCC = "    countries: [US]\n    transfer: standard_contractual_clauses\n"


def test_a_purpose_moving_to_another_legal_basis_is_material(policy_text: str) -> None:
    old = eu_policy(policy_text)
    new = edit(old, "legal_basis: consent", "legal_basis: legitimate_interests")
    assert changes(old, new) == [
        (
            "purposes.improvement_analytics.legal_basis",
            "Improvement and Analytics: legal basis consent → legitimate interests",
            True,
        )
    ]


def test_stating_a_legal_basis_for_the_first_time_is_not_material(policy_text: str) -> None:
    new = edit(
        policy_text,
        "  legal_compliance:\n    title:",
        "  legal_compliance:\n    legal_basis: legal_obligation\n    title:",
    )
    assert changes(policy_text, new) == [
        ("purposes.legal_compliance.legal_basis", "Legal Compliance: legal basis not stated → legal obligation", False)
    ]


def test_a_new_country_is_material(policy_text: str) -> None:
    old = eu_policy(policy_text)
    new = old.replace(SCC, SCC.replace("[US]", "[IN, US]"), 1)
    assert changes(old, new) == [("recipients.openai.countries", "OpenAI now processes data in IN", True)]


def test_another_or_no_transfer_mechanism_is_material(policy_text: str) -> None:
    old = eu_policy(policy_text)
    new = old.replace(SCC, SCC.replace("standard_contractual_clauses", "derogation"), 1)
    assert changes(old, new) == [
        ("recipients.openai.transfer", "OpenAI: transfer safeguard standard contractual clauses → derogation", True)
    ]


def test_a_processor_becoming_a_controller_is_material_and_the_reverse_is_not(policy_text: str) -> None:
    old = eu_policy(policy_text)
    new = old.replace("  openai:\n    role: processor", "  openai:\n    role: controller", 1)
    assert changes(old, new) == [("recipients.openai.role", "OpenAI: role processor → controller", True)]
    assert changes(new, old) == [("recipients.openai.role", "OpenAI: role controller → processor", False)]


def test_withdrawing_a_right_or_answering_slower_is_material(policy_text: str) -> None:
    old = eu_policy(policy_text)
    new = edit(edit(old, "portability, ", ""), "response_time: 1 month", "response_time: 2 months")
    assert changes(old, new) == [
        ("rights.available", "right withdrawn: portability", True),
        ("rights.response_time", "requests answered within 1 month → 2 months", True),
    ]


def test_no_longer_stating_rights_is_material_and_first_stating_them_is_not(policy_text: str) -> None:
    old = eu_policy(policy_text)
    new = edit(old, RIGHTS, "")
    assert [c[2] for c in changes(old, new)] == [True]
    assert [c[2] for c in changes(new, old)] == [False]


def test_a_cookie_needing_weaker_consent_is_material(policy_text: str) -> None:
    old = eu_policy(policy_text)
    new = edit(old, "    kind: analytics\n    consent: opt_in", "    kind: analytics\n    consent: opt_out")
    assert changes(old, new) == [
        ("cookies.aether_analytics.consent", "cookie 'aether_analytics' consent opt in → opt out", True)
    ]
    assert [c[2] for c in changes(new, old)] == [False]


def test_a_new_extra_section_is_prose(policy_text: str) -> None:
    new = policy_text + "  faq:\n    title: FAQ\n    body: Answers.\n"
    assert changes(policy_text, new) == [("sections.faq", "new section 'FAQ'", False)]


def test_a_retention_summary_and_a_recipient_mention_are_prose(policy_text: str) -> None:
    new = edit(policy_text, "NOT stored under normal conditions;", "Not stored normally;")
    new = edit(new, "mention: securely through", "mention: through")
    assert changes(policy_text, new) == [
        ("retention.flagged_content.summary", "API Prompts/Responses: the page's sentence reworded", False),
        ("recipients.payment_processors.mention", "Payment Processors: named differently in sentences", False),
    ]
