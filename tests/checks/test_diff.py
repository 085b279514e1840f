"""`aether-policy diff`: what changed between two policies, material changes marked."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from aether_policy import load_policy_text
from aether_policy.cli import main
from aether_policy.diff import rules_changed, semantic_diff


def changes(old_text: str, new_text: str) -> list[tuple[str, str, bool]]:
    old, new = load_policy_text(old_text).policy, load_policy_text(new_text).policy
    return [(".".join(str(p) for p in c.path), c.description, c.material) for c in semantic_diff(old, new)]


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


def test_a_new_recipient_is_material(policy_text: str) -> None:
    new = policy_text.replace(
        "  legal_requests:\n",
        "  mistral:\n    title: Mistral\n    kind: ai_provider\n    receives: [prompt_content]\n    purposes: [service_provision]\n"
        "    provider:\n      api: openai\n      hosts: [api.mistral.ai]\n  legal_requests:\n",
    )
    assert changes(policy_text, new) == [("recipients.mistral", "new recipient 'Mistral'", True)]


def test_sharing_more_with_a_recipient_is_material(policy_text: str) -> None:
    new = policy_text.replace("receives: [account.name, account.email, payment]", "receives: [account, payment]")
    assert changes(policy_text, new) == [
        ("recipients.payment_processors.receives", "Payment Processors now receives account", True),
        ("recipients.payment_processors.receives", "Payment Processors no longer receives account.email", False),
        ("recipients.payment_processors.receives", "Payment Processors no longer receives account.name", False),
    ]


def test_a_new_field_is_material_and_a_removed_one_is_not(policy_text: str) -> None:
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
    ]


def test_a_prose_change_is_listed_but_not_material(policy_text: str) -> None:
    new = policy_text.replace("We may update this Privacy Policy periodically.", "We may update this Privacy Policy.")
    assert changes(policy_text, new) == [
        ("sections.changes", "text of 'Changes to This Privacy Policy' changed", False)
    ]


def test_the_date_and_log_alone_are_not_rule_changes(policy_text: str) -> None:
    old = load_policy_text(policy_text).policy
    new = load_policy_text(policy_text.replace("last_updated: 2025-10-01", "last_updated: 2025-11-01")).policy
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


def test_cli_drafts_a_change_log_entry(tmp_path: Path, policy_text: str) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(policy_text)
    new.write_text(policy_text.replace("keep_for: 90 days", "keep_for: 180 days"))
    lines = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "changelog"]).output.splitlines()
    assert lines[1:] == [
        '      summary: "Usage and Performance Data kept longer: 90 days → 180 days after collection"',
        "      material: true",
    ]
