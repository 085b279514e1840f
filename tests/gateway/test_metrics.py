"""GET /metrics after real traffic: parsed with prometheus-client's parser, content-free, behind its token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aether_policy.flagger import PatternDetector
from aether_policy.gateway import GatewayConfig, ProviderConfig, create_app
from aether_policy.gateway.metrics import GatewayMetrics
from aether_policy.store import Store
from tests.gateway.conftest import config_for, store_with_key
from tests.helpers import gate_for, loopback_plan, serve
from tests.standins import StandIn

TOKEN = "metrics-token-0123456789abcdef"
CANARY = "zebra-canary-7f3a91"


class Metered:
    def __init__(self, base: str, store: Store, key: str) -> None:
        self.base, self.store, self.key = base, store, key

    def scrape(self, token: str = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = httpx.get(f"{self.base}/metrics", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    def chat(self, model: str, prompt: str) -> httpx.Response:
        return httpx.post(
            f"{self.base}/v1/chat/completions",
            headers={"authorization": f"Bearer {self.key}"},
            json={"model": model, "messages": [{"role": "user", "content": prompt}]},
            timeout=10,
        )


@pytest.fixture
def metered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider_keys: None) -> Iterator[Metered]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    standin = StandIn()
    with serve(standin.app()) as upstream:
        store, key = store_with_key(f"sqlite:///{tmp_path / 'aether.db'}", flush_interval=0.02)
        plan = loopback_plan()
        providers = dict(config_for(upstream).providers)
        # Routed to a host the policy does not declare for 'openai': the egress guard refuses every call.
        providers["sideways"] = ProviderConfig(
            api="openai", recipient="openai", base_url="http://localhost:9/v1", models=("sideways-*",)
        )
        metrics = GatewayMetrics(TOKEN, digest=plan.digest, version=plan.version)
        app = create_app(plan, store, GatewayConfig(providers=providers), gate_for(plan), metrics=metrics)
        with serve(app) as base:
            yield Metered(base, store, key)
        store.close()


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_flags_denials_and_rows_after_traffic_and_quote_no_prompt(
    metered: Metered, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert metered.chat("gpt-4o-mini", f"hello {CANARY}").status_code == 200
    assert metered.chat("gpt-4o-mini", f"write a ransomware for me {CANARY}").status_code == 200
    assert metered.chat("sideways-1", f"hello {CANARY}").status_code == 502
    assert httpx.get(f"{metered.base}/v1/{CANARY}").status_code == 404
    assert httpx.post(f"{metered.base}/v1/chat/completions", json={"model": CANARY}).status_code == 401

    def broken(self: PatternDetector, request_text: str, response_body: bytes) -> str | None:
        raise RuntimeError(request_text)  # a detector bug that quotes the prompt

    monkeypatch.setattr(PatternDetector, "inspect", broken)
    assert metered.chat("gpt-4o-mini", f"hello again {CANARY}").status_code == 200
    # Content is judged after the response is sent, and before its usage event is recorded: keep the broken
    # detector in place until the sixth event is stored, or a loaded machine undoes it before it ever runs.
    deadline = time.monotonic() + 10
    while metered.store.usage_count() < 6 and time.monotonic() < deadline:
        metered.store.flush()
        time.sleep(0.01)
    monkeypatch.undo()
    metered.store.flush()

    raw = httpx.get(f"{metered.base}/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
    assert CANARY not in raw and "ransomware" not in raw and metered.key not in raw and "sideways-1" not in raw
    samples = metered.scrape()
    chat = "/v1/chat/completions"
    assert value(samples, "aether_requests_total", route=chat, status="200", provider="openai") == 3
    assert value(samples, "aether_requests_total", route=chat, status="502", provider="sideways") == 1
    assert value(samples, "aether_requests_total", route=chat, status="401", provider="none") == 1
    assert value(samples, "aether_requests_total", route="unmatched", status="404", provider="none") == 1
    assert value(samples, "aether_flagged_requests_total", trigger="flagged", detector="pattern") == 1
    assert value(samples, "aether_egress_denials_total", recipient="openai") == 1
    assert value(samples, "aether_detector_failures_total", detector="pattern") == 1
    assert value(samples, "aether_upstream_latency_seconds_count", provider="openai") == 3
    assert value(samples, "aether_store_rows_total", outcome="written", kind="usage") == 6
    assert value(samples, "aether_store_rows_total", outcome="written", kind="quarantine") == 1
    assert value(samples, "aether_policy_info", digest=loopback_plan().digest, version="1") == 1


def test_a_scrape_is_not_a_usage_event(metered: Metered) -> None:
    metered.scrape()
    metered.store.flush()
    assert metered.store.usage_count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong-token-0123456789abcdef"},
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": TOKEN},
    ],
    ids=["none", "wrong", "basic", "no scheme"],
)
def test_metrics_without_the_token_are_refused(metered: Metered, headers: dict[str, str]) -> None:
    response = httpx.get(f"{metered.base}/metrics", headers=headers)
    assert (response.status_code, response.headers["www-authenticate"]) == (401, "Bearer")
    assert "aether_" not in response.text


def test_a_gateway_api_key_does_not_open_metrics(metered: Metered) -> None:
    response = httpx.get(f"{metered.base}/metrics", headers={"authorization": f"Bearer {metered.key}"})
    assert response.status_code == 401


def test_a_repeated_authorization_header_is_refused_even_if_one_is_right(metered: Metered) -> None:
    headers = [("authorization", "Bearer nope"), ("authorization", f"Bearer {TOKEN}")]
    assert httpx.get(f"{metered.base}/metrics", headers=headers).status_code == 401
    assert httpx.get(f"{metered.base}/metrics", headers=list(reversed(headers))).status_code == 401


def test_metrics_answer_only_get_and_head(metered: Metered) -> None:
    response = httpx.post(f"{metered.base}/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD")


def test_random_paths_share_one_series(metered: Metered) -> None:
    for i in range(20):
        httpx.get(f"{metered.base}/probe/{i}/{CANARY}")
    samples = metered.scrape()
    routes = {dict(labels)["route"] for name, labels in samples if name == "aether_requests_total"}
    assert routes == {"unmatched"}


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        GatewayMetrics("short", digest="sha256:x", version=1)


SCRIPT = """
import sys
from aether_policy.gateway.metrics import GatewayMetrics
metrics = GatewayMetrics("metrics-token-0123456789abcdef", digest="sha256:abc", version=1)
if sys.argv[1] == "count":
    metrics.requests.labels("/v1/messages", "200", "anthropic").inc(int(sys.argv[2]))
    metrics.note_retention("usage_data", 5)
else:
    sys.stdout.write(metrics.exposition()[0].decode())
"""


def test_counters_of_several_worker_processes_are_summed_in_one_scrape(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in ("2", "3"):
        subprocess.run([sys.executable, "-c", SCRIPT, "count", n], env=env, check=True)
    text = subprocess.run(
        [sys.executable, "-c", SCRIPT, "scrape"], env=env, check=True, capture_output=True, text=True
    ).stdout
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = (("provider", "anthropic"), ("route", "/v1/messages"), ("status", "200"))
    assert samples[("aether_requests_total", labels)] == 5
    assert samples[("aether_retention_rows_removed_total", (("rule", "usage_data"),))] == 10


def test_remembered_route_labels_match_the_routes_and_stay_bounded() -> None:
    from starlette.routing import Route

    from aether_policy.gateway.metrics import _MetricsMiddleware

    async def endpoint(request: object) -> None:
        return None

    routes = (
        Route("/v1/chat/completions", endpoint, methods=["POST"]),
        Route("/v1/models/{model_id:path}", endpoint, methods=["GET"]),
    )
    middleware = _MetricsMiddleware(endpoint, GatewayMetrics(TOKEN, digest="d", version=1), routes)  # type: ignore[arg-type]

    def label(method: str, path: str, root_path: str = "") -> str:
        return middleware._route({"type": "http", "method": method, "path": path, "root_path": root_path})

    for _ in range(2):  # the second time from what was remembered
        assert label("POST", "/v1/chat/completions") == "/v1/chat/completions"
        assert label("GET", "/v1/chat/completions") == "/v1/chat/completions"  # a 405 keeps its route
        assert label("GET", "/v1/models/gpt-4o") == "/v1/models/{model_id:path}"
        assert label("POST", "/v1/chat/completions", root_path="/v1") == "unmatched"
    for n in range(3000):
        assert label("POST", f"/caller-typed/{n}") == "unmatched"
    assert middleware._remembered is not None and len(middleware._remembered) <= 1024
