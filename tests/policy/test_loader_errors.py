"""A broken edit is answered with a message that points at the line and says what to do."""

from __future__ import annotations

import pytest

from aether_policy import PolicyLoadError, load_policy, load_policy_text
from tests.policy_edits import edit, errors_for, line_of


def test_the_shipped_policy_is_valid(policy_text: str) -> None:
    loaded = load_policy_text(policy_text, "aetherapi.yaml")
    assert loaded.policy.service.name == "AetherAPI"


def test_syntax_error_names_line_and_column_and_where_the_open_bracket_is() -> None:
    assert errors_for("version: 1\nservice: [unclosed\n") == [
        "p.yaml:2:10: YAML syntax error: the flow sequence opened here is not closed before line 3; close it with "
        "`]` or remove the opening bracket",
        "p.yaml:3:1: YAML syntax error: while parsing a flow sequence expected ',' or ']', but got '<stream end>' "
        "(the construct opened on line 2, column 10); check the indentation and quoting on this line and the one "
        "above",
    ]


def test_unknown_key_suggests_the_close_one(policy_text: str) -> None:
    text = edit(policy_text, "\nretention:\n", "\nretension:\n")
    line = line_of(text, "retension:")
    assert f"p.yaml:{line}:1: retension: unknown key 'retension'; did you mean 'retention'?" in errors_for(text)


def test_unknown_nested_key_suggests_the_field_of_that_model(policy_text: str) -> None:
    text = edit(policy_text, "  minimum_age: 13", "  minimum_ag: 13")
    assert errors_for(text)[0] == (
        f"p.yaml:{line_of(text, 'minimum_ag:')}:3: children.minimum_ag: unknown key 'minimum_ag'; "
        "did you mean 'minimum_age'?"
    )


def test_wrong_type_says_what_was_expected(policy_text: str) -> None:
    text = edit(policy_text, "minimum_age: 13", "minimum_age: thirteen")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'minimum_age')}:3: children.minimum_age: expected a whole number, got 'thirteen'"
    ]


def test_bad_duration_explains_the_accepted_units(policy_text: str) -> None:
    text = edit(policy_text, "keep_for: 90 days", "keep_for: 3 fortnights")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '3 fortnights')}:5: retention.usage_data.keep_for: unknown unit 'fortnights' in "
        "'3 fortnights'; use seconds, minutes, hours, days, weeks, months or years"
    ]


def test_months_and_years_load_and_keep_the_unit_the_policy_wrote(policy_text: str) -> None:
    text = edit(policy_text, "keep_for: 90 days", "keep_for: 3 months")
    loaded = load_policy_text(text, "p.yaml")
    assert str(loaded.policy.retention["usage_data"].keep_for) == "3 months"


def test_unparseable_duration_shows_an_example(policy_text: str) -> None:
    text = edit(policy_text, "keep_for: 90 days", "keep_for: soon")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'keep_for: soon')}:5: retention.usage_data.keep_for: 'soon' is not a duration; "
        "write a whole number and a unit, such as '30 days' or '12 hours'"
    ]


def test_dangling_purpose_reference_is_located_and_suggested(policy_text: str) -> None:
    text = edit(
        policy_text,
        "purposes: [service_provision, business_operations, communication]",
        "purposes: [service_provision, busines_operations, communication]",
    )
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'busines_operations')}:35: categories.account.purposes[1]: "
        "unknown purpose 'busines_operations'; did you mean 'business_operations'?"
    ]


def test_dangling_field_reference_names_the_category(policy_text: str) -> None:
    text = edit(policy_text, "receives: [account.name, account.email, payment]", "receives: [account.nme, payment]")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'account.nme')}:16: recipients.payment_processors.receives[0]: "
        "unknown field of 'account' 'nme'; did you mean 'name'?"
    ]


def test_sharing_an_uncollected_category_is_an_error(policy_text: str) -> None:
    openai = "receives: [prompt_content, api_usage.model]\n    purposes: [service_provision]\n"
    openai += "    provider:\n      api: openai"
    text = edit(policy_text, openai, openai.replace("api_usage.model", "biometrics"))
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'biometrics')}:32: recipients.openai.receives[1]: unknown category 'biometrics'; "
        "expected one of: 'account', 'api_usage', 'audit_data', 'contact', 'cookies', 'dashboard_activity', 'device', 'logs', "
        "'payment', 'performance', 'prompt_content' (only collected data can be named)"
    ]


def test_missing_retention_rule_is_an_error(policy_text: str) -> None:
    text = edit(policy_text, "categories: [device, logs]", "categories: [device]")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '  logs:')}:3: categories.logs: no retention rule covers 'logs'; add it to the "
        "`categories` of a rule under `retention`, so the page says how long it is kept"
    ]


def test_partly_covered_category_names_the_missing_fields(policy_text: str) -> None:
    text = edit(policy_text, "categories: [cookies.session, cookies.analytics]", "categories: [cookies.session]")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '  cookies:')}:3: categories.cookies: no retention rule covers 'cookies' "
        "(fields analytics); add it to the `categories` of a rule under `retention`, so the page says how long "
        "it is kept"
    ]


def test_prose_reference_typo_points_into_the_text(policy_text: str) -> None:
    text = edit(policy_text, "{{ children.minimum_age }}", "{{ children.minimum_agee }}")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'minimum_agee')}:1: sections.children.body: prose reference: "
        "'minimum_agee' is not defined here; did you mean 'minimum_age'?"
    ]


def test_prose_cannot_reach_python_internals(policy_text: str) -> None:
    text = edit(policy_text, "{{ children.minimum_age }}", "{{ children.__class__.__mro__ }}")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '__mro__')}:1: sections.children.body: prose may only read rule values; "
        "'__class__' is not one"
    ]


def test_duplicate_keys_are_refused(policy_text: str) -> None:
    text = edit(policy_text, "children:\n  minimum_age: 13", "children:\n  minimum_age: 13\n  minimum_age: 14")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'minimum_age: 14')}:3: duplicate key 'minimum_age' "
        f"(first written on line {line_of(text, 'minimum_age: 13')}); keep one"
    ]


def test_storage_exception_must_use_a_flagging_rule(policy_text: str) -> None:
    text = edit(policy_text, "    after: flagging\n", "    after: collection\n")
    assert errors_for(text) == [
        f"p.yaml:{line}:11: categories.prompt_content.storage.exceptions[{i}].retention: retention rule "
        "'flagged_content' must cover 'prompt_content' with `after: flagging`, so kept content expires a fixed "
        "time after it was flagged"
        for i, line in enumerate(n for n, row in enumerate(text.splitlines(), 1) if "retention: flagged_content" in row)
    ]


def test_a_missing_file_is_a_located_error_not_a_traceback(tmp_path: object) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy("nowhere/policy.yaml")
    assert str(caught.value) == "nowhere/policy.yaml:1:1: file not found; check the path"


def test_an_empty_document_says_what_a_policy_is() -> None:
    assert errors_for("") == [
        "p.yaml:1:1: a policy is a YAML mapping with keys such as `service`, `categories`, `retention`"
    ]


def test_every_problem_is_reported_at_once(policy_text: str) -> None:
    text = edit(policy_text, "minimum_age: 13", "minimum_age: thirteen")
    text = edit(text, "keep_for: 90 days", "keep_for: 3 fortnights")
    assert len(errors_for(text)) == 2
