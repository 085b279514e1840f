"""PolicyMiddleware around a plain ASGI app: what it records, keeps, strips and refuses."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import httpx
import pytest

from aether_policy.crypto import Cipher
from aether_policy.flagger import Flagger, flagger_for
from aether_policy.middleware import PolicyMiddleware, facts_of
from aether_policy.plan.gate import unseal
from aether_policy.sinks import MemorySink
from aether_policy.types import Receive, Scope, Send
from tests.helpers import TEST_KEY, gate_for, serve, shipped_plan

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "tell me about the weather in Lisbon"}]}


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body, answers JSON, sets two cookies (one declared) and says who the account is."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    facts = facts_of(scope)
    facts.account_id = "acct_1"
    facts.model = json.loads(body)["model"]
    facts.route = "/v1/chat/completions"
    facts.authenticated_content = True
    facts.offered["prompt_tokens"] = 12  # not declared by the policy: must be dropped
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"set-cookie", b"aether_session=abc; HttpOnly"),
                (b"set-cookie", b"tracker=xyz"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b'{"choices":[{"finish_reason":"stop"}],"echo":' + body + b"}"})


def wrapped(app: Any = echo_app, **options: Any) -> tuple[PolicyMiddleware, MemorySink]:
    sink = MemorySink()
    plan = shipped_plan()
    return PolicyMiddleware(app, plan, sink, gate=gate_for(plan), **options), sink


def post(middleware: PolicyMiddleware, body: Any = CHAT, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=middleware, client=("198.51.100.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.post("/v1/chat/completions", json=body, **kwargs)

    return asyncio.run(go())


def test_one_usage_event_per_request_with_only_declared_fields() -> None:
    middleware, sink = wrapped()
    post(middleware, headers={"user-agent": "OpenAI/Python 1.51.0", "authorization": "Bearer sk-gw-0123456789"})
    (event,) = sink.events
    assert set(event) == {
        "timestamp",
        "endpoint",
        "method",
        "response_code",
        "latency_ms",
        "model",
        "account_id",
        "error_class",
        "ip_address",
        "browser_family",
        "browser_major_version",
    }
    assert (event["endpoint"], event["response_code"], event["model"], event["account_id"]) == (
        "/v1/chat/completions",
        200,
        "gpt-4o",
        "acct_1",
    )
    assert (event["browser_family"], event["browser_major_version"]) == ("OpenAI/Python", "1")
    assert event["ip_address"] == "198.51.100.7"


def test_every_response_carries_the_policy_digest() -> None:
    middleware, _ = wrapped()
    assert post(middleware).headers["x-policy-digest"] == shipped_plan().digest


def test_an_undeclared_cookie_is_removed_and_a_declared_one_kept() -> None:
    middleware, _ = wrapped()
    cookies = post(middleware).headers.get_list("set-cookie")
    assert cookies == ["aether_session=abc; HttpOnly"]


def test_unflagged_content_is_not_kept() -> None:
    middleware, sink = wrapped()
    post(middleware)
    assert sink.records == []


def test_content_matching_a_policy_pattern_is_kept_sealed() -> None:
    middleware, sink = wrapped()
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "please write a ransomware for me"}]}
    post(middleware, body)
    (record,) = sink.records
    assert (record.trigger, record.reasons, record.account_id) == ("flagged", "pattern:malware_request", "acct_1")
    kept = unseal(Cipher(TEST_KEY), record.id, record.sealed)
    assert "write a ransomware" in kept["request"] and '"finish_reason":"stop"' in kept["response"]


def test_an_upstream_moderation_verdict_flags_the_request() -> None:
    async def filtered(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        facts_of(scope).account_id, facts_of(scope).authenticated_content = "acct_1", True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"choices":[{"finish_reason": "content_filter"}]}'})

    middleware, sink = wrapped(filtered)
    post(middleware)
    assert [r.reasons for r in sink.records] == ["upstream_moderation:content_filter"]


def test_a_marked_account_has_its_content_kept() -> None:
    middleware, sink = wrapped()
    sink.marked.add("acct_1")
    middleware.flagger = flagger_for(shipped_plan(), sink.is_marked)
    post(middleware)
    assert [(r.trigger, r.reasons) for r in sink.records] == [("account_marked", "account_marked")]


def test_a_failing_detector_stores_nothing_serves_the_request_and_is_counted() -> None:
    class Broken:
        name = "broken"

        def inspect(self, request_text: str, response_body: bytes) -> str | None:
            raise RuntimeError(request_text)

    middleware, sink = wrapped()
    middleware.flagger = Flagger([Broken(), *flagger_for(shipped_plan()).detectors])
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "please write a ransomware for me"}]}
    assert post(middleware, body).status_code == 200
    assert sink.records == []
    assert middleware.flagger.failures["broken"] == 1


def test_a_body_over_the_limit_is_refused_with_413() -> None:
    middleware, sink = wrapped(max_body_bytes=100)
    response = post(middleware, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 200}]})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert [e["response_code"] for e in sink.events] == [413]


def test_a_chunked_body_over_the_limit_is_refused_without_content_length() -> None:
    middleware, sink = wrapped(max_body_bytes=100)

    async def chunks() -> Any:
        for _ in range(5):
            yield b"x" * 50

    response = post(middleware, body=None, content=chunks())
    assert response.status_code == 413


def test_an_app_exception_becomes_a_generic_500_and_is_still_recorded() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise ValueError("the prompt was: tell me about the weather in Lisbon")

    middleware, sink = wrapped(failing)
    response = post(middleware)
    assert response.status_code == 500
    assert "Lisbon" not in response.text
    assert [(e["response_code"], e["error_class"]) for e in sink.events] == [(500, "ValueError")]


def test_a_log_record_quoting_the_prompt_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    async def chatty(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        logging.getLogger("some.library").warning("got body %s", message["body"].decode())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware, _ = wrapped(chatty)
    with caplog.at_level(logging.DEBUG):
        post(middleware)
    assert "Lisbon" not in caplog.text
    assert "got body [redacted]" in caplog.text  # the argument that quoted it, not the whole record


def test_non_http_scopes_pass_straight_through() -> None:
    seen: list[str] = []

    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    middleware, sink = wrapped(lifespan_app)
    asyncio.run(middleware({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert (seen, sink.events) == (["lifespan"], [])


def test_sse_chunks_reach_the_client_before_the_app_sends_the_last() -> None:
    release = threading.Event()

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
        while not release.is_set():  # the app cannot finish until the client has seen the first chunk
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    middleware, sink = wrapped(streaming)
    with serve(middleware) as base, httpx.stream("POST", f"{base}/v1/chat/completions", json=CHAT, timeout=10) as r:
        chunks = r.iter_raw()
        assert next(chunks) == b"data: first\n\n"
        release.set()
        assert b"".join(chunks) == b"data: [DONE]\n\n"
    assert [e["response_code"] for e in sink.events] == [200]


def test_a_client_disconnect_mid_stream_is_still_recorded() -> None:
    async def endless(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for _ in range(200):
            await send({"type": "http.response.body", "body": b"data: more\n\n", "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})

    middleware, sink = wrapped(endless)
    with serve(middleware) as base:
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=CHAT, timeout=10) as r:
            next(r.iter_raw())
        for _ in range(500):
            if sink.events:
                break
            threading.Event().wait(0.01)
    assert len(sink.events) == 1


def test_usage_is_json_serialisable_after_selection() -> None:
    middleware, sink = wrapped()
    post(middleware)
    json.dumps(sink.events[0], default=str)
