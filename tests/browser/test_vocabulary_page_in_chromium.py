"""A page with the whole legal vocabulary (wider tables, a rights section, extra sections) in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aether_policy import load_policy_text
from aether_policy.render import build_site, write_site
from tests.browser.page import chromium, chromium_path
from tests.conftest import POLICY_FILE
from tests.vocabulary import eu_policy

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eu-site")
    write_site(build_site(load_policy_text(eu_policy(POLICY_FILE.read_text(encoding="utf-8")))), out)
    return out / "privacy" / "index.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as browser:
        yield browser


def test_the_five_column_sharing_table_does_not_widen_a_phone_screen(browser: object, page_file: Path) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 800})  # type: ignore[attr-defined]
    page.goto(page_file.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.close()


def test_every_toc_link_of_the_extra_sections_lands(browser: object, page_file: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page.goto(page_file.as_uri())
    targets = page.eval_on_selector_all("nav.toc a", "links => links.map(a => a.getAttribute('href'))")
    assert {"#your-rights", "#glossary", "#data-protection-officer"} <= set(targets)
    for target in ("#your-rights", "#glossary", "#data-protection-officer"):
        page.click(f"nav.toc a[href='{target}']")
        top = page.evaluate(f"document.querySelector('{target}').getBoundingClientRect().top")
        at_bottom = page.evaluate("scrollY + innerHeight >= document.documentElement.scrollHeight - 1")
        assert 0 <= top < 100 or (at_bottom and 0 <= top < 800), f"{target} is at {top}px after clicking its link"
    page.close()
