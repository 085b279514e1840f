"""A large body is judged on a worker thread: while its detectors run, the event loop keeps answering others.

The detector here is a deliberately slow stand-in that waits until /healthz has been answered: with the scan on
the event loop, /healthz could not be answered until the detector gave up, so the order of events is the oracle
(no wall-clock bound)."""

from __future__ import annotations

import threading

import httpx

from aether_policy.flagger import Flagger
from aether_policy.middleware import OFF_LOOP_BYTES, PolicyMiddleware, facts_of
from aether_policy.sinks import MemorySink
from aether_policy.types import Receive, Scope, Send
from tests.helpers import gate_for, serve, shipped_plan


class WaitsForHealthz:
    """Blocks its scan until /healthz has answered (or gives up after `patience` seconds), saying which."""

    name = "slow_stand_in"

    def __init__(self, patience: float = 20.0) -> None:
        self.scanning = threading.Event()
        self.healthz_answered = threading.Event()
        self.patience = patience
        self.saw_healthz_answered: list[bool] = []

    def inspect(self, request_text: str, response_body: bytes) -> str | None:
        self.scanning.set()
        self.saw_healthz_answered.append(self.healthz_answered.wait(self.patience))
        return None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """/healthz answers at once; any other path is an authenticated content route."""
    while (await receive()).get("more_body"):
        pass
    if scope["path"] != "/healthz":
        facts = facts_of(scope)
        facts.account_id, facts.authenticated_content = "acct_1", True
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


def test_healthz_is_answered_while_a_large_body_is_still_being_scanned() -> None:
    detector = WaitsForHealthz()
    plan = shipped_plan()
    middleware = PolicyMiddleware(app, plan, MemorySink(), Flagger([detector]), gate_for(plan))
    body = b'{"messages": "' + b"x" * (OFF_LOOP_BYTES * 16) + b'"}'
    with serve(middleware) as base, httpx.Client(base_url=base, timeout=60) as client:
        big = threading.Thread(target=lambda: client.post("/v1/chat/completions", content=body), daemon=True)
        big.start()
        assert detector.scanning.wait(30)
        assert client.get("/healthz").status_code == 200
        detector.healthz_answered.set()
        big.join(60)
    assert detector.saw_healthz_answered == [True]
