"""The proof's matcher: a prompt is recognised in a sink however the sink escaped it, and only then."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from tests.properties.matching import Matcher

PROMPT = 'Ünïcödé prompt — 你好世界, with "quotes" and a \\ backslash'


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(PROMPT, id="as sent"),
        pytest.param(json.dumps(PROMPT), id="JSON with \\u escapes"),
        pytest.param(json.dumps(json.dumps(PROMPT)), id="JSON of JSON"),
        pytest.param(repr(PROMPT.encode("utf-8")), id="bytes repr"),
        pytest.param(ascii(PROMPT), id="str repr with \\x and \\u"),
        pytest.param(quote(PROMPT, safe=""), id="percent-encoded"),
        pytest.param(quote_plus(PROMPT), id="form-encoded"),
        pytest.param(json.dumps("😀 " + PROMPT), id="surrogate pairs"),
    ],
)
def test_a_prompt_is_found_in_any_encoding_a_sink_may_write(encoded: str) -> None:
    assert Matcher(PROMPT).in_text(f"INFO something {encoded} happened")


def test_a_prompt_is_not_found_where_only_unrelated_text_is() -> None:
    assert not Matcher(PROMPT).in_text(json.dumps({"status": 200, "model": "gpt-4o", "detail": "Ünïcödé"}))


def test_a_fragment_that_every_run_writes_proves_nothing() -> None:
    ambient = "policy digest 0123456789abcdef0123456789abcdef"
    assert not Matcher("0123456789abcdef", ambient=ambient).in_text(ambient)


def test_a_fragment_the_sink_held_before_the_request_is_not_counted_again() -> None:
    before = "older row: " + PROMPT
    assert not Matcher(PROMPT).in_text(before + " new row", before=before)
    assert Matcher(PROMPT).in_text(before + " " + PROMPT[::-1] + PROMPT, before=PROMPT[::-1])


def test_a_short_prompt_is_found_only_as_a_whole_stored_value() -> None:
    matcher = Matcher("hi there", vocabulary={"gpt-4o"})
    assert matcher.in_values([None, 200, "hi there"])
    assert matcher.in_values([json.dumps("hi there")[1:-1].encode()])
    assert not matcher.in_values(["say hi there please", "gpt-4o"])
    assert not matcher.in_text("hi there")  # free text: 8 characters prove nothing


def test_a_short_prompt_that_is_a_value_the_gateway_stores_of_its_own_proves_nothing() -> None:
    assert not Matcher("gpt-4o", vocabulary={"gpt-4o"}).in_values(["gpt-4o"])
    assert not Matcher("200").in_values([200])


def test_a_query_string_with_spaces_as_plus_signs_is_decoded() -> None:
    query = "GET /v1/models?q=" + quote_plus("plain words only and no percent sign needed")
    assert Matcher("plain words only and no percent sign needed").in_text(query)
