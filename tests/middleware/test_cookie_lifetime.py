"""A declared cookie lives no longer than the lifetime the page prints for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from aether_policy.cookie_lifetime import cap_lifetime
from aether_policy.durations import Duration
from aether_policy.middleware import PolicyMiddleware
from aether_policy.sinks import MemorySink
from aether_policy.types import Receive, Scope, Send
from tests.helpers import shipped_plan

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
YEAR_WEEKS = Duration.parse("52 weeks")
CAP = 52 * 7 * 86400


def cap(header: str, max_age: Duration | None = YEAR_WEEKS) -> str:
    return cap_lifetime(header.encode("latin-1"), max_age, NOW).decode("latin-1")


def test_a_max_age_above_the_policy_is_cut_to_it() -> None:
    assert cap("aether_prefs=1; Max-Age=315360000; Path=/") == f"aether_prefs=1; Max-Age={CAP}; Path=/"


def test_a_max_age_within_the_policy_is_left_as_sent() -> None:
    assert cap("aether_prefs=1; Max-Age=3600; Secure") == "aether_prefs=1; Max-Age=3600; Secure"


def test_every_repeated_max_age_is_capped_since_browsers_honour_the_last() -> None:
    assert cap("p=1; Max-Age=60; max-age=999999999") == f"p=1; Max-Age=60; Max-Age={CAP}"


def test_an_expires_beyond_the_policy_becomes_now_plus_the_cap() -> None:
    assert cap("p=1; Expires=Fri, 31 Dec 2100 23:59:59 GMT") == "p=1; Expires=Sat, 30 Jan 2027 12:00:00 GMT"


def test_months_are_counted_on_the_calendar_from_now() -> None:
    assert cap("p=1; Max-Age=999999999", Duration.parse("1 month")) == f"p=1; Max-Age={28 * 86400}"


def test_a_session_cookie_loses_max_age_and_expires() -> None:
    assert cap("s=1; Max-Age=600; Expires=Fri, 31 Dec 2100 23:59:59 GMT; HttpOnly", None) == "s=1; HttpOnly"


def test_deleting_a_cookie_is_always_allowed() -> None:
    assert cap("s=; Max-Age=0", None) == "s=; Max-Age=0"
    assert cap("s=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", None) == "s=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


def test_an_attribute_this_parser_cannot_read_is_removed_not_trusted() -> None:
    assert cap("p=1; Max-Age=1e99; Expires=someday; Path=/") == "p=1; Path=/"


async def ten_year_cookie(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    headers = [(b"set-cookie", b"aether_prefs=dark; Max-Age=315360000; Path=/")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def test_the_middleware_caps_a_ten_year_cookie_at_its_policy_max_age() -> None:
    middleware = PolicyMiddleware(ten_year_cookie, shipped_plan(), MemorySink(), clock=lambda: NOW)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get("/")

    assert asyncio.run(go()).headers["set-cookie"] == f"aether_prefs=dark; Max-Age={CAP}; Path=/"
