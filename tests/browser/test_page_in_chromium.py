"""The published page in a real browser: no console errors, no overflow, every TOC link lands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.page import chromium, chromium_path
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (apt-get install chromium)"),
]
PAGE = ROOT / "site" / "privacy" / "index.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as browser:
        yield browser


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_loads_cleanly_without_horizontal_overflow(browser: object, width: int, scheme: str) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(PAGE.as_uri())
    assert errors == []
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    page.close()


def test_every_toc_link_lands_on_its_section(browser: object) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page.goto(PAGE.as_uri())
    targets = page.eval_on_selector_all("nav.toc a", "links => links.map(a => a.getAttribute('href'))")
    assert len(targets) == 9
    for target in targets:
        page.click(f"nav.toc a[href='{target}']")
        top = page.evaluate(f"document.querySelector('{target}').getBoundingClientRect().top")
        at_bottom = page.evaluate("scrollY + innerHeight >= document.documentElement.scrollHeight - 1")
        assert 0 <= top < 100 or (at_bottom and 0 <= top < 800), f"{target} is at {top}px after clicking its link"
        assert page.evaluate("location.hash") == target
    page.close()


def test_the_page_is_readable_when_printed(browser: object, tmp_path: Path) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(PAGE.as_uri())
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('nav.toc')).display") == "none"
    page.close()
