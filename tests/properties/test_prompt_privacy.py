"""The product's promise, proven against the real gateway: no unflagged prompt is stored, anywhere.

Each property sends hypothesis-chosen requests (any Unicode prompt, OpenAI or Anthropic endpoint, either
provider, streaming or not, clean, pattern-flagged, upstream-moderated or marked-account, and upstreams that
succeed, fail quoting the prompt, time out, reset, cut streams or send malformed JSON; clients that leave
mid-stream) through the gateway over loopback HTTP, then scans every sink: every table of the SQLite file,
its raw bytes and WAL, every log record of every logger at DEBUG, every file written under the working and
temp directories, and the responses given to another client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import POSTGRES_URL
from tests.properties import checks
from tests.properties.checks import send
from tests.properties.harness import Harness, running_gateway
from tests.properties.strategies import Scenario, scenarios

proof = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "postgresql" and POSTGRES_URL is None:
        pytest.skip("set AETHER_TEST_POSTGRES_URL to run the PostgreSQL tests")
    with running_gateway(database_url=POSTGRES_URL if request.param == "postgresql" else None) as h:
        control = send(
            h, Scenario("a control prompt", "openai", "gpt", "ok", False, "clean", False, False, "string", False)
        )
        h.ambient = "\n".join([*h.recorder.lines, *control.other_responses, h.tables_text(), h.metrics_text()])
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
def test_the_callers_gateway_key_never_reaches_an_upstream_or_a_sink(harness: Harness, scenario: Scenario) -> None:
    assert checks.caller_key_never_leaves(harness, send(harness, scenario)) == []


@proof
@given(scenarios())
def test_usage_events_carry_only_declared_fields(harness: Harness, scenario: Scenario) -> None:
    assert checks.usage_within_policy(harness, send(harness, scenario)) == []
