"""The gateway's fixed-path fast route picks exactly what Starlette's router would, and leaves the rest to it."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from aether_policy.gateway.dispatch import FixedRoutes


def _answer(text: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{text} {request.scope['route'].path}")

    return endpoint


def _call(app: Any, method: str, path: str, root_path: str = "") -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
        "http_version": "1.1",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


ROUTES = [
    Route("/v1/{anything:path}", _answer("parameter"), methods=["POST"]),
    Route("/v1/chat/completions", _answer("shadowed"), methods=["POST"]),
    Route("/v1/messages", _answer("fixed"), methods=["POST"]),
]
APP = FixedRoutes(Starlette(routes=ROUTES[2:]), ROUTES[2:])


def test_a_fixed_post_route_is_served_with_its_template_in_the_scope() -> None:
    assert _call(APP, "POST", "/v1/messages") == (200, b"fixed /v1/messages")


def test_a_fixed_route_an_earlier_route_shadows_is_left_to_the_router() -> None:
    shadowed = FixedRoutes(Starlette(routes=ROUTES), ROUTES)
    assert _call(shadowed, "POST", "/v1/chat/completions") == (200, b"parameter /v1/{anything:path}")


def test_another_method_or_a_near_path_goes_to_the_router() -> None:
    assert _call(APP, "GET", "/v1/messages")[0] == 405
    assert _call(APP, "POST", "/v1/messages/")[0] in (307, 404)


def test_a_request_under_a_root_path_goes_to_the_router() -> None:
    # Starlette matches the path without the root path: "/v1/messages" under root "/v1" is "/messages".
    assert _call(APP, "POST", "/v1/messages", root_path="/v1")[0] == 404
