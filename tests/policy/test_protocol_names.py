"""A provider's protocol is one the gateway speaks: the registry is the list, and a wrong name is located."""

from __future__ import annotations

from tests.helpers import POLICY_FILE
from tests.policy.test_loader_errors import errors_for

POLICY = POLICY_FILE.read_text(encoding="utf-8")


def test_an_unknown_protocol_is_a_located_error_naming_the_ones_spoken() -> None:
    text = POLICY.replace("      api: openai\n", "      api: palm\n")
    line = text.splitlines().index("      api: palm") + 1
    assert errors_for(text) == [
        f"p.yaml:{line}:7: recipients.openai.provider.api: unknown protocol 'palm'; the gateway speaks openai, "
        "anthropic, gemini"
    ]
