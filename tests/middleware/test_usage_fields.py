"""Usage-event fields are derived from the request and bounded, never copied from what the caller typed;
content is judged only once the app has authenticated and accepted it."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_policy.derive import TrustedProxies
from aether_policy.middleware import PolicyMiddleware, facts_of
from aether_policy.sinks import MemorySink
from aether_policy.types import Receive, Scope, Send
from tests.helpers import gate_for, shipped_plan

FLAGGED = {"model": "gpt-4o", "messages": [{"role": "user", "content": "please write a ransomware for me"}]}


async def chat(request: Request) -> JSONResponse:
    """Authenticates like a real app: only a caller with the right key gets its content accepted."""
    facts = facts_of(request.scope)
    body = await request.json()
    if request.headers.get("authorization") == "Bearer sk-good-0123456789":
        facts.account_id = "acct_1"
        facts.model = body.get("model")
        facts.authenticated_content = True
        return JSONResponse({"choices": [{"finish_reason": "stop"}]})
    return JSONResponse({"error": "unauthorised"}, status_code=401)


async def item(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["item_id"]})


def app(**options: Any) -> tuple[PolicyMiddleware, MemorySink]:
    starlette = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/items/{item_id}", item, methods=["GET"]),
        ]
    )
    sink, plan = MemorySink(), shipped_plan()
    return PolicyMiddleware(starlette, plan, sink, gate=gate_for(plan), **options), sink


def call(
    middleware: Any, method: str, url: str, client: tuple[str, int] = ("198.51.100.7", 5000), **kwargs: Any
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=middleware, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            return await http.request(method, url, **kwargs)

    return asyncio.run(go())


GOOD = {"authorization": "Bearer sk-good-0123456789"}


def test_the_endpoint_is_the_route_template_never_the_raw_path_or_query() -> None:
    middleware, sink = app()
    call(middleware, "GET", "/items/alice-secret-note?api_key=sk-live-abcdefghijklmnop")
    call(middleware, "POST", "/v1/chat/completions?api_key=sk-live-abcdefghijklmnop", json=FLAGGED, headers=GOOD)
    assert [e["endpoint"] for e in sink.events] == ["/items/{item_id}", "/v1/chat/completions"]


def test_an_unmatched_path_is_recorded_as_one_fixed_value() -> None:
    middleware, sink = app()
    response = call(middleware, "GET", "/tell-me-about-the-weather-in-lisbon-" + "x" * 300)
    assert response.status_code == 404
    assert [(e["endpoint"], e["response_code"]) for e in sink.events] == [("(unmatched)", 404)]


def test_a_wrong_method_on_a_route_is_recorded_with_that_routes_template() -> None:
    middleware, sink = app()
    assert call(middleware, "GET", "/v1/chat/completions").status_code == 405
    assert [(e["endpoint"], e["method"]) for e in sink.events] == [("/v1/chat/completions", "GET")]


def test_an_eleven_letter_method_is_recorded_as_other() -> None:
    middleware, sink = app()
    call(middleware, "PROPPATCHXY", "/items/1")
    assert [e["method"] for e in sink.events] == ["OTHER"]


def test_a_body_too_large_records_the_route_template_without_reaching_the_app() -> None:
    middleware, sink = app(max_body_bytes=100)
    response = call(middleware, "PUT", "/items/alice-secret-note?q=secret", content=b"x" * 500, headers=GOOD)
    assert response.status_code == 413
    assert [(e["endpoint"], e["response_code"], e["account_id"]) for e in sink.events] == [
        ("/items/{item_id}", 413, None)
    ]


def test_a_model_string_in_the_body_is_never_recorded_by_the_middleware_itself() -> None:
    """The old middleware took the first `"model": "…"` anywhere in the body: here a tool input's."""
    middleware, sink = app()
    body = {
        "messages": [{"role": "user", "content": [{"type": "tool_use", "input": {"model": "my diary entry"}}]}],
        "model": "claude-3-5-haiku-latest",
    }
    call(middleware, "POST", "/v1/chat/completions", json=body, headers={"authorization": "Bearer wrong-key-000"})
    assert [(e["response_code"], e["model"]) for e in sink.events] == [(401, None)]


@pytest.mark.parametrize(
    "model", ["gpt-4o please summarise my medical record", "gpt-" + "a" * 200, "gpt-4o\n", 'gpt-"quoted"', 42]
)
def test_a_model_the_app_names_is_recorded_only_if_it_is_a_short_model_name(model: Any) -> None:
    middleware, sink = app()
    call(middleware, "POST", "/v1/chat/completions", json={**FLAGGED, "model": model}, headers=GOOD)
    assert [e["model"] for e in sink.events] == [None]


def test_a_provider_model_name_is_recorded() -> None:
    middleware, sink = app()
    model = "ft:gpt-4o-mini-2024-07-18:acme:support_v2:9xYz"
    call(middleware, "POST", "/v1/chat/completions", json={**FLAGGED, "model": model}, headers=GOOD)
    assert [e["model"] for e in sink.events] == [model]


def test_unauthenticated_content_is_never_flagged_or_kept() -> None:
    middleware, sink = app()
    response = call(middleware, "POST", "/v1/chat/completions", json=FLAGGED, headers={"authorization": "Bearer no"})
    assert response.status_code == 401
    assert sink.records == []


def test_authenticated_accepted_content_is_flagged_and_kept() -> None:
    middleware, sink = app()
    call(middleware, "POST", "/v1/chat/completions", json=FLAGGED, headers=GOOD)
    assert [(r.trigger, r.account_id) for r in sink.records] == [("flagged", "acct_1")]


def test_an_app_that_says_nothing_has_nothing_judged_or_kept() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        facts_of(scope).account_id = "acct_1"  # an account alone does not say the body is accepted content
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"choices":[{"finish_reason":"content_filter"}]}'})

    sink, plan = MemorySink(), shipped_plan()
    sink.marked.add("acct_1")
    call(PolicyMiddleware(silent, plan, sink, gate=gate_for(plan)), "POST", "/chat", json=FLAGGED)
    assert (sink.records, [e["endpoint"] for e in sink.events]) == ([], ["(unmatched)"])


def test_content_accepted_without_an_account_is_not_judged() -> None:
    async def anonymous(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        facts_of(scope).authenticated_content = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sink, plan = MemorySink(), shipped_plan()
    call(PolicyMiddleware(anonymous, plan, sink, gate=gate_for(plan)), "POST", "/chat", json=FLAGGED)
    assert sink.records == []


def test_x_forwarded_for_from_loopback_is_ignored_unless_the_proxy_is_named() -> None:
    headers = {"x-forwarded-for": "203.0.113.9"}
    middleware, sink = app()
    call(middleware, "GET", "/items/1", client=("127.0.0.1", 5000), headers=headers)
    named, named_sink = app(forwarded_allow_ips="127.0.0.1")
    call(named, "GET", "/items/1", client=("127.0.0.1", 5000), headers=headers)
    assert [e["ip_address"] for e in sink.events + named_sink.events] == ["127.0.0.1", "203.0.113.9"]


def test_the_client_is_the_right_most_address_no_named_proxy_wrote() -> None:
    middleware, sink = app(forwarded_allow_ips="10.0.0.0/8")
    # The client wrote the first entry itself; the proxy at 10.0.0.2 appended the address it saw.
    headers = [("x-forwarded-for", "1.2.3.4, 203.0.113.9"), ("x-forwarded-for", "10.0.0.2")]
    call(middleware, "GET", "/items/1", client=("10.0.0.1", 5000), headers=headers)
    assert [e["ip_address"] for e in sink.events] == ["203.0.113.9"]


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ('for="[2001:db8::7]:4711";proto=https', "2001:db8::7"),
        ("for=203.0.113.9:8080, for=10.0.0.2", "203.0.113.9"),
        ("for=_hidden", None),
        ("for=unknown", None),
    ],
)
def test_a_forwarded_header_from_a_named_proxy_is_read_per_rfc_7239(forwarded: str, expected: str | None) -> None:
    middleware, sink = app(forwarded_allow_ips="10.0.0.0/8")
    call(middleware, "GET", "/items/1", client=("10.0.0.1", 5000), headers={"forwarded": forwarded})
    assert [e["ip_address"] for e in sink.events] == [expected]


def test_forwarded_headers_that_disagree_record_no_address() -> None:
    middleware, sink = app(forwarded_allow_ips="10.0.0.1")
    headers = {"x-forwarded-for": "203.0.113.9", "forwarded": "for=198.51.100.1"}
    call(middleware, "GET", "/items/1", client=("10.0.0.1", 5000), headers=headers)
    assert [e["ip_address"] for e in sink.events] == [None]


@pytest.mark.parametrize("value", ["<script>", "a" * 300, "203.0.113.9; DROP TABLE", "::ffff:zz"])
def test_a_forwarded_value_that_is_not_an_ip_address_is_never_stored(value: str) -> None:
    middleware, sink = app(forwarded_allow_ips="127.0.0.1")
    call(middleware, "GET", "/items/1", client=("127.0.0.1", 5000), headers={"x-forwarded-for": value})
    assert [e["ip_address"] for e in sink.events] == [None]


def test_a_peer_address_that_does_not_parse_is_not_stored() -> None:
    middleware, sink = app()
    call(middleware, "GET", "/items/1", client=("not-an-address", 5000))
    assert [e["ip_address"] for e in sink.events] == [None]


def test_an_ipv4_mapped_peer_is_recorded_as_its_ipv4_address() -> None:
    middleware, sink = app()
    call(middleware, "GET", "/items/1", client=("::ffff:198.51.100.7", 5000))
    assert [e["ip_address"] for e in sink.events] == ["198.51.100.7"]


def test_a_proxy_list_that_does_not_parse_is_refused_with_what_to_write() -> None:
    with pytest.raises(ValueError, match="'10.0.0.300' is not an IP address or network; name proxies like"):
        TrustedProxies("127.0.0.1, 10.0.0.300")


def test_the_access_log_line_shows_the_route_and_status_never_the_path_or_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    middleware, _ = app(access_log=True)
    with caplog.at_level(logging.INFO, logger="aether_policy.access"):
        call(middleware, "GET", "/items/alice-secret-note?api_key=sk-live-abcdefghijklmnop")
        call(middleware, "GET", "/nothing/here/sk-live-abcdefghijklmnop")
    lines = [r.getMessage() for r in caplog.records if r.name == "aether_policy.access"]
    assert lines == [
        '198.51.100.7 - "GET /items/{item_id} HTTP/1.1" 200',
        '198.51.100.7 - "GET (unmatched) HTTP/1.1" 404',
    ]


def test_an_app_failure_is_logged_with_the_route_not_the_path(caplog: pytest.LogCaptureFixture) -> None:
    async def failing(request: Request) -> JSONResponse:
        raise RuntimeError("boom")

    sink, plan = MemorySink(), shipped_plan()
    middleware = PolicyMiddleware(Starlette(routes=[Route("/u/{name}", failing)]), plan, sink, gate=gate_for(plan))
    with caplog.at_level(logging.ERROR):
        assert call(middleware, "GET", "/u/alice-private-name").status_code == 500
    assert "alice-private-name" not in caplog.text
    assert "request to /u/{name} failed: RuntimeError" in caplog.text


def test_a_body_that_does_not_arrive_in_time_is_answered_408_and_recorded() -> None:
    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not see a request whose body never came")

    sink, plan = MemorySink(), shipped_plan()
    middleware = PolicyMiddleware(never, plan, sink, gate=gate_for(plan), body_timeout=0.2)
    sent: list[dict[str, Any]] = []

    async def trickle() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/chat", "headers": [], "client": ("198.51.100.7", 1)}
    asyncio.run(middleware(scope, trickle, send))
    assert (sent[0]["status"], (b"connection", b"close") in sent[0]["headers"]) == (408, True)
    assert json.loads(sent[1]["body"]) == {
        "error": {
            "message": "the request body did not arrive within 0.2 seconds",
            "type": "invalid_request_error",
            "code": "timeout",
        }
    }
    assert [(e["response_code"], e["error_class"]) for e in sink.events] == [(408, "BodyReadTimeout")]


def test_a_body_that_arrives_in_slow_chunks_within_the_deadline_reaches_the_app_whole() -> None:
    seen: list[bytes] = []

    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sink, plan = MemorySink(), shipped_plan()
    middleware = PolicyMiddleware(reader, plan, sink, gate=gate_for(plan), body_timeout=5)
    chunks = [b"one ", b"two ", b"three"]

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.01)  # every chunk makes the read wait, so it runs under the deadline
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        return None

    scope = {"type": "http", "method": "POST", "path": "/chat", "headers": [], "client": ("198.51.100.7", 1)}
    asyncio.run(middleware(scope, receive, send))
    assert (seen, [e["response_code"] for e in sink.events]) == ([b"one two three"], [204])


def test_cancelling_a_request_while_its_body_is_read_cancels_it_rather_than_answering_408() -> None:
    sink, plan = MemorySink(), shipped_plan()
    middleware = PolicyMiddleware(lambda *a: None, plan, sink, gate=gate_for(plan), body_timeout=5)  # type: ignore[arg-type, return-value]

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing is sent for a cancelled request")

    async def go() -> None:
        scope = {"type": "http", "method": "POST", "path": "/chat", "headers": [], "client": ("198.51.100.7", 1)}
        task = asyncio.ensure_future(middleware(scope, receive, send))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert sink.events == []


def test_a_log_record_during_a_5000_deep_request_is_still_written(caplog: pytest.LogCaptureFixture) -> None:
    """Redaction parses the body to compare log records with it; a body nested beyond the interpreter's
    recursion limit made every log record during the request raise, the middleware's own included."""

    async def chatty(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        logging.getLogger("some.library").warning("handling a request")
        raise RuntimeError("and failing")

    sink, plan = MemorySink(), shipped_plan()
    middleware = PolicyMiddleware(chatty, plan, sink, gate=gate_for(plan))
    with caplog.at_level(logging.WARNING):
        response = call(middleware, "POST", "/chat", content=b"[" * 5000 + b"]" * 5000)
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "internal error", "type": "server_error"}}
    assert "handling a request" in caplog.text and "failed: RuntimeError" in caplog.text


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        ("OpenAI/Python 1.51.0", ("OpenAI/Python", "1")),
        ("Anthropic/Python 0.40.0", ("Anthropic/Python", "0")),
        ("curl/8.5.0", ("curl", "8")),
        ("MyPrivateProjectCodename/1.0", ("Other", None)),
        ("tell-me-about-lisbon/2", ("Other", None)),
    ],
)
def test_the_browser_family_is_a_known_client_or_other_never_the_callers_own_word(
    user_agent: str, expected: tuple[str, str | None]
) -> None:
    middleware, sink = app()
    call(middleware, "GET", "/items/1", headers={"user-agent": user_agent})
    assert [(e["browser_family"], e["browser_major_version"]) for e in sink.events] == [expected]
