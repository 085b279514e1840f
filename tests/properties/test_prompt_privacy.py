"""The product's promise, proven against the real gateway: no unflagged prompt is stored, anywhere.

Each property sends hypothesis-chosen requests through the gateway, a server process of its own run as
`aether-policy serve` runs it, over loopback HTTP. The content varies (any Unicode prompt; the OpenAI or Anthropic
chat endpoint, or `/v1/embeddings` (`input` as a string, a list of strings or token ids), `/v1/responses`
(`input` as text, content parts or a tool call and its output, or the prompt as `instructions`) and
`/v1/completions` (`prompt` in the same three forms); either provider, streaming or not, clean, pattern-flagged, upstream-moderated or marked-account,
upstreams that succeed, fail quoting the prompt, time out, reset, cut streams or send malformed JSON, clients
that leave mid-stream) and so does the wire (method, path, query string, repeated, long and odd headers,
credentials none, malformed, unknown, revoked or valid, field order as each SDK serialises it, JSON escapes,
invalid UTF-8, deep nesting, NaN, a form body), with the prompt also placed in the path, the query, headers and
the model string. After each request it scans what the request added to every sink: every record of every
logger (uvicorn's non-propagating ones included), the server's stdout and stderr, every file created or
appended to under its working and temp trees (the SQLite database and WAL included), new rows of every table
of the database, the lines a `/metrics` scrape gained, and the responses another client gets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import POSTGRES_URL
from tests.properties import checks
from tests.properties.checks import APP_ROUTES, STANDARD_METHODS, send
from tests.properties.harness import Harness, running_server
from tests.properties.strategies import FORWARDED_ENDPOINTS, METHODS, MODEL_VOCABULARY, Scenario, scenarios

proof = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def learn_ambient(h: Harness) -> None:
    """What every request writes whatever its content (digests, model names, fixed messages): fragments of a
    prompt found there prove nothing, and short prompts equal to one of its values neither."""
    control = send(
        h, Scenario("a control prompt", "openai", "gpt", "ok", False, "clean", False, False, "string", False)
    )
    texts = {name: text for name, text, _, _ in control.added.texts()}
    values = [str(v) for rows in control.added.rows.values() for row in rows for v in row.values() if v is not None]
    h.ambient = "\n".join([*texts.values(), *control.other_responses, *values])
    h.vocabulary = {*values, *APP_ROUTES, *STANDARD_METHODS, *METHODS, *MODEL_VOCABULARY}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "postgresql" and POSTGRES_URL is None:
        pytest.skip("set AETHER_TEST_POSTGRES_URL to run the PostgreSQL tests")
    with running_server(database_url=POSTGRES_URL if request.param == "postgresql" else None) as h:
        learn_ambient(h)
        yield h


@proof
@given(scenarios())
def test_an_unflagged_prompt_or_its_response_reaches_no_sink(harness: Harness, scenario: Scenario) -> None:
    assert checks.prompt_in_no_sink(harness, send(harness, scenario)) == []


@proof
@given(scenarios())
def test_content_is_kept_only_when_flagged_sealed_and_expiring_in_time(harness: Harness, scenario: Scenario) -> None:
    assert checks.kept_only_when_flagged(harness, send(harness, scenario)) == []


@proof
@given(scenarios())
def test_no_credential_the_caller_sends_reaches_an_upstream_or_a_sink(harness: Harness, scenario: Scenario) -> None:
    assert checks.caller_key_never_leaves(harness, send(harness, scenario)) == []


@proof
@given(scenarios())
def test_usage_events_carry_only_declared_derived_bounded_fields(harness: Harness, scenario: Scenario) -> None:
    assert checks.usage_within_policy(harness, send(harness, scenario)) == []


@proof
@given(scenarios())
def test_every_request_is_answered_and_counted_and_costs_no_one_else(harness: Harness, scenario: Scenario) -> None:
    assert checks.every_request_answered_and_counted(harness, send(harness, scenario)) == []


@proof
@given(scenarios(endpoints=FORWARDED_ENDPOINTS))
def test_every_property_holds_for_embeddings_responses_and_legacy_completions(
    harness: Harness, scenario: Scenario
) -> None:
    """The general properties draw these endpoints too; here they are all that is drawn, so each of their
    content forms (token ids, instructions, tool outputs) is covered on every run."""
    outcome = send(harness, scenario)
    problems = [problem for check in ALL_PROPERTIES for problem in check(harness, outcome)]
    assert problems == []


ALL_PROPERTIES = (
    checks.prompt_in_no_sink,
    checks.kept_only_when_flagged,
    checks.caller_key_never_leaves,
    checks.usage_within_policy,
    checks.every_request_answered_and_counted,
)


def _flagged_by_pattern(exposition: str) -> float:
    series = 'aether_flagged_requests_total{detector="pattern",trigger="flagged"} '
    return sum(float(line[len(series) :]) for line in exposition.splitlines() if line.startswith(series))


def test_a_flagged_prompt_is_counted_by_trigger_in_the_scraped_metrics_and_never_quoted(harness: Harness) -> None:
    scenario = Scenario(
        "a flagged prompt that no metric may quote", "openai", "gpt", "ok", False, "clean", True, False, "string", False
    )
    before = _flagged_by_pattern(harness.metrics.scrape())
    outcome = send(harness, scenario)
    assert checks.prompt_in_no_sink(harness, outcome) == []
    assert _flagged_by_pattern(outcome.added.metrics) == before + 1
