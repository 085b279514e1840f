"""Hostile request lines and headers on both backends: every usage event is written, bounded to its column.

On PostgreSQL an 11-letter method, a 250-character path, a long model or forwarded-for used to fail the
whole write batch (SQLite does not enforce column lengths), taking everyone's events with it.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from aether_policy.gateway import create_app
from aether_policy.store import Store
from aether_policy.types import ASGIApp
from tests.gateway.conftest import Running, config_for
from tests.helpers import gate_for, loopback_plan, serve
from tests.standins import StandIn


@pytest.fixture
def store_options() -> dict[str, Any]:
    return {"flush_interval": 0.05}


def send(app: ASGIApp, requests: list[tuple[str, str, dict[str, object]]]) -> list[int]:
    """Over loopback HTTP, so the gateway's lifespan opens and closes its upstream clients; with h11, which
    passes any method token on (httptools answers 400 to methods it does not know)."""
    with serve(app, http="h11") as base, httpx.Client(base_url=base, timeout=10) as client:
        return [client.request(method, url, **options).status_code for method, url, options in requests]  # type: ignore[arg-type]


def test_hostile_methods_paths_models_and_forwarded_headers_are_all_recorded_bounded(
    store: Store, standin_server: tuple[str, StandIn], provider_keys: None
) -> None:
    _, key = store.create_key("acme")
    plan = loopback_plan()
    app = create_app(plan, store, config_for(standin_server[0]), gate_for(plan), forwarded_allow_ips="*")
    auth = {"authorization": f"Bearer {key}"}
    long_model = "gpt-" + "tellmeaboutlisbon" * 20
    statuses = send(
        app,
        [
            ("PROPPATCHXY", "/v1/chat/completions", {}),
            ("GET", "/" + "a" * 250 + "?q=" + "b" * 250, {}),
            (
                "POST",
                "/v1/chat/completions",
                {"headers": auth, "json": {"model": long_model, "messages": [{"role": "user", "content": "hi"}]}},
            ),
            ("GET", "/healthz", {"headers": {"x-forwarded-for": "9" * 300}}),
            ("GET", "/healthz", {"headers": {"x-forwarded-for": "2001:db8::1%secret"}}),
        ],
    )
    assert statuses == [405, 404, 200, 200, 200]
    store.flush()
    assert store.dropped == {"usage": 0, "quarantine": 0}
    events = [
        (e["method"], e["endpoint"], e["response_code"], e["model"], e["ip_address"]) for e in store.usage_events()
    ]
    assert events == [
        ("OTHER", "/v1/chat/completions", 405, None, "127.0.0.1"),
        ("GET", "(unmatched)", 404, None, "127.0.0.1"),
        ("POST", "/v1/chat/completions", 200, "gpt-*", "127.0.0.1"),
        ("GET", "/healthz", 200, None, None),
        ("GET", "/healthz", 200, None, "2001:db8::1"),
    ]


def test_a_model_name_only_a_pattern_routes_is_recorded_as_that_pattern_not_as_sent(gateway: Running) -> None:
    """The stand-in, like a proxy or a self-hosted server, answers for any name: `gpt-` and free text of model-name
    characters still reaches no usage event, however well the provider took it."""
    canary = "gpt-4o-alice.smith@example.com:projects/merger-with-initech"
    client = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=gateway.key, max_retries=0, timeout=10)
    with client:
        reply = client.chat.completions.create(model=canary, messages=[{"role": "user", "content": "hi"}])
        client.chat.completions.create(model="claude-3-5-haiku-latest", messages=[{"role": "user", "content": "hi"}])
    assert reply.model == canary  # the provider answered for it
    gateway.settle(2)
    assert [e["model"] for e in gateway.store.usage_events()] == ["gpt-*", "claude-3-5-haiku-latest"]
    assert b"alice.smith" not in gateway.db_file.read_bytes()
