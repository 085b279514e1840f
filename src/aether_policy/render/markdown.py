"""Markdown for policy prose: CommonMark with raw HTML off and images off, so a YAML file cannot inject markup.

The loader already refuses images and links off the service's site in prose (`prose.py`); rendering is the
second line: an image is printed as its alt text, never as `<img>` (a remote image is a tracking pixel), and
only `https:`, `http:`, `mailto:` and `#` links are rendered as links.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_SAFE_LINK = re.compile(r"^(https?:|mailto:|#)", re.IGNORECASE)
_md.validateLink = lambda url: bool(_SAFE_LINK.match(url.strip()))  # type: ignore[method-assign]


def _image_as_text(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return escapeHtml(self.renderInlineAsText(tokens[idx].children or [], options, env))


_md.add_render_rule("image", _image_as_text)


def markdown_block(text: str) -> Markup:
    """Paragraphs and lists; the output is safe to place in the page as-is."""
    return Markup(_md.render(text))  # markdown-it escapes all input; raw HTML is off


def markdown_inline(text: str) -> Markup:
    """One line of prose (a title, a list item) without a wrapping paragraph."""
    return Markup(_md.renderInline(text))


_AUTOLINK = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9.+-]{1,31}:[^<>\x00-\x20]*"  # <https://…>, <mailto:…>
    r"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>"  # <privacy@example.com>
)
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")  # what can open a tag, comment or declaration


def markdown_text(value: Any) -> Any:
    """A value printed into the Markdown file, with every `<` that could open raw HTML written as `&lt;`.

    Markdown renderers pass raw HTML through, so `<script>` in prose would run wherever `privacy.md` is
    shown. `&lt;` renders as `<`; autolinks (`<https://…>`, `<name@host>`) stay links.
    """
    if not isinstance(value, str):
        return value
    return _HTML_START.sub(lambda m: "<" if _AUTOLINK.match(value, m.end()) else "&lt;", value)
