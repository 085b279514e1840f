"""A property suite that could never fail proves nothing: with a gateway that leaks, hypothesis must find it.

One deliberately leaky gateway per sink class (`tests/properties/server.py` wires each in): a store writing the
request body, a usage column holding a short prompt whole, a log record, stderr, a file that existed before the
request and is appended to, one log record per streamed token, a JSON-escaped copy on stdout, and a metric
label holding the request body (scraped from `/metrics`), and a gateway recording a pattern-routed model name
as sent. Each must be caught by the same check the properties use, in the sink it leaks into.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st

from tests.properties import checks
from tests.properties.checks import Outcome, send
from tests.properties.harness import Harness, running_server
from tests.properties.matching import fragments
from tests.properties.strategies import ORDINARY, Scenario, scenarios, wires
from tests.properties.test_prompt_privacy import learn_ambient

ordinary = st.just(ORDINARY)
# Prompts that are all non-ASCII: their JSON-escaped form shares no 16 characters with them.
non_ascii = st.text(st.characters(min_codepoint=0xA1, max_codepoint=0x2FFF, blacklist_categories=("Cs",)), min_size=20)


def _leaking(harness: Harness, strategy: st.SearchStrategy[Scenario], shrink: bool = False) -> tuple[Scenario, Outcome]:
    """The first scenario (or, with `shrink`, the simplest) whose request the suite reports leaking."""

    def leaks(scenario: Scenario) -> bool:
        return bool(checks.prompt_in_no_sink(harness, send(harness, scenario)))

    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]
    found = find(
        strategy,
        leaks,
        settings=settings(
            max_examples=100,
            deadline=None,
            database=None,
            phases=phases,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    return found, send(harness, found)


def _caught(
    leak: str, strategy: st.SearchStrategy[Scenario], shrink: bool = False
) -> tuple[Scenario, Outcome, list[str]]:
    with running_server(leak=leak) as harness:
        learn_ambient(harness)
        scenario, outcome = _leaking(harness, strategy, shrink)
        return scenario, outcome, checks.prompt_in_no_sink(harness, outcome)


def test_a_store_writing_the_request_body_is_caught_with_a_minimal_counterexample() -> None:
    scenario, _, found = _caught("store", scenarios(), shrink=True)
    assert "prompt found in table usage_events" in found
    # Shrunk to the simplest request there is: a plain, non-streaming OpenAI call that succeeded.
    simplest = (scenario.endpoint, scenario.behaviour, scenario.stream, scenario.shape, scenario.wire)
    assert simplest == ("openai", "ok", False, "string", ORDINARY)


def test_a_usage_column_holding_a_short_prompt_whole_is_caught() -> None:
    short = scenarios(wire=ordinary).filter(
        lambda s: 0 < len(s.prompt) < 16 and not s.pattern and not s.key_in_prompt and s.shape == "string"
    )
    scenario, _, found = _caught("usage_column", short)
    assert "prompt found in table usage_events" in found
    assert fragments(scenario.prompt) == set()  # no fragment to find: the exact comparison caught it


SINK_LEAKS = {
    "log": "logs",
    "stderr": "stderr",
    "appended_file": "file debug.log (appended)",
    "metric_label": "metrics",
}


@pytest.mark.parametrize("leak", SINK_LEAKS)
def test_a_leak_into_each_sink_is_caught_in_that_sink(leak: str) -> None:
    _, _, found = _caught(leak, scenarios(wire=ordinary))
    assert f"prompt found in {SINK_LEAKS[leak]}" in found


def test_one_log_record_per_streamed_token_is_caught_by_reassembling_the_stream() -> None:
    words = st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6), min_size=6, max_size=20)
    strategy = st.builds(
        Scenario,
        prompt=words.map(" ".join),
        endpoint=st.sampled_from(["openai", "anthropic"]),
        family=st.sampled_from(["gpt", "claude"]),
        behaviour=st.just("ok"),
        stream=st.just(True),
        account=st.just("clean"),
        pattern=st.just(False),
        disconnect=st.just(False),
        shape=st.just("string"),
        key_in_prompt=st.just(False),
    )
    _, _, found = _caught("token", strategy)
    # No record holds 16 characters of it (each token is a word of at most six letters): the stream does.
    assert "prompt found in logs reassembled" in found
    assert "prompt found in logs" not in found


def test_a_json_escaped_copy_of_a_non_ascii_prompt_is_caught() -> None:
    strategy = st.builds(
        Scenario,
        prompt=non_ascii,
        endpoint=st.just("openai"),
        family=st.just("gpt"),
        behaviour=st.just("ok"),
        stream=st.just(False),
        account=st.just("clean"),
        pattern=st.just(False),
        disconnect=st.just(False),
        shape=st.just("string"),
        key_in_prompt=st.just(False),
    )
    scenario, outcome, found = _caught("escaped", strategy)
    assert "prompt found in stdout" in found
    # As written, stdout shares no fragment with the prompt: only decoding its escapes finds it.
    assert not any(piece in outcome.added.stdout for piece in fragments(scenario.prompt))


def test_a_gateway_recording_a_pattern_routed_model_name_as_sent_is_caught_by_its_canary() -> None:
    """The gateway before model names were recorded only when listed: a provider answering for `gpt-<text>`
    put the caller's text in `usage_events.model`."""
    scenario, _, found = _caught("model_column", scenarios(wire=wires(model="canary_model")))
    assert "model canary found in table usage_events" in found
    assert scenario.model_canary not in scenario.prompt
