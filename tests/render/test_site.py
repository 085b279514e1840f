"""The page says what the policy says, from the rules, deterministically and safely."""

from __future__ import annotations

import difflib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from aether_policy import load_policy_text
from aether_policy.cli import main
from aether_policy.render import build_site
from aether_policy.render.site import JSON, MARKDOWN, PAGE
from tests.conftest import ROOT

REFERENCE = Path(__file__).with_name("reference_policy.txt")  # the policy as first published, as text


def page_of(policy_text: str) -> str:
    return build_site(load_policy_text(policy_text, "p.yaml")).files[PAGE].decode()


def text_of(html: str) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, white space folded."""

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []
            self.skip = False

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.skip = tag in ("style", "title")

        def handle_endtag(self, tag: str) -> None:
            self.skip = False

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def reference_promises() -> list[str]:
    """The reference's sentences and list items, minus headings and navigation."""
    text = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    lines = [re.sub(r"\s+", " ", line.strip(" •\t")) for line in text.splitlines()]
    skip = {"Back to Home", "Privacy Policy", "Important Note on Prompt Storage:", "Note on AI Providers:"}
    # The date is the policy's own (`last_updated`), tested elsewhere; every other line is a promise.
    kept = [line for line in lines if line and not re.match(r"^\d+(\.\d+)*\.? ", line) and line not in skip]
    return [line for line in kept if not line.startswith("Last Updated:")]


def normalise(text: str) -> str:
    """Lower case, punctuation folded, and list conjunctions dropped: the reference writes "a, b, c"
    in some lists and "a, b, and c" in others, and the page writes every list one way."""
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return " ".join(w for w in words if w != "and")


def test_every_promise_of_the_reference_appears_on_the_page(policy_text: str) -> None:
    page = normalise(text_of(page_of(policy_text)))
    missing = [line for line in reference_promises() if normalise(line) not in page]
    assert missing == []


def test_every_reference_heading_is_a_section_in_order(policy_text: str) -> None:
    page = text_of(page_of(policy_text))
    headings = [
        "1. Introduction",
        "2. Information We Collect",
        "2.1 Personal Information",
        "2.2 Usage Data",
        "2.3 Technical Data",
        "3. How We Use Your Information",
        "4. Data Sharing and Disclosure",
        "4.1 Third-Party Service Providers",
        "4.2 Legal Requirements",
        "5. Data Security and Retention",
        "5.1 Security Measures",
        "5.2 Data Retention",
        "6. Children's Privacy",
        "7. Changes to This Privacy Policy",
        "8. Contact Information",
    ]
    positions = [page.index(h) for h in headings]
    assert positions == sorted(positions)


def test_last_updated_and_digest_come_from_the_policy(policy_text: str) -> None:
    loaded = load_policy_text(re.sub(r"(?m)^last_updated: .*$", "last_updated: 2027-03-15", policy_text))
    page = build_site(loaded).files[PAGE].decode()
    assert 'Last Updated: <time datetime="2027-03-15">March 2027</time>' in page
    assert f'<meta name="policy-digest" content="{loaded.digest}">' in page


def test_changing_a_retention_period_changes_only_that_promise(policy_text: str) -> None:
    before = page_of(policy_text).splitlines()
    after = page_of(policy_text.replace("keep_for: 90 days", "keep_for: 180 days")).splitlines()
    changed = [line for line in difflib.unified_diff(before, after, lineterm="", n=0) if line[:1] in "+-"]
    changed = [line for line in changed if not line.startswith(("+++", "---"))]
    assert [line for line in changed if "policy-digest" not in line and "policy digest" not in line] == [
        f'{sign}    <li id="retention-usage-data"><strong>Usage and Performance Data:</strong> {days} days after '
        "collection.</li>"
        for sign, days in (("-", 90), ("+", 180))
    ]


def test_a_prose_reference_prints_the_rule_value(policy_text: str) -> None:
    page = page_of(policy_text.replace("minimum_age: 13", "minimum_age: 16"))
    assert "not directed to individuals under the age of 16." in text_of(page)


def test_raw_html_in_prose_is_rendered_inert(policy_text: str) -> None:
    hostile = "<script>alert('x')</script> <img src=x onerror=alert(1)>"
    page = page_of(
        policy_text.replace(
            "  children:\n    title: Children's Privacy\n    body: |\n",
            f"  children:\n    title: Children's Privacy\n    body: |\n      {hostile}\n",
        )
    )
    assert "<script>alert" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert" in page


def test_building_twice_gives_the_same_bytes(policy_text: str) -> None:
    loaded = load_policy_text(policy_text, "p.yaml")
    assert build_site(loaded).files == build_site(loaded).files


def test_the_json_carries_the_digest_and_the_evaluated_prose(policy_text: str) -> None:
    loaded = load_policy_text(policy_text, "p.yaml")
    data = json.loads(build_site(loaded).files[JSON])
    assert data["digest"] == loaded.digest
    assert data["last_updated"] == loaded.policy.last_updated.isoformat()
    assert "under the age of 13" in data["policy"]["sections"]["children"]["body"]


def test_the_markdown_twin_says_the_same_retention_promises(policy_text: str) -> None:
    markdown = build_site(load_policy_text(policy_text, "p.yaml")).files[MARKDOWN].decode()
    assert "- **Account Data:** Until account deletion plus 30 days." in markdown
    assert "deleted no later than 30 days after flagging." in markdown


def test_the_page_has_one_h1_and_stable_toc_anchors(policy_text: str) -> None:
    page = page_of(policy_text)
    assert page.count("<h1") == 1
    assert '<html lang="en">' in page
    for target in re.findall(r'<nav class="toc".*?</nav>', page, re.S)[0].split('href="#')[1:]:
        assert f'id="{target.split(chr(34))[0]}"' in page


def test_the_page_loads_no_external_assets(policy_text: str) -> None:
    page = page_of(policy_text)
    assert not re.search(r"<(link|script|img)\b", page)
    assert "@import" not in page and "url(" not in page


def test_build_writes_three_files_and_reports_unchanged_on_rerun(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "site"
    args = ["build", "--policy", str(ROOT / "policies" / "aetherapi.yaml"), "--templates", str(ROOT / "templates")]
    first = runner.invoke(main, [*args, "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [JSON, MARKDOWN, PAGE]
    second = runner.invoke(main, [*args, "--out", str(out)])
    assert second.output.endswith(
        "3 files, 0 changed, policy "
        + load_policy_text((ROOT / "policies" / "aetherapi.yaml").read_text()).digest
        + "\n"
    )


def test_committed_site_is_fresh() -> None:
    loaded = load_policy_text((ROOT / "policies" / "aetherapi.yaml").read_text(), "policies/aetherapi.yaml")
    for name, content in build_site(loaded, ROOT / "templates").files.items():
        assert (ROOT / "site" / name).read_bytes() == content, f"site/{name} is stale: run aether-policy build"


def test_abuse_patterns_are_named_but_not_published(policy_text: str) -> None:
    loaded = load_policy_text(policy_text, "p.yaml")
    site = build_site(loaded)
    data = json.loads(site.files[JSON])
    exception = data["policy"]["categories"]["prompt_content"]["storage"]["exceptions"][0]
    assert exception["patterns"] == {"credential_stuffing": "(not published)", "malware_request": "(not published)"}
    assert all(b"ransomware" not in content for content in site.files.values())
