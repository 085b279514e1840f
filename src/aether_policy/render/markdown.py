"""Markdown for policy prose: CommonMark with raw HTML off, so a YAML file cannot inject markup."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_SAFE_LINK = re.compile(r"^(https?:|mailto:|#)", re.IGNORECASE)
_md.validateLink = lambda url: bool(_SAFE_LINK.match(url.strip()))  # type: ignore[method-assign]


def markdown_block(text: str) -> Markup:
    """Paragraphs and lists; the output is safe to place in the page as-is."""
    return Markup(_md.render(text))  # markdown-it escapes all input; raw HTML is off


def markdown_inline(text: str) -> Markup:
    """One line of prose (a title, a list item) without a wrapping paragraph."""
    return Markup(_md.renderInline(text))
