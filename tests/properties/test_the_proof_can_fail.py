"""A property suite that could never fail proves nothing: with a store that leaks, hypothesis must find it,
and shrink it to a minimal counterexample."""

from __future__ import annotations

from hypothesis import HealthCheck, find, settings

from tests.properties import checks
from tests.properties.checks import send
from tests.properties.harness import running_gateway
from tests.properties.strategies import Scenario, scenarios


def test_a_leaky_store_is_caught_with_a_minimal_counterexample() -> None:
    with running_gateway(leaky=True) as harness:

        def leaks(scenario: Scenario) -> bool:
            return bool(checks.prompt_in_no_sink(harness, send(harness, scenario)))

        counterexample = find(
            scenarios(),
            leaks,
            settings=settings(
                max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
            ),
        )
        found = checks.prompt_in_no_sink(harness, send(harness, counterexample))
    assert "prompt found in database tables" in found
    # Shrunk to the simplest request there is: a plain, non-streaming OpenAI call that succeeded.
    simplest = (counterexample.endpoint, counterexample.behaviour, counterexample.stream, counterexample.shape)
    assert simplest == ("openai", "ok", False, "string")
