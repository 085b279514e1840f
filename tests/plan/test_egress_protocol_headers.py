"""Each provider may be sent its own protocol's headers only: the registry decides, not one shared list."""

from __future__ import annotations

from tests.helpers import loopback_plan


def test_an_openai_provider_is_never_sent_anthropic_headers() -> None:
    headers = loopback_plan().egress["openai"].headers
    assert "authorization" in headers
    assert {"x-api-key", "anthropic-version", "anthropic-beta"}.isdisjoint(headers)


def test_an_anthropic_provider_is_never_sent_openai_headers() -> None:
    headers = loopback_plan().egress["anthropic"].headers
    assert {"x-api-key", "anthropic-version", "anthropic-beta"} <= headers
    assert {"authorization", "openai-organization", "openai-project"}.isdisjoint(headers)


def test_no_provider_may_keep_content_unless_the_policy_says_so() -> None:
    assert [rule.stores_content for rule in loopback_plan().egress.values()] == [False, False]
