"""The middleware wraps any ASGI app: a plain Starlette app and a FastAPI app, as the README shows."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_policy.middleware import PolicyMiddleware, facts_of
from aether_policy.sinks import MemorySink
from tests.helpers import gate_for, shipped_plan


def call(app: PolicyMiddleware) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.post("/chat", json={"model": "claude-3-5-haiku", "prompt": "hello there"})

    return asyncio.run(go())


def test_wrapping_a_starlette_app() -> None:
    async def chat(request: Request) -> JSONResponse:
        facts = facts_of(request.scope)
        facts.account_id = "acct_s"
        facts.model = (await request.json())["model"]
        facts.authenticated_content = True
        return JSONResponse({"model": facts.model})

    sink = MemorySink()
    plan = shipped_plan()
    app = PolicyMiddleware(Starlette(routes=[Route("/chat", chat, methods=["POST"])]), plan, sink, gate=gate_for(plan))
    response = call(app)
    assert (response.status_code, response.headers["x-policy-digest"]) == (200, plan.digest)
    assert [(e["account_id"], e["model"], e["endpoint"]) for e in sink.events] == [
        ("acct_s", "claude-3-5-haiku", "/chat")
    ]


def test_wrapping_a_fastapi_app() -> None:
    api = FastAPI()

    @api.post("/chat")
    async def chat(request: Request) -> dict[str, str]:
        facts_of(request.scope).account_id = "acct_f"
        return {"ok": "yes"}

    sink = MemorySink()
    plan = shipped_plan()
    response = call(PolicyMiddleware(api, plan, sink, gate=gate_for(plan)))
    assert response.json() == {"ok": "yes"}
    assert [(e["account_id"], e["model"], e["endpoint"]) for e in sink.events] == [("acct_f", None, "/chat")]
