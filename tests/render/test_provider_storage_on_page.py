"""A provider the policy lets keep request content is named as such on the page and in its Markdown twin."""

from __future__ import annotations

from aether_policy import load_policy_text
from aether_policy.render import build_site
from aether_policy.render.site import MARKDOWN, PAGE
from tests.helpers import POLICY_FILE

POLICY = POLICY_FILE.read_text(encoding="utf-8")


def test_a_provider_that_may_keep_content_says_so_in_its_row() -> None:
    text = POLICY.replace("      api: openai\n", "      api: openai\n      stores_content: true\n")
    files = build_site(load_policy_text(text)).files
    page, markdown = files[PAGE].decode(), files[MARKDOWN].decode()
    assert page.count(", which it may keep</td>") == 1
    assert markdown.count(", which it may keep |") == 1
    openai_row = next(line for line in page.splitlines() if 'id="recipient-openai"' in line)
    assert ", which it may keep" in openai_row


def test_no_row_says_so_when_no_provider_may_keep_content() -> None:
    files = build_site(load_policy_text(POLICY)).files
    assert b"which it may keep" not in files[PAGE] + files[MARKDOWN]
