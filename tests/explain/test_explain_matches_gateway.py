"""Property: for any request, `explain` says what the running gateway actually does with it.

The same request body goes to the real gateway over loopback (with a stand-in provider) and to `explain`; what
the gateway recorded, kept and sent is compared with what the explanation says it would record, keep and send.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aether_policy import load_policy_text
from aether_policy.explain.dry_run import DryRun, explain_request
from aether_policy.gateway import create_app
from aether_policy.model import Policy
from aether_policy.plan import Plan
from aether_policy.store import Store
from tests.gateway.conftest import PROVIDER_KEYS, config_for
from tests.helpers import gate_for, loopback_plan, loopback_policy_text, serve
from tests.properties.strategies import PATTERN_SUFFIX, Scenario, messages, prompts
from tests.standins import StandIn

ENDPOINT = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


@dataclass
class Live:
    base: str
    upstream: str
    store: Store
    standin: StandIn
    keys: dict[str, str]
    plan: Plan
    policy: Policy


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PROVIDER_KEYS.items():
            patch.setenv(name, value)
        standin = StandIn()
        with serve(standin.app()) as upstream:
            folder: Path = tmp_path_factory.mktemp("explain")
            store = Store(f"sqlite:///{folder / 'aether.db'}", flush_interval=0.005)
            store.migrate()
            keys = {name: store.create_key(name)[1] for name in ("clean", "marked")}
            store.mark_account("marked", "property test")
            plan = loopback_plan()
            app = create_app(plan, store, config_for(upstream), gate_for(plan))
            with serve(app) as base:
                yield Live(base, upstream, store, standin, keys, plan, load_policy_text(loopback_policy_text()).policy)
            store.close()


@st.composite
def requests(draw: st.DrawFn) -> Scenario:
    stream = draw(st.booleans())
    return Scenario(
        prompt=draw(prompts()),
        endpoint=draw(st.sampled_from(["openai", "anthropic"])),
        family=draw(st.sampled_from(["gpt", "claude"])),
        behaviour=draw(st.sampled_from(["ok", "ok", "filter"])),
        stream=stream,
        account=draw(st.sampled_from(["clean", "clean", "marked"])),
        pattern=draw(st.booleans()),
        disconnect=False,
        shape=draw(st.sampled_from(["string", "parts", "tools"])),
        key_in_prompt=draw(st.integers(0, 5)) == 0,
    )


def _settled(live: Live, before: int) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while live.store.usage_count() <= before and time.monotonic() < deadline:
        live.store.flush()
        time.sleep(0.005)
    return live.store.usage_events()[-1]


@settings(max_examples=25)
@given(scenario=requests())
def test_explain_says_what_the_gateway_records_keeps_and_sends(live: Live, scenario: Scenario) -> None:
    key = live.keys[scenario.account]
    prompt = (
        scenario.prompt + (PATTERN_SUFFIX if scenario.pattern else "") + (f" {key}" if scenario.key_in_prompt else "")
    )
    body = json.dumps(messages(scenario, prompt)).encode()
    endpoint = ENDPOINT[scenario.endpoint]
    usage_before, kept_before, sent_before = (
        live.store.usage_count(),
        {k.id for k in live.store.list_quarantine()},
        len(live.standin.received),
    )
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    response = httpx.post(f"{live.base}{endpoint}", content=body, headers=headers, timeout=10)
    event = _settled(live, usage_before)
    kept = [k for k in live.store.list_quarantine() if k.id not in kept_before]
    received = live.standin.received[sent_before:]

    run = DryRun(
        body,
        datetime.now(UTC),
        endpoint,
        scenario.account,
        scenario.account == "marked",
        headers=(("authorization", f"Bearer {key}"),),
        moderated=scenario.behaviour == "filter",
    )
    explained = explain_request(live.policy, live.plan, config_for(live.upstream), run)

    assert explained["request"]["status"] == response.status_code
    recorded = {c["column"]: c["value"] for c in explained["usage"]["recorded"]}
    assert set(recorded) == {k for k, v in event.items() if v is not None and k != "id"}
    for column in ("endpoint", "method", "response_code", "model", "browser_family"):
        assert recorded.get(column) == event[column]
    content = explained["content"]
    assert content["kept"] == bool(kept)
    if kept:
        assert content["trigger"] == kept[0].trigger
        assert [r["reason"] for r in content["reasons"]] == kept[0].reasons.split(",")
        window = datetime.fromisoformat(content["until"]) - run.now
        assert window == kept[0].expires_at - kept[0].created_at
    assert [e["path"] for e in explained["egress"]] == [r.path for r in received]
    for egress, actual in zip(explained["egress"], received, strict=True):
        assert egress["recipient"] == f"recipients.{'openai' if actual.path.endswith('completions') else 'anthropic'}"
        assert set(egress["headers_sent"]) - {"connection"} == set(actual.headers) - {"connection"}
        assert egress["body_fields"] == list(actual.body)
