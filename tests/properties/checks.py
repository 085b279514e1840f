"""Send one scenario through the real gateway and report every property it breaks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from tests.properties.harness import Harness, Mark
from tests.properties.strategies import PATTERN_SUFFIX, Scenario, messages

WINDOW = timedelta(days=30)


@dataclass
class Outcome:
    scenario: Scenario
    prompt: str
    status: int
    mark: Mark
    other_responses: list[str]


def send(h: Harness, scenario: Scenario) -> Outcome:
    key = h.keys[scenario.account]
    prompt = (
        scenario.prompt + (PATTERN_SUFFIX if scenario.pattern else "") + (f" {key}" if scenario.key_in_prompt else "")
    )
    path = "/v1/chat/completions" if scenario.endpoint == "openai" else "/v1/messages"
    mark = h.mark()
    with httpx.Client(base_url=h.base, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
        body = messages(scenario, prompt)
        if scenario.stream:
            with client.stream("POST", path, json=body) as response:
                chunks = response.iter_bytes()
                for _ in chunks:
                    if scenario.disconnect:
                        break
                status = response.status_code
        else:
            status = client.post(path, json=body).status_code
    h.settle(mark)
    others = []
    with httpx.Client(base_url=h.base, headers={"authorization": f"Bearer {h.keys['other']}"}, timeout=10) as client:
        others.append(client.get("/v1/models").text)
        hello = {"model": "gpt-4o", "messages": [{"role": "user", "content": "a different caller"}]}
        others.append(client.post("/v1/chat/completions", json=hello).text)
    h.settle(Mark(mark.received, mark.quarantined, mark.usage + 1, mark.logs, mark.files))
    return Outcome(scenario, prompt, status, mark, others)


def prompt_in_no_sink(h: Harness, outcome: Outcome) -> list[str]:
    """Property 1: neither the prompt nor its response reaches any sink in plaintext, not even 16 characters."""
    found = h.leaks(outcome.prompt, outcome.mark, outcome.other_responses)
    return [f"prompt found in {sink}" for sink in found]


def kept_only_when_flagged(h: Harness, outcome: Outcome) -> list[str]:
    """Property 2: content is kept only when flagged, sealed, expiring no later than flag time + the window."""
    s = outcome.scenario
    new = h.store.list_quarantine()[outcome.mark.quarantined :]
    problems = []
    if s.must_be_kept:
        expected = {1}
    elif s.behaviour == "filter" and not s.key_in_prompt and outcome.status == 200:
        expected = {0, 1} if s.disconnect else {1}
    else:
        expected = {0}
    if len(new) not in expected:
        problems.append(f"{len(new)} records kept, expected {sorted(expected)}")
    for item in new:
        if item.expires_at - item.created_at > WINDOW:
            problems.append(f"record {item.id} expires {item.expires_at - item.created_at} after flagging")
    return problems


def caller_key_never_leaves(h: Harness, outcome: Outcome) -> list[str]:
    """Property 3: the caller's gateway key reaches no upstream and no sink."""
    key = h.keys[outcome.scenario.account]
    problems = []
    for received in h.standin.received[outcome.mark.received :]:
        if key in str(received.headers) or key in str(received.body):
            problems.append(f"upstream {received.path} received the caller's key")
    if not outcome.scenario.key_in_prompt:  # when the caller pasted it into the prompt, property 1 covers it
        problems += [f"caller key found in {sink}" for sink in h.leaks(key, outcome.mark, outcome.other_responses)]
    return problems


def usage_within_policy(h: Harness, outcome: Outcome) -> list[str]:
    """Property 4: usage events carry only the fields the policy allows."""
    rows = h.store.usage_events()[outcome.mark.usage :]
    problems = []
    for row in rows:
        stored = {column for column, value in row.items() if value is not None and column != "id"}
        if not stored <= h.plan.usage.columns:
            problems.append(f"usage event stores undeclared {sorted(stored - h.plan.usage.columns)}")
    return problems
