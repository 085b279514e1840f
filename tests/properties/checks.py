"""Send one scenario through the real gateway and report every property it breaks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any

import httpx

from tests.properties.harness import Added, Harness, Mark
from tests.properties.matching import Matcher
from tests.properties.strategies import (
    PATTERN_SUFFIX,
    ROUTES,
    ROUTING_PATTERNS,
    Request,
    Scenario,
    build,
    tokens_of,
)
from tests.standins import Received

WINDOW = timedelta(days=30)
APP_ROUTES = frozenset({*ROUTES.values(), "/v1/models", "/healthz", "/.well-known/privacy-policy.json"})
# RFC 9110's methods and PATCH: a usage event may name one of these, never a caller's own token.
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
BEHAVIOURS = ("filter", "error400", "error500", "slow", "reset", "cut", "malformed")


@dataclass
class Outcome:
    scenario: Scenario
    prompt: str
    request: Request
    upstream: list[Received]  # what this request made the gateway send upstream
    status: int | None  # None: no HTTP answer at all
    failure: str | None  # how the exchange failed when there was no answer
    mark: Mark
    counted: bool  # the request's usage event was stored
    other_statuses: list[int | None]
    other_responses: list[str]
    others_counted: bool
    added: Added


def send(h: Harness, scenario: Scenario) -> Outcome:
    key = h.keys[scenario.account]
    prompt = (
        scenario.prompt + (PATTERN_SUFFIX if scenario.pattern else "") + (f" {key}" if scenario.key_in_prompt else "")
    )
    request = build(scenario, prompt, h.keys)
    mark = h.mark()
    status, failure = None, None
    try:
        sent = h.client.build_request(request.method, request.target, headers=request.headers, content=request.body)
        response = h.client.send(sent, stream=True)
        try:
            status = response.status_code
            for _ in response.iter_raw():
                if scenario.disconnect:
                    break
        finally:
            response.close()
    except httpx.LocalProtocolError:
        raise  # the client refused to send it: a bug of the strategy, not a property of the gateway
    except httpx.HTTPError as error:
        failure = type(error).__name__
    counted = h.settle(mark.usage + 1)
    upstream = h.standin.received[mark.received :]  # before the other client's requests reach it too
    statuses: list[int | None] = []
    others = []
    other = {"authorization": f"Bearer {h.keys['other']}"}
    for method, path, body in (
        ("GET", "/v1/models", None),
        ("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}),
    ):
        try:
            answer = h.client.request(method, path, json=body, headers=other)
            statuses.append(answer.status_code)
            others.append(answer.text)
        except httpx.HTTPError as error:
            statuses.append(None)
            others.append(type(error).__name__)
    others_counted = h.settle(mark.usage + 3)
    return Outcome(
        scenario, prompt, request, upstream, status, failure, mark, counted, statuses, others, others_counted, h.added()
    )


def _rows_values(rows: list[dict[str, Any]]) -> list[object]:
    return [value for row in rows for value in row.values()]


def sinks_holding(h: Harness, outcome: Outcome, secret: str, *, whole: str | None = None) -> list[str]:
    """Every sink that holds a 16-character fragment of `secret` (plain or escaped) that is not ambient, or a
    stored value that is the whole of a short `secret` (or of `whole`, a caller's whole free-text value)."""
    matchers = [m for m in (Matcher(secret, h.ambient, h.vocabulary),) if m]
    if whole is not None and whole != secret:
        extra = Matcher(whole, h.ambient, h.vocabulary)
        extra.pieces = frozenset()  # its fragments are the secret's own
        if extra:
            matchers.append(extra)
    found = []
    for matcher in matchers:
        for name, text, before, decode in outcome.added.texts():
            if name not in found and matcher.in_text(text, before, decode=decode):
                found.append(name)
        for table, rows in outcome.added.rows.items():
            if matcher.in_values(_rows_values(rows)) and f"table {table}" not in found:
                found.append(f"table {table}")
        if matcher.in_text("\n".join(outcome.other_responses)) and "other clients' responses" not in found:
            found.append("other clients' responses")
    return found


def prompt_in_no_sink(h: Harness, outcome: Outcome) -> list[str]:
    """Property 1: neither the prompt nor its response reaches any sink in plaintext, not even 16 characters,
    nor (a short one) as a whole stored value; nor does a model string made of the caller's free text, nor the
    canary in a model name a provider answered for."""
    free_text_model = outcome.scenario.wire.model in ("prompt_in_model", "unrouted_prompt")
    whole = outcome.request.model if free_text_model else None
    found = [f"prompt found in {sink}" for sink in sinks_holding(h, outcome, outcome.prompt, whole=whole)]
    if outcome.scenario.shape == "tokens":
        # Token ids are the prompt too: as a sink would print the list, with or without spaces.
        tokens = [str(t) for t in tokens_of(outcome.prompt)]
        for spelled in (", ".join(tokens), ",".join(tokens)):
            found += [f"prompt tokens found in {sink}" for sink in sinks_holding(h, outcome, spelled)]
    if outcome.scenario.wire.model == "canary_model":
        found += [f"model canary found in {sink}" for sink in sinks_holding(h, outcome, outcome.scenario.model_canary)]
    return list(dict.fromkeys(found))


def recorded_model(model: str) -> str | None:
    """What a usage event may say of a routed `model`: the configs list only patterns, so the pattern."""
    patterns = (pattern for patterns in ROUTING_PATTERNS.values() for pattern in patterns)
    return next((pattern for pattern in patterns if fnmatchcase(model, pattern)), None)


def effective_behaviour(model: str) -> str:
    return next((b for b in BEHAVIOURS if model.endswith(f"-{b}")), "ok")


def kept_only_when_flagged(h: Harness, outcome: Outcome) -> list[str]:
    """Property 2: content is kept only for an accepted, flagged request, sealed, expiring no later than flag
    time + the window; never for a request the gateway rejected (unauthenticated, unrouted, unparsable)."""
    s = outcome.scenario
    new = h.store.list_quarantine()[outcome.mark.quarantined :]
    problems = []
    if s.must_be_kept:
        expected = {1}
    elif (
        s.accepted
        and s.upstream_can_moderate
        and effective_behaviour(s.model) == "filter"
        and not s.key_in_prompt
        and outcome.status == 200
    ):
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
    """Property 3: no credential the caller sent (valid, unknown, revoked, repeated, in the query string)
    reaches an upstream or a sink; a request carrying conflicting credentials reaches no upstream at all."""
    pasted = h.keys[outcome.scenario.account] if outcome.scenario.key_in_prompt else None
    problems = []
    received = outcome.upstream
    if outcome.scenario.wire.conflicting and received:
        problems.append("a request with conflicting credentials was sent upstream")
    for credential in dict.fromkeys(outcome.request.credentials):
        for item in received:
            if credential in str(item.headers) or credential in str(item.body):
                problems.append(f"upstream {item.path} received a caller credential")
        if credential != pasted:  # a key pasted into the prompt is property 1's business
            problems += [f"caller credential found in {sink}" for sink in sinks_holding(h, outcome, credential)]
    return problems


def usage_within_policy(h: Harness, outcome: Outcome) -> list[str]:
    """Property 4: usage events carry only the fields the policy declares, each derived and bounded: the
    matched route (one fixed value for any other path), a standard method (one fixed value for any other), the
    parsed top-level model of an accepted request, recorded as the pattern that routed it (the configs list no
    name), and no value longer than its column."""
    from aether_policy.store import tables

    rows = outcome.added.rows.get("usage_events", [])
    request, s = outcome.request, outcome.scenario
    sent_path = request.target.split("?", 1)[0]
    problems = []
    for row in rows[:1]:  # the example's own event; the other two are the other client's
        stored = {column for column, value in row.items() if value is not None and column != "id"}
        if not stored <= h.plan.usage.columns:
            problems.append(f"usage event stores undeclared {sorted(stored - h.plan.usage.columns)}")
        for column in tables.usage_events.columns:
            limit = getattr(column.type, "length", None)
            value = row.get(column.name)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                problems.append(f"usage {column.name} is {len(value)} characters, over its column's {limit}")
        endpoint, method, model = row.get("endpoint"), row.get("method"), row.get("model")
        if endpoint is not None and endpoint not in APP_ROUTES:
            if sent_path.startswith(endpoint):
                problems.append(f"usage endpoint is the raw request path, or a cut of it: {endpoint[:60]!r}")
            h.unmatched_endpoints.add(endpoint)
            if len(h.unmatched_endpoints) > 1:
                problems.append(f"unmatched paths recorded as {len(h.unmatched_endpoints)} different endpoints")
        if method is not None and method not in STANDARD_METHODS:
            if request.method.startswith(method):
                problems.append(f"usage method is the caller's own token, or a cut of it: {method!r}")
            h.other_methods.add(method)
            if len(h.other_methods) > 1:
                problems.append(f"other methods recorded as {len(h.other_methods)} different values")
        if model:
            if not s.accepted:
                problems.append(f"a rejected request's usage event names model {model[:60]!r}")
            elif model != recorded_model(request.model):
                problems.append(f"usage model {model[:60]!r} is not the pattern that routed the top-level model")
    return problems


def every_request_answered_and_counted(h: Harness, outcome: Outcome) -> list[str]:
    """Property 5: one request never costs anyone their service or their record. It gets an HTTP answer that is
    not the gateway's internal error; it is counted; another caller is then served and counted; the server
    writes no traceback and no logging error."""
    problems = []
    if outcome.status is None:
        problems.append(f"no HTTP answer ({outcome.failure})")
    elif outcome.status == 500:
        problems.append("answered 500: the gateway failed on this request")
    if not outcome.counted:
        problems.append("the request's usage event was not stored")
    if outcome.other_statuses != [200, 200]:
        problems.append(f"another caller was answered {outcome.other_statuses} afterwards")
    elif not outcome.others_counted:
        problems.append("another caller's usage events were not stored")
    for marker in ("Traceback (most recent call last)", "--- Logging error ---"):
        if marker in outcome.added.stderr:
            problems.append(f"the server wrote {marker!r} to stderr")
    return problems
