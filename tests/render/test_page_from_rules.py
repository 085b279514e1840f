"""Every sentence the engine adds to the page follows a rule: change the rule and the sentence changes."""

from __future__ import annotations

from aether_policy import load_policy_text
from aether_policy.render import build_site
from aether_policy.render.site import MARKDOWN
from tests.render.test_site import page_of, text_of

MARKED = """        - when: account_marked   # an operator marked the account as potentially violating the Terms
          retention: flagged_content
          purpose: business_operations
"""
SUMMARY = """    summary: >-
      NOT stored under normal conditions; only temporarily retained and reviewed when abuse or violations
      of the Terms of Service are detected, and deleted no later than {{ retention.flagged_content.keep_for }}
      after flagging.
"""


def page_text(policy_text: str) -> str:
    return text_of(page_of(policy_text))


def test_explicit_acceptance_replaces_the_continued_use_sentence(policy_text: str) -> None:
    page = page_text(policy_text.replace("acceptance: continued_use", "acceptance: explicit"))
    assert "A changed policy applies to you only once you have accepted it explicitly." in page
    assert "Continued use of the Service" not in page


def test_each_notification_channel_is_promised_on_the_page(policy_text: str) -> None:
    page = page_text(policy_text.replace("notify_by: [website]", "notify_by: [website, email]"))
    assert (
        'We will post the updated policy on our website, email the address on your account, and change the "Last '
        'Updated" date.'
    ) in page


def test_removing_the_account_marked_exception_removes_or_marked_from_the_notice(policy_text: str) -> None:
    assert "automatically flagged or marked as potentially violating" in page_text(policy_text)
    page = page_text(policy_text.replace(MARKED, ""))
    assert "automatically flagged as potentially violating" in page
    assert "or marked" not in page


def test_without_a_summary_the_retention_sentence_is_built_from_the_exceptions(policy_text: str) -> None:
    text = policy_text.replace(SUMMARY, "")
    assert (
        "Not stored under normal conditions; content that is automatically flagged or marked is kept for review "
        "and deleted no later than 30 days after flagging."
    ) in page_text(text)
    assert "content that is automatically flagged is kept for review" in page_text(text.replace(MARKED, ""))


def test_a_brand_name_is_printed_as_the_policy_writes_it(policy_text: str) -> None:
    text = policy_text.replace("    title: Payment Processors\n", "    title: Stripe\n").replace(
        "    mention: securely through third-party payment processors\n", ""
    )
    page = page_text(text)
    assert "Billing address and payment history (processed by Stripe)." in page
    assert "stripe" not in page


def test_a_retention_period_counted_from_a_new_anchor_names_its_event(policy_text: str) -> None:
    text = policy_text.replace(
        "    keep_for: 90 days\n    after: collection", "    keep_for: 2 years\n    after: last_activity"
    )
    assert "Usage and Performance Data: 2 years after your last activity." in page_text(text)


def test_the_markdown_follows_the_same_rules(policy_text: str) -> None:
    loaded = load_policy_text(policy_text.replace("acceptance: continued_use", "acceptance: explicit"))
    markdown = build_site(loaded).files[MARKDOWN].decode()
    assert "A changed policy applies to you only once you have accepted it explicitly." in markdown
    assert "Continued use" not in markdown
