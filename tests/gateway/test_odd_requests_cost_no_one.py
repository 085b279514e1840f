"""Through the real gateway: requests carrying over-long values share a write batch with everyone else's
usage events and a flagged record, and all of them land (both backends)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from aether_policy.gateway import create_app
from aether_policy.store import Store
from tests.gateway.conftest import config_for, store_with_key
from tests.helpers import gate_for, loopback_plan, serve
from tests.standins import StandIn


@pytest.fixture
def gateway(
    database_url: str, standin_server: tuple[str, StandIn], provider_keys: None
) -> Iterator[tuple[str, Store, str]]:
    upstream, _ = standin_server
    # A long interval: every request below is written in the same batch.
    store, key = store_with_key(database_url, flush_interval=2.0)
    plan = loopback_plan()
    with serve(create_app(plan, store, config_for(upstream), gate_for(plan))) as base:
        yield base, store, key
    store.close()


def settle(store: Store, events: int) -> None:
    """The middleware records after the client has its response: wait for the last one to be queued."""
    deadline = time.monotonic() + 10
    while store.usage_count() < events and time.monotonic() < deadline:
        store.flush()
        time.sleep(0.05)


def chat(model: str = "gpt-4o", content: str = "hello there") -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def test_odd_requests_in_a_batch_cost_no_one_their_usage_events_or_flagged_records(
    gateway: tuple[str, Store, str],
) -> None:
    base, store, key = gateway
    auth = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, timeout=10) as client:
        sent = [
            client.post("/v1/chat/completions", json=chat(), headers=auth),
            client.post("/v1/chat/completions", json=chat("gpt-4o-filter", "moderated by the upstream"), headers=auth),
            client.request("UNSUBSCRIBE", "/v1/chat/completions", headers=auth),  # 11 letters, a known method
            client.get("/v1/" + "a" * 250, headers=auth),
            client.post("/v1/chat/completions", json=chat("gpt-" + "x" * 296), headers=auth),
            client.post(
                "/v1/chat/completions",
                json=chat(),
                headers={**auth, "x-forwarded-for": ", ".join(["198.51.100.7"] * 30)},
            ),
            client.post("/v1/chat/completions", json=chat(), headers=auth),
        ]
    assert all(response.status_code < 500 for response in sent)
    settle(store, len(sent))
    assert store.usage_count() == len(sent)
    assert [item.reasons for item in store.list_quarantine()] == ["upstream_moderation:content_filter"]
    assert store.dropped == {"usage": 0, "quarantine": 0}
