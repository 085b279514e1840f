"""The two apps the HTTP half of bench/middleware.py serves: a trivial app, bare and wrapped."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_policy import load_policy
from aether_policy.crypto import Cipher
from aether_policy.middleware import PolicyMiddleware, facts_of
from aether_policy.plan import PromptGate, compile_policy
from aether_policy.sinks import MemorySink


class _DiscardingSink(MemorySink):
    def record_usage(self, event: Any) -> None:
        return None


async def bare(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"choices":[{"finish_reason":"stop"}]}'})


async def _accepting(scope: Any, receive: Any, send: Any) -> None:
    """`bare`, saying what the gateway says of an authenticated chat request, so the flagger and gate run."""
    if scope["type"] == "http":
        facts = facts_of(scope)
        facts.account_id, facts.model, facts.authenticated_content = "acct_bench", "gpt-4o-mini", True
    await bare(scope, receive, send)


_plan = compile_policy(load_policy("policies/aetherapi.yaml").policy)
wrapped = PolicyMiddleware(
    _accepting, _plan, _DiscardingSink(), gate=PromptGate(_plan.storage_windows, Cipher(bytes(32)))
)


async def _hello(request: Request) -> JSONResponse:
    await request.body()
    facts = facts_of(request.scope)
    facts.account_id, facts.model, facts.authenticated_content = "acct_bench", "gpt-4o-mini", True
    return JSONResponse({"choices": [{"finish_reason": "stop"}]})


# The same comparison around the smallest real framework app: one Starlette route.
starlette_bare = Starlette(routes=[Route("/v1/chat/completions", _hello, methods=["POST"])])
starlette_wrapped = PolicyMiddleware(
    starlette_bare, _plan, _DiscardingSink(), gate=PromptGate(_plan.storage_windows, Cipher(bytes(32)))
)
