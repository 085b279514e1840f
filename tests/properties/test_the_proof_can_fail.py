"""A property suite that could never fail proves nothing: with a gateway that leaks, hypothesis must find it.

One deliberately leaky gateway per sink class (`tests/properties/server.py` wires each in): a store writing the
request body, a usage column holding a short prompt whole, a log record, stderr, a file that existed before the
request and is appended to, one log record per streamed token, a JSON-escaped copy on stdout, and a metric
label holding the request body (scraped from `/metrics`), and a gateway recording a pattern-routed model name
as sent. And one per newer endpoint, leaking only its own content: embeddings `input` logged (text or token
ids), Responses `instructions` and tool outputs on stderr, a legacy completion's `prompt` in a usage column.
Each must be caught by the same check the properties use, in the sink it leaks into.
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


def plain_scenarios(
    *,
    prompt: st.SearchStrategy[str],
    endpoint: st.SearchStrategy[str],
    family: st.SearchStrategy[str],
    stream: st.SearchStrategy[bool],
) -> st.SearchStrategy[Scenario]:
    """Requests with nothing else unusual: a clean account, a plain reply, the prompt as a string, no pattern,
    no disconnect, no key pasted in; only where the prompt goes, and how it comes back, vary."""
    return st.builds(
        Scenario,
        prompt=prompt,
        endpoint=endpoint,
        family=family,
        behaviour=st.just("ok"),
        stream=stream,
        account=st.just("clean"),
        pattern=st.just(False),
        disconnect=st.just(False),
        shape=st.just("string"),
        key_in_prompt=st.just(False),
    )


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
    strategy = plain_scenarios(
        prompt=words.map(" ".join),
        endpoint=st.sampled_from(["openai", "anthropic"]),
        family=st.sampled_from(["gpt", "claude"]),
        stream=st.just(True),
    )
    _, _, found = _caught("token", strategy)
    # No record holds 16 characters of it (each token is a word of at most six letters): the stream does.
    assert "prompt found in logs reassembled" in found
    assert "prompt found in logs" not in found


def test_a_json_escaped_copy_of_a_non_ascii_prompt_is_caught() -> None:
    strategy = plain_scenarios(
        prompt=non_ascii, endpoint=st.just("openai"), family=st.just("gpt"), stream=st.just(False)
    )
    scenario, outcome, found = _caught("escaped", strategy)
    assert "prompt found in stdout" in found
    # As written, stdout shares no fragment with the prompt: only decoding its escapes finds it.
    assert not any(piece in outcome.added.stdout for piece in fragments(scenario.prompt))


def test_a_log_of_embeddings_input_is_caught() -> None:
    scenario, _, found = _caught("embeddings_input", scenarios(wire=ordinary, endpoints=("embeddings",)))
    assert scenario.shape in ("string", "list")  # text: found by the prompt's own fragments
    assert "prompt found in logs" in found


def test_embeddings_token_ids_in_a_log_are_caught_as_the_prompt() -> None:
    tokens = scenarios(wire=ordinary, endpoints=("embeddings",)).filter(lambda s: s.shape == "tokens")
    _, _, found = _caught("embeddings_input", tokens)
    # The log holds numbers, never the prompt's text: only reading the token ids as the prompt finds it.
    assert found == ["prompt tokens found in logs"]


def test_responses_instructions_and_tool_outputs_on_stderr_are_caught() -> None:
    scenario, _, found = _caught("responses_fields", scenarios(wire=ordinary, endpoints=("responses",)))
    assert scenario.shape in ("instructions", "tools")  # the leak writes only those
    assert "prompt found in stderr" in found


def test_a_legacy_completions_prompt_in_a_usage_column_is_caught() -> None:
    scenario, _, found = _caught("completions_prompt", scenarios(wire=ordinary, endpoints=("completions",)))
    assert "prompt found in table usage_events" in found or "prompt tokens found in table usage_events" in found
    assert scenario.accepted


def test_a_gateway_recording_a_pattern_routed_model_name_as_sent_is_caught_by_its_canary() -> None:
    """The gateway before model names were recorded only when listed: a provider answering for `gpt-<text>`
    put the caller's text in `usage_events.model`."""
    scenario, _, found = _caught("model_column", scenarios(wire=wires(model="canary_model")))
    assert "model canary found in table usage_events" in found
    assert scenario.model_canary not in scenario.prompt
