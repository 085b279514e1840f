"""A provider allowed to keep request content is a disclosure: the diff says so, and the page does too."""

from __future__ import annotations

from tests.checks.test_diff import changes, material
from tests.helpers import POLICY_FILE
from tests.policy_edits import replaced

POLICY = POLICY_FILE.read_text(encoding="utf-8")
STORING = replaced(POLICY, ("      api: openai\n", "      api: openai\n      stores_content: true\n"))


def test_a_provider_that_may_now_keep_content_is_material() -> None:
    assert changes(POLICY, STORING) == [
        ("recipients.openai.provider.stores_content", "OpenAI: may now keep request content", True)
    ]


def test_a_provider_that_no_longer_keeps_content_is_not_material() -> None:
    assert material(STORING, POLICY) == []
    assert changes(STORING, POLICY) == [
        ("recipients.openai.provider.stores_content", "OpenAI: no longer keeps request content", False)
    ]
