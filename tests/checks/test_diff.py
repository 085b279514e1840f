"""`aether-policy diff`: what changed between two policies, judged by what happens to the data."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aether_policy import load_policy_text
from aether_policy.cli import main
from aether_policy.diff import rules_changed, semantic_diff
from tests.policy_edits import errors_for, replaced


def changes(old_text: str, new_text: str) -> list[tuple[str, str, bool]]:
    old, new = load_policy_text(old_text).policy, load_policy_text(new_text).policy
    return [(".".join(str(p) for p in c.path), c.description, c.material) for c in semantic_diff(old, new)]


def material(old_text: str, new_text: str) -> list[tuple[str, str, bool]]:
    return [c for c in changes(old_text, new_text) if c[2]]


def test_identical_policies_have_no_changes(policy_text: str) -> None:
    assert changes(policy_text, policy_text) == []


def test_a_longer_retention_period_is_material(policy_text: str) -> None:
    assert changes(policy_text, policy_text.replace("keep_for: 90 days", "keep_for: 180 days")) == [
        (
            "retention.usage_data.keep_for",
            "Usage and Performance Data kept longer: 90 days → 180 days after collection",
            True,
        )
    ]


def test_a_shorter_retention_period_is_not_material(policy_text: str) -> None:
    assert changes(policy_text, policy_text.replace("keep_for: 90 days", "keep_for: 60 days"))[0][2] is False


def test_the_same_period_in_other_units_is_not_material(policy_text: str) -> None:
    assert changes(policy_text, policy_text.replace("keep_for: 90 days", "keep_for: 2160 hours")) == [
        (
            "retention.usage_data.keep_for",
            "Usage and Performance Data kept as long (reworded): 90 days → 2160 hours after collection",
            False,
        )
    ]


def test_a_new_recipient_is_material_and_says_what_it_receives(policy_text: str) -> None:
    new = policy_text.replace(
        "  legal_requests:\n",
        "  mistral:\n    title: Mistral\n    kind: ai_provider\n    receives: [prompt_content]\n    purposes: [service_provision]\n"
        "    provider:\n      api: openai\n      hosts: [api.mistral.ai]\n  legal_requests:\n",
    )
    assert changes(policy_text, new) == [
        ("recipients.mistral", "new recipient 'Mistral' receives API Prompts and Responses", True)
    ]


def test_sharing_a_whole_category_instead_of_two_fields_is_material_for_the_other_fields(policy_text: str) -> None:
    new = policy_text.replace("receives: [account.name, account.email, payment]", "receives: [account, payment]")
    assert changes(policy_text, new) == [
        (
            "recipients.payment_processors.receives",
            "Payment Processors now receives Account Information (Password, Username)",
            True,
        ),
    ]


def test_listing_every_field_instead_of_the_category_is_no_change(policy_text: str) -> None:
    new = policy_text.replace(
        "receives: [account.name, account.email, payment]",
        "receives: [account.name, account.email, payment.billing_address, payment.payment_history]",
    )
    assert changes(policy_text, new) == []


def test_a_new_field_is_material_and_its_recipients_are_named(policy_text: str) -> None:
    new = policy_text.replace(
        "      login_times: {title: Login times}\n", "      api_keys_viewed: {title: API keys viewed}\n"
    )
    assert changes(policy_text, new) == [
        (
            "categories.dashboard_activity.fields.api_keys_viewed",
            "Dashboard Activity: now collects API keys viewed",
            True,
        ),
        (
            "categories.dashboard_activity.fields.login_times",
            "Dashboard Activity: no longer collects Login times",
            False,
        ),
        (
            "recipients.analytics_providers.receives",
            "Analytics Providers now receives Dashboard Activity (API keys viewed)",
            True,
        ),
    ]


def test_a_catch_all_abuse_pattern_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text, ("            malware_request:", "            everything: '.'\n            malware_request:")
    )
    assert changes(policy_text, new) == [
        (
            "categories.prompt_content.storage.exceptions.0.patterns.everything",
            "API Prompts and Responses kept when flagged: new pattern 'everything': .",
            True,
        )
    ]


def test_an_edited_pattern_is_material(policy_text: str) -> None:
    new = replaced(policy_text, (r"'\b(combo ?list|credential stuffing)\b'", r"'\b(combo ?list|credential|login)\b'"))
    assert material(policy_text, new) == [
        (
            "categories.prompt_content.storage.exceptions.0.patterns.credential_stuffing",
            r"API Prompts and Responses kept when flagged: changed pattern 'credential_stuffing': \b(combo ?list|credential|login)\b",
            True,
        )
    ]


def test_renaming_a_pattern_without_changing_it_is_not_material(policy_text: str) -> None:
    new = replaced(policy_text, ("            malware_request:", "            malware:"))
    assert material(policy_text, new) == []


def test_removing_a_pattern_is_not_material(policy_text: str) -> None:
    new = replaced(
        policy_text, ("            malware_request: '\\b(write|build|create) (a |an )?(ransomware|keylogger)\\b'\n", "")
    )
    assert changes(policy_text, new) == [
        (
            "categories.prompt_content.storage.exceptions.0.patterns",
            "API Prompts and Responses kept when flagged: pattern 'malware_request' removed",
            False,
        )
    ]


def test_a_new_detector_is_material(policy_text: str) -> None:
    old = replaced(policy_text, ("detectors: [pattern, upstream_moderation]", "detectors: [pattern]"))
    assert material(old, policy_text) == [
        (
            "categories.prompt_content.storage.exceptions.0.detectors",
            "API Prompts and Responses kept when flagged: new detector upstream moderation",
            True,
        )
    ]


def test_a_new_storage_exception_is_material(policy_text: str) -> None:
    old = replaced(
        policy_text,
        (
            "        - when: account_marked   # an operator marked the account as potentially violating the Terms\n"
            "          retention: flagged_content\n          purpose: business_operations\n",
            "",
        ),
    )
    assert material(old, policy_text) == [
        (
            "categories.prompt_content.storage.exceptions.1",
            "API Prompts and Responses: now kept when account marked for 30 days after flagging",
            True,
        )
    ]


def test_a_new_purpose_for_kept_prompts_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        (
            "          retention: flagged_content\n          purpose: business_operations\n          # The upstream",
            "          retention: flagged_content\n          purpose: improvement_analytics\n          # The upstream",
        ),
    )
    assert material(policy_text, new) == [
        (
            "categories.prompt_content.storage.exceptions.0.purpose",
            "API Prompts and Responses kept when flagged: now for improvement analytics (business operations)",
            True,
        )
    ]


def test_a_longer_window_for_kept_prompts_through_another_rule_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        ("    categories: [prompt_content]\n", "    categories: [prompt_content]\n"),
        (
            "  usage_data:\n",
            "  long_review:\n    title: Long review\n    categories: [prompt_content]\n    keep_for: 90 days\n"
            "    after: flagging\n  usage_data:\n",
        ),
        (
            "        - when: flagged          # automatic abuse or prohibited-content detection\n"
            "          retention: flagged_content\n",
            "        - when: flagged          # automatic abuse or prohibited-content detection\n"
            "          retention: long_review\n",
        ),
    )
    assert (
        "categories.prompt_content.storage.exceptions.0.retention",
        "API Prompts and Responses kept when flagged: kept 30 days → 90 days (rule 'long_review')",
        True,
    ) in material(policy_text, new)


def test_storing_a_password_in_plain_is_material(policy_text: str) -> None:
    new = replaced(policy_text, ("password: {title: Password, stored_as: hash}", "password: {title: Password}"))
    assert changes(policy_text, new) == [
        (
            "categories.account.fields.password.stored_as",
            "Account Information: Password stored as hash → plain",
            True,
        )
    ]


def test_hashing_a_field_that_was_plain_is_not_material(policy_text: str) -> None:
    new = replaced(policy_text, ("email: {title: Email address}", "email: {title: Email address, stored_as: hash}"))
    assert material(policy_text, new) == []


def test_a_legal_recipient_receiving_always_is_material(policy_text: str) -> None:
    new = replaced(policy_text, ("    when: required_by_law\n", "    when: always\n"))
    assert changes(policy_text, new) == [
        ("recipients.legal_requests.when", "Legal Requests receives data required by law → always", True)
    ]


def test_a_new_purpose_for_an_ai_provider_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        (
            "    purposes: [service_provision]\n    provider:\n      api: openai",
            "    purposes: [service_provision, improvement_analytics]\n    provider:\n      api: openai",
        ),
    )
    assert changes(policy_text, new) == [
        ("recipients.openai.purposes", "OpenAI now receives data also for improvement analytics", True)
    ]


def test_a_reclassified_cookie_is_material(policy_text: str) -> None:
    new = replaced(policy_text, ("  aether_analytics:\n    kind: analytics", "  aether_analytics:\n    kind: session"))
    assert changes(policy_text, new) == [
        ("cookies.aether_analytics.kind", "cookie 'aether_analytics' reclassified: analytics → session", True)
    ]


def test_a_cookie_for_another_purpose_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        (
            "    kind: preference\n    purpose: service_provision",
            "    kind: preference\n    purpose: improvement_analytics",
        ),
    )
    assert [c[2] for c in changes(policy_text, new)] == [True]


def test_a_derived_field_keeping_more_parts_is_material(policy_text: str) -> None:
    new = replaced(policy_text, ("keep: [family, major_version]", "keep: [family, major_version, os]"))
    assert changes(policy_text, new) == [
        (
            "categories.device.fields.browser.keep",
            "Device Information: Browser type and version: now keeps os",
            True,
        )
    ]


def test_moving_a_category_into_a_longer_rule_is_material_and_both_rules_report_it(policy_text: str) -> None:
    new = replaced(
        policy_text,
        ("categories: [api_usage, performance]", "categories: [api_usage, performance, device]"),
        ("categories: [device, logs]", "categories: [logs]"),
    )
    assert changes(policy_text, new) == [
        ("retention.usage_data.categories.2", "Usage and Performance Data now also covers device", False),
        ("retention.technical_data.categories", "Device Information and Logs no longer covers device", False),
        (
            "retention.usage_data.categories.2",
            "Device Information kept longer: 30 days after collection → 90 days after collection",
            True,
        ),
    ]


def test_moving_one_field_into_a_longer_rule_is_material_for_that_field_only(policy_text: str) -> None:
    new = replaced(
        policy_text,
        ("categories: [api_usage, performance]", "categories: [api_usage, performance, device.ip_address]"),
        ("categories: [device, logs]", "categories: [device.browser, logs]"),
    )
    assert material(policy_text, new) == [
        (
            "retention.usage_data.categories.2",
            "Device Information (IP address) kept longer: 30 days after collection → 90 days after collection",
            True,
        )
    ]


def test_moving_a_category_into_a_shorter_rule_is_reported_but_not_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        ("categories: [api_usage, performance]", "categories: [api_usage]"),
        ("categories: [device, logs]", "categories: [device, logs, performance]"),
    )
    assert (
        "retention.technical_data.categories.2",
        "Performance Data retention changed: 90 days after collection → 30 days after collection",
        False,
    ) in changes(policy_text, new)
    assert material(policy_text, new) == []


def test_moving_data_to_a_new_rule_that_keeps_it_longer_is_material(policy_text: str) -> None:
    # Data is kept under one rule (two covering it is a validate error), so a longer period by a new rule means
    # moving the data to it.
    new = replaced(
        policy_text,
        ("    categories: [account, payment,", "    categories: [payment,"),
        (
            "\ncookies:\n  aether_session:",
            "  archive:\n    title: Archive\n    categories: [account]\n    keep_for: 900 days\n"
            "    after: account_deletion\n\ncookies:\n  aether_session:",
        ),
    )
    assert material(policy_text, new) == [
        (
            "retention.archive.categories.0",
            "Account Information kept longer: 30 days after account deletion → 900 days after account deletion",
            True,
        )
    ]


def test_renaming_a_retention_rule_is_not_material(policy_text: str) -> None:
    new = replaced(policy_text, ("  technical_data:\n", "  device_and_logs:\n"))
    assert material(policy_text, new) == []


def test_counting_from_another_event_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        ("    keep_for: 30 days\n    after: account_deletion", "    keep_for: 30 days\n    after: collection"),
    )
    assert [c[2] for c in changes(policy_text, new)] == [True]


def test_a_lower_minimum_age_is_material(policy_text: str) -> None:
    old = replaced(policy_text, ("minimum_age: 13", "minimum_age: 16"))
    assert changes(old, policy_text) == [("children.minimum_age", "minimum age 16 → 13", True)]


def test_accepting_changes_by_continued_use_instead_of_explicitly_is_material(policy_text: str) -> None:
    old = replaced(policy_text, ("acceptance: continued_use", "acceptance: explicit"))
    assert changes(old, policy_text) == [("changes.acceptance", "changes accepted by explicit → continued use", True)]
    assert material(policy_text, old) == []


def test_announcing_changes_on_fewer_channels_is_material(policy_text: str) -> None:
    old = replaced(policy_text, ("notify_by: [website]", "notify_by: [website, email]"))
    assert changes(old, policy_text) == [
        ("changes.notify_by", "changes no longer announced by email: users may not learn of them", True)
    ]
    assert material(policy_text, old) == []


def test_a_category_no_longer_encrypted_at_rest_is_material(policy_text: str) -> None:
    old = replaced(
        policy_text, ("encryption_at_rest: [prompt_content]", "encryption_at_rest: [prompt_content, account]")
    )
    assert changes(old, policy_text) == [
        ("security.encryption_at_rest", "Account Information no longer encrypted at rest", True)
    ]


def test_a_new_activity_under_a_purpose_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        (
            "      - developing new features and optimizing API routing performance\n",
            "      - developing new features and optimizing API routing performance\n      - training our own models\n",
        ),
    )
    assert changes(policy_text, new) == [
        (
            "purposes.improvement_analytics.activities",
            "Improvement and Analytics now also covers: training our own models",
            True,
        )
    ]


def test_a_prose_change_is_reported_as_prose_and_not_material(policy_text: str) -> None:
    new = policy_text.replace("We may update this Privacy Policy periodically.", "We may update this Privacy Policy.")
    old_policy, new_policy = load_policy_text(policy_text).policy, load_policy_text(new).policy
    assert [c.as_dict() for c in semantic_diff(old_policy, new_policy)] == [
        {
            "path": "sections.changes",
            "description": "text of 'Changes to This Privacy Policy' changed",
            "material": False,
            "kind": "prose",
        }
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("title: Payment Processors", "title: Payment Partners"),
        ("password: {title: Password, stored_as: hash}", "password: {title: Passphrase, stored_as: hash}"),
        (
            "{{ retention.flagged_content.keep_for }} after it was flagged.",
            "{{ retention.flagged_content.keep_for }} after flagging.",
        ),
    ],
)
def test_titles_and_notices_are_prose(policy_text: str, old: str, new: str) -> None:
    found = semantic_diff(
        load_policy_text(policy_text).policy, load_policy_text(replaced(policy_text, (old, new))).policy
    )
    assert [(c.kind, c.material) for c in found] == [("prose", False)]


def test_the_date_and_log_alone_are_not_rule_changes(policy_text: str) -> None:
    old = load_policy_text(policy_text).policy
    new = load_policy_text(policy_text.replace("last_updated: 2026-11-25", "last_updated: 2026-12-01")).policy
    assert not rules_changed(old, new)


def test_cli_marks_material_changes(tmp_path: Path, policy_text: str) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(policy_text)
    new.write_text(policy_text.replace("keep_for: 90 days", "keep_for: 180 days"))
    result = CliRunner().invoke(main, ["diff", str(old), str(new)])
    assert (
        result.output
        == "MATERIAL retention.usage_data.keep_for: Usage and Performance Data kept longer: 90 days → 180 days after collection\n"
    )


def test_cli_marks_prose_changes_as_prose(tmp_path: Path, policy_text: str) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(policy_text)
    new.write_text(policy_text.replace("We may update this Privacy Policy periodically.", "We may update it."))
    result = CliRunner().invoke(main, ["diff", str(old), str(new)])
    assert result.output == "prose sections.changes: text of 'Changes to This Privacy Policy' changed\n"


def test_cli_drafts_a_change_log_entry_with_one_detail_per_change(tmp_path: Path, policy_text: str) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(policy_text)
    new.write_text(policy_text.replace("keep_for: 90 days", "keep_for: 180 days"))
    lines = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "changelog"]).output.splitlines()
    assert lines[1:] == [
        '      summary: "Usage and Performance Data kept longer: 90 days → 180 days after collection"',
        "      material: true",
        "      details:",
        '        - "Usage and Performance Data kept longer: 90 days → 180 days after collection"',
    ]


ARCHIVE_RULE = (
    "  archive:\n    title: Archive\n    categories: [device]\n    keep_for: 90 days\n    after: collection\n"
)


def test_data_two_rules_cover_is_refused_so_their_order_cannot_change_what_is_kept(policy_text: str) -> None:
    """The retention jobs applied the first rule covering the data, so reordering two changed what they deleted
    while the page showed both; a field covered twice is now a validate error naming both rules."""
    new = replaced(policy_text, ("  account_data:\n", ARCHIVE_RULE + "  account_data:\n"))
    [error] = errors_for(new)
    assert "retention.technical_data.categories[0]: 'device.ip_address' is already kept under retention rule " in error
    assert "'archive'" in error


def test_reordering_categories_is_a_prose_change_that_still_counts_as_changed(policy_text: str) -> None:
    block = policy_text[policy_text.index("  logs:\n    title: Log Data") : policy_text.index("  cookies:\n    title:")]
    new = replaced(policy_text, (block, ""), ("  # 2.3 Technical Data\n", "  # 2.3 Technical Data\n" + block))
    old_policy, new_policy = load_policy_text(policy_text).policy, load_policy_text(new).policy
    assert [(c.description, c.kind) for c in semantic_diff(old_policy, new_policy)] == [
        ("categories listed in another order", "prose")
    ]
    assert rules_changed(old_policy, new_policy)


def test_a_longer_window_for_flagged_prompts_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text, ("    keep_for: 30 days\n    after: flagging", "    keep_for: 60 days\n    after: flagging")
    )
    assert changes(policy_text, new) == [
        (
            "retention.flagged_content.keep_for",
            "API Prompts/Responses kept longer: 30 days → 60 days after flagging",
            True,
        )
    ]


def test_a_new_processor_for_a_category_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        ("    processed_by: [payment_processors]\n", "    processed_by: [payment_processors, analytics_providers]\n"),
    )
    assert changes(policy_text, new) == [
        ("categories.payment.processed_by", "Payment Information: now processed by analytics_providers", True)
    ]


def test_data_you_provide_becoming_collected_automatically_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        (
            "    title: Contact Information\n    group: personal\n    source: provided",
            "    title: Contact Information\n    group: personal\n    source: automatic",
        ),
    )
    assert changes(policy_text, new) == [
        ("categories.contact.source", "Contact Information: now collected automatically", True)
    ]


def test_a_new_provider_host_is_material_and_a_removed_one_is_not(policy_text: str) -> None:
    new = replaced(policy_text, ("hosts: [api.openai.com]", "hosts: [api.openai.com, eu.example.net]"))
    assert changes(policy_text, new) == [("recipients.openai.provider.hosts", "OpenAI: new hosts eu.example.net", True)]
    assert material(new, policy_text) == []


def test_a_new_cookie_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        ("  aether_prefs:\n", "  tracker:\n    kind: analytics\n    purpose: improvement_analytics\n  aether_prefs:\n"),
    )
    assert changes(policy_text, new) == [("cookies.tracker", "new analytics cookie 'tracker'", True)]


def test_a_session_cookie_becoming_persistent_is_material(policy_text: str) -> None:
    new = replaced(
        policy_text,
        (
            "    kind: session\n    purpose: service_provision\n",
            "    kind: session\n    purpose: service_provision\n    max_age: 1 day\n",
        ),
    )
    assert changes(policy_text, new) == [
        ("cookies.aether_session.max_age", "cookie 'aether_session' lifetime session → 1 day", True)
    ]
