"""No input produces a traceback: whatever the text, loading ends in a policy or in located problems."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from aether_policy import PolicyLoadError, load_policy_text
from tests.conftest import POLICY_FILE

SHIPPED = POLICY_FILE.read_text(encoding="utf-8")

# Pieces of YAML and of prose that reach the loader's corners: flow brackets, anchors and aliases, merges,
# tags, complex keys, dates, block scalars, templates, Markdown links and images, odd characters.
TOKENS = [
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ": ",
    "- ",
    "? ",
    "&a ",
    "*a",
    "<<: ",
    "!!binary ",
    "!x ",
    "|\n",
    ">-\n",
    "2025-02-30",
    "2025-10-01",
    "9" * 50,
    "'",
    '"',
    "#",
    "\n",
    "  ",
    "\t",
    "{{ ",
    " }}",
    "{% for x in y %}",
    "{{ service.name }}",
    "{{ 9**9 }}",
    "![i](https://e.example/p)",
    "[l](https://e.example)",
    "<b>",
    "\ufeff",
    "\x00",
    "\x85",
    "~",
    "null",
    "true",
    ".inf",
    "service",
    "categories",
    "retention",
    "keep_for: 3 days",
]


def assert_located(text: str) -> None:
    try:
        load_policy_text(text, "p.yaml")
    except PolicyLoadError as error:
        assert error.problems
        lines = len(re.split("\r\n|[\n\r\x85\u2028\u2029]", text)) + 1  # YAML's own line breaks, and one past
        for problem in error.problems:
            assert 1 <= problem.line <= lines and problem.column >= 1, problem


@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_any_sequence_of_yaml_pieces_loads_or_is_located(text: str) -> None:
    assert_located(text)


@given(
    st.integers(0, len(SHIPPED)),
    st.integers(0, 40),
    st.lists(st.sampled_from(TOKENS), max_size=8).map("".join),
)
def test_the_shipped_policy_with_any_span_replaced_loads_or_is_located(start: int, length: int, insert: str) -> None:
    assert_located(SHIPPED[:start] + insert + SHIPPED[start + length :])
