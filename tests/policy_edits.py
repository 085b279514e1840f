"""Editing the shipped policy's text in a test, and reading the located problems the loader answers with.

One definition for every test that breaks the policy on purpose: an edit whose target is not unique fails
the test itself, so a test never silently edits the wrong rule.
"""

from __future__ import annotations

import pytest

from aether_policy import PolicyLoadError, load_policy_text


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the edit target {old!r} must be unique"
    return text.replace(old, new)


def replaced(text: str, *pairs: tuple[str, str]) -> str:
    """Several edits, one after another."""
    for old, new in pairs:
        text = edit(text, old, new)
    return text


def line_of(text: str, needle: str, after: int = 0) -> int:
    """The first line (counted from 1) after line `after` that contains `needle`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if i > after and needle in line)


def errors_for(text: str) -> list[str]:
    """The problems loading `text` as `p.yaml` reports, as the CLI prints them."""
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_text(text, "p.yaml")
    return [str(p) for p in caught.value.problems]
