"""A broken edit is answered with every problem of the file at once: schema, references and prose together.

Before, a schema error stopped the load, so an author fixed it only to meet the file's reference errors next.
"""

from __future__ import annotations

from tests.policy_edits import edit, errors_for, line_of


def test_a_schema_error_does_not_hide_a_reference_error(policy_text: str) -> None:
    text = edit(policy_text, "minimum_age: 13", "minimum_age: thirteen")
    text = edit(
        text,
        "purposes: [service_provision, business_operations, communication]",
        "purposes: [service_provision, busines_operations, communication]",
    )
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, 'minimum_age')}:3: children.minimum_age: expected a whole number, got 'thirteen'",
        f"p.yaml:{line_of(text, 'busines_operations')}:35: categories.account.purposes[1]: unknown purpose "
        "'busines_operations'; did you mean 'business_operations'?",
    ]


def test_a_schema_error_does_not_hide_a_prose_error(policy_text: str) -> None:
    text = edit(policy_text, "minimum_age: 13", "minimum_age: thirteen")
    text = edit(text, "{{ children.minimum_age }}", "{{ 9 ** 9 }}")
    problems = errors_for(text)
    assert len(problems) == 2
    assert problems[1].startswith(
        f"p.yaml:{line_of(text, '9 ** 9')}:1: sections.children.body: prose may not use arithmetic (`**`)"
    )


def test_a_reference_to_a_broken_entry_is_not_reported_twice(policy_text: str) -> None:
    # `communication` loses its title: one schema error; the categories that use it are not "unknown purpose"
    text = edit(policy_text, "  communication:\n    title: Communication\n", "  communication:\n")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '  communication:')}:3: purposes.communication.title: missing required key "
        "'title'; add it"
    ]


def test_a_broken_retention_rule_does_not_make_its_categories_uncovered(policy_text: str) -> None:
    text = edit(policy_text, "keep_for: 90 days", "keep_for: 3 fortnights")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '3 fortnights')}:5: retention.usage_data.keep_for: unknown unit 'fortnights' in "
        "'3 fortnights'; use seconds, minutes, hours, days, weeks, months or years"
    ]


def test_a_broken_section_still_lets_every_rule_be_checked(policy_text: str) -> None:
    text = edit(policy_text, "    title: Children's Privacy\n", "")
    text = edit(text, "categories: [device, logs]", "categories: [device]")
    problems = errors_for(text)
    assert problems[0].endswith("sections.children.title: missing required key 'title'; add it")
    assert problems[1] == (
        f"p.yaml:{line_of(text, '  logs:')}:3: categories.logs: no retention rule covers 'logs'; add it to the "
        "`categories` of a rule under `retention`, so the page says how long it is kept"
    )
    assert len(problems) == 2
