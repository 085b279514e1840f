"""/metrics is one more sink the privacy proof scans: a gateway whose metrics quoted the prompt would fail it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from aether_policy._context import inflight_content
from aether_policy.gateway import metrics as metrics_module
from tests.properties import checks
from tests.properties.checks import send
from tests.properties.harness import running_gateway
from tests.properties.strategies import Scenario


def test_a_metric_label_quoting_the_prompt_is_caught_as_a_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    original = metrics_module._CountingSink.record_usage

    def quoting(self: Any, event: Mapping[str, Any]) -> None:
        inflight = inflight_content.get()
        if inflight is not None:  # a careless label: the request body
            self._metrics.flagged.labels(inflight.body.decode("utf-8", "replace")[:200], "leak").inc()
        original(self, event)

    monkeypatch.setattr(metrics_module._CountingSink, "record_usage", quoting)
    with running_gateway() as harness:
        scenario = Scenario(
            "a prompt that must never be a metric label",
            "openai",
            "gpt",
            "ok",
            False,
            "clean",
            False,
            False,
            "string",
            False,
        )
        found = checks.prompt_in_no_sink(harness, send(harness, scenario))
    assert found == ["prompt found in metrics"]


def test_a_flagged_prompt_is_counted_by_trigger_and_never_quoted() -> None:
    with running_gateway() as harness:
        scenario = Scenario(
            "a prompt that must never be a metric label",
            "openai",
            "gpt",
            "ok",
            False,
            "clean",
            True,
            False,
            "string",
            False,
        )
        outcome = send(harness, scenario)
        assert checks.prompt_in_no_sink(harness, outcome) == []
        text = harness.metrics_text()
    assert 'aether_flagged_requests_total{detector="pattern",trigger="flagged"} 1.0' in text
