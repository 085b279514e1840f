"""The legal vocabulary: optional, validated where one rule can be judged, located when it is wrong."""

from __future__ import annotations

import pytest

from aether_policy import load_policy_text
from aether_policy.anchors import ANCHORS
from aether_policy.model import RetentionRule
from tests.policy_edits import edit, errors_for, line_of
from tests.vocabulary import eu_policy


def test_the_shipped_policy_loads_without_any_of_the_new_fields(policy_text: str) -> None:
    policy = load_policy_text(policy_text).policy
    assert (policy.applies_in, policy.rights, policy.sections.model_extra) == ((), None, {})


def test_an_eu_facing_policy_with_the_whole_vocabulary_loads(policy_text: str) -> None:
    policy = load_policy_text(eu_policy(policy_text)).policy
    assert policy.purposes["improvement_analytics"].legal_basis == "consent"
    assert (policy.recipients["openai"].role, policy.recipients["openai"].countries) == ("processor", ("US",))
    assert policy.rights is not None and str(policy.rights.response_time) == "1 month"
    assert list(policy.sections.model_extra or {}) == ["data_protection_officer", "glossary"]


def test_an_eu_facing_purpose_without_a_legal_basis_is_a_located_error(policy_text: str) -> None:
    text = edit(eu_policy(policy_text), "    legal_basis: legal_obligation\n", "")
    line = line_of(text, "  legal_compliance:")
    assert errors_for(text) == [
        f"p.yaml:{line}:3: purposes.legal_compliance: purpose 'legal_compliance' has no `legal_basis`, but the "
        "policy applies in the EU (`applies_in`); add one of consent, contract, legal_obligation, vital_interests, "
        "public_task, legitimate_interests"
    ]


def test_a_policy_that_does_not_apply_in_the_eu_needs_no_legal_basis(policy_text: str) -> None:
    text = edit(eu_policy(policy_text), "applies_in: [EU, US]", "applies_in: [US-CA]")
    load_policy_text(edit(text, "    legal_basis: legal_obligation\n", ""))


def test_a_member_state_makes_the_policy_eu_facing(policy_text: str) -> None:
    text = edit(eu_policy(policy_text), "applies_in: [EU, US]", "applies_in: [DE]")
    assert "has no `legal_basis`" in errors_for(edit(text, "    legal_basis: legal_obligation\n", ""))[0]


def test_a_transfer_outside_the_eea_without_a_mechanism_is_a_located_error(policy_text: str) -> None:
    text = eu_policy(policy_text)
    start = line_of(text, "  openai:")
    text = text.replace(
        "  openai:\n    role: processor\n    countries: [US]\n    transfer: standard_contractual_clauses\n",
        "  openai:\n    role: processor\n    countries: [IE, US]\n",
    )
    assert errors_for(text) == [
        f"p.yaml:{start + 2}:21: recipients.openai.countries[1]: 'OpenAI' receives data in US, outside the EEA, "
        "but names no `transfer` mechanism; add one (adequacy_decision, standard_contractual_clauses, "
        "binding_corporate_rules, ...)"
    ]


def test_a_transfer_inside_the_eea_needs_no_mechanism(policy_text: str) -> None:
    text = eu_policy(policy_text).replace(
        "  openai:\n    role: processor\n    countries: [US]\n    transfer: standard_contractual_clauses\n",
        "  openai:\n    role: processor\n    countries: [IE, FR]\n",
    )
    assert load_policy_text(text).policy.recipients["openai"].transfer is None


def test_a_mechanism_without_countries_is_an_error(policy_text: str) -> None:
    text = eu_policy(policy_text).replace(
        "  openai:\n    role: processor\n    countries: [US]\n", "  openai:\n    role: processor\n", 1
    )
    assert "recipients.openai.transfer: a `transfer` mechanism needs the `countries`" in errors_for(text)[0]


def test_an_unknown_legal_basis_lists_the_choices(policy_text: str) -> None:
    text = edit(eu_policy(policy_text), "legal_basis: legal_obligation", "legal_basis: law")
    assert "purposes.legal_compliance.legal_basis" in errors_for(text)[0]
    assert "'legal_obligation'" in errors_for(text)[0]


def test_a_lower_case_country_code_is_refused(policy_text: str) -> None:
    text = eu_policy(policy_text).replace("countries: [US]", "countries: [us]", 1)
    assert "recipients.openai.countries[0]" in errors_for(text)[0]


def test_an_unknown_retention_anchor_suggests_the_close_one(policy_text: str) -> None:
    text = edit(
        policy_text, "    keep_for: 90 days\n    after: collection", "    keep_for: 90 days\n    after: last_activty"
    )
    (error,) = errors_for(text)
    assert f"p.yaml:{line_of(text, 'after: last_activty')}:5: retention.usage_data.after: " in error
    assert "unknown retention anchor 'last_activty'; did you mean 'last_activity'?" in error


def test_every_registered_anchor_is_accepted_and_in_the_schema() -> None:
    schema = RetentionRule.model_json_schema()["properties"]["after"]
    assert schema["enum"] == list(ANCHORS)
    for name in ANCHORS:
        assert RetentionRule(title="t", categories=("a",), keep_for="1 day", after=name).after == name  # type: ignore[arg-type]


def test_an_extra_section_after_an_unknown_section_is_a_located_error(policy_text: str) -> None:
    text = edit(eu_policy(policy_text), "    after: how_we_use\n", "    after: how_we_used\n")
    (error,) = errors_for(text)
    assert error.startswith(f"p.yaml:{line_of(text, 'after: how_we_used')}:5: sections.glossary.after: ")
    assert "'how_we_used' is not a section written before 'glossary'" in error


def test_a_fixed_section_cannot_be_moved(policy_text: str) -> None:
    text = edit(
        policy_text,
        "  children:\n    title: Children's Privacy\n",
        "  children:\n    title: Children's Privacy\n    after: contact\n",
    )
    assert "sections.children.after: only an extra section can be placed with `after`" in errors_for(text)[0]


@pytest.mark.parametrize(
    "key", ["what_changed", "toc", "data_account", "retention_usage_data", "your_rights", "personal_data"]
)
def test_an_extra_section_may_not_take_an_anchor_the_page_uses(policy_text: str, key: str) -> None:
    text = policy_text + f"  {key}:\n    title: Extra\n"
    assert f"sections.{key}: section key '{key}' would give the page a second '#" in errors_for(text)[0]


def test_an_extra_section_key_must_be_an_identifier(policy_text: str) -> None:
    assert "sections.Bad-Key" in errors_for(policy_text + "  Bad-Key:\n    title: Extra\n")[0]


def test_a_legitimate_interest_without_that_basis_is_an_error(policy_text: str) -> None:
    text = edit(
        eu_policy(policy_text),
        "    legal_basis: legal_obligation\n",
        "    legal_basis: legal_obligation\n    legitimate_interest: x\n",
    )
    assert "purposes.legal_compliance.legitimate_interest: `legitimate_interest` explains" in errors_for(text)[0]


def test_a_country_or_right_listed_twice_is_a_located_error(policy_text: str) -> None:
    text = eu_policy(policy_text).replace("countries: [US]", "countries: [US, US]", 1)
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'countries: [US, US]')}:21: recipients.openai.countries[1]: 'US' is listed twice; "
        "remove one"
    ]
    text = edit(eu_policy(policy_text), "[access, ", "[access, access, ")
    assert "rights.available[1]: 'access' is listed twice" in errors_for(text)[0]


def test_norway_unquoted_is_read_by_yaml_as_false_and_located(policy_text: str) -> None:
    text = eu_policy(policy_text).replace("countries: [US]", "countries: [NO]", 1)
    assert "recipients.openai.countries[0]: expected text, got False" in errors_for(text)[0]
    text = eu_policy(policy_text).replace("countries: [US]", "countries: ['NO']", 1)
    assert load_policy_text(text).policy.recipients["openai"].countries == ("NO",)
