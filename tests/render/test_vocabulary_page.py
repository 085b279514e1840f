"""The legal vocabulary on the page, in its Markdown and in privacy.json."""

from __future__ import annotations

import json
import re

from aether_policy import load_policy_text
from aether_policy.render import build_site
from aether_policy.render.site import JSON, MARKDOWN, PAGE
from tests.render.test_site import text_of
from tests.vocabulary import eu_policy


def site(policy_text: str) -> dict[str, str]:
    files = build_site(load_policy_text(eu_policy(policy_text))).files
    return {name: content.decode() for name, content in files.items()}


def test_the_introduction_says_where_the_policy_applies(policy_text: str) -> None:
    files = site(policy_text)
    assert "<p>This policy applies in the European Union and US.</p>" in files[PAGE]
    assert "\nThis policy applies in the European Union and US.\n" in files[MARKDOWN]


def test_each_purpose_prints_its_legal_basis(policy_text: str) -> None:
    page = text_of(site(policy_text)[PAGE])
    assert "Legal basis: your consent (GDPR Art. 6(1)(a))." in page
    assert "Legal basis: our legitimate interests (GDPR Art. 6(1)(f)): keeping the service available and safe." in page


def test_the_sharing_table_gains_role_and_where_columns(policy_text: str) -> None:
    page = site(policy_text)[PAGE]
    assert '<th scope="col">Role</th><th scope="col">Where</th>' in page
    row = re.search(r'<tr id="recipient-openai">.*?</tr>', page)
    assert row is not None
    assert (
        "<td>Processor on our behalf</td><td>US, under standard contractual clauses (GDPR Art. 46(2)(c))</td></tr>"
        in row.group(0)
    )


def test_without_roles_or_countries_the_table_keeps_three_columns(policy_text: str) -> None:
    page = build_site(load_policy_text(policy_text)).files[PAGE].decode()
    assert '<th scope="col">Role</th>' not in page and '<th scope="col">Where</th>' not in page


def test_rights_are_a_numbered_section_with_their_own_anchor(policy_text: str) -> None:
    page = site(policy_text)[PAGE]
    assert '<li><a href="#your-rights">Your Rights</a></li>' in page
    assert '<h2 id="your-rights-title"><span class="num">7.</span> Your Rights</h2>' in page
    text = text_of(page)
    assert "Write to privacy@aetherapi.dev from your account's address." in text
    assert "Erasure: have your personal data deleted." in text
    assert "We answer every request within 1 month." in text
    assert "Human review" not in text  # a right the policy does not grant is not printed


def test_cookie_consent_is_a_column_of_the_cookie_table(policy_text: str) -> None:
    page = site(policy_text)[PAGE]
    assert '<th scope="col">Consent</th>' in page
    assert "<td>up to 52 weeks</td><td>set only after you agree</td></tr>" in page


def test_extra_sections_are_placed_in_order_with_their_own_anchors(policy_text: str) -> None:
    page = site(policy_text)[PAGE]
    headings = re.findall(r'<h2 id="([a-z-]+)-title"><span class="num">(\d+)\.</span>', page)
    assert headings == [
        ("introduction", "1"),
        ("information-we-collect", "2"),
        ("how-we-use", "3"),
        ("glossary", "4"),
        ("sharing", "5"),
        ("security-and-retention", "6"),
        ("your-rights", "7"),
        ("children", "8"),
        ("changes", "9"),
        ("contact", "10"),
        ("data-protection-officer", "11"),
    ]
    assert '<li><a href="#glossary">Glossary</a></li>' in page
    assert "<p><em>Processing</em> means anything done with personal data.</p>" in page


def test_every_anchor_on_the_page_is_unique(policy_text: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', site(policy_text)[PAGE])
    assert len(ids) == len(set(ids))


def test_the_markdown_carries_the_same_vocabulary(policy_text: str) -> None:
    markdown = site(policy_text)[MARKDOWN]
    assert "## 7. Your Rights" in markdown
    assert "## 4. Glossary" in markdown
    assert "- **Portability:** receive the data you gave us" in markdown
    assert "| Recipient | Receives | Why | Role | Where |" in markdown
    assert "Legal basis: your consent (GDPR Art. 6(1)(a))." in markdown


def test_privacy_json_publishes_every_new_field(policy_text: str) -> None:
    policy = json.loads(site(policy_text)[JSON])["policy"]
    assert policy["applies_in"] == ["EU", "US"]
    assert policy["purposes"]["service_provision"]["legal_basis"] == "contract"
    openai = policy["recipients"]["openai"]
    assert (openai["role"], openai["countries"], openai["transfer"]) == (
        "processor",
        ["US"],
        "standard_contractual_clauses",
    )
    assert policy["rights"]["response_time"] == "1 month"
    assert policy["cookies"]["aether_analytics"]["consent"] == "opt_in"
    assert policy["sections"]["glossary"]["after"] == "how_we_use"
