"""`RelayStream`: a streamed answer sent by the request's own task, stopped when the caller leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.responses import StreamingResponse

from aether_policy.gateway.relay import RelayStream
from aether_policy.middleware import FACTS_KEY, RequestFacts

SCOPE: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}


class Caller:
    """An ASGI caller that keeps what it is sent and leaves when told to."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.leave = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def events(count: int, ended: list[str], pause: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    try:
        for i in range(count):
            if pause is not None and i == 2:
                await pause.wait()  # waiting on the provider, as a relay does between events
            yield f"data: {i}\n\n".encode()
    finally:
        ended.append("closed")  # the relay's own clean-up: usage charged, provider answer closed


def test_the_stream_is_sent_in_order_with_the_headers_starlette_would_send() -> None:
    async def go() -> tuple[Caller, Caller]:
        ours, theirs = Caller(), Caller()
        headers = {"cache-control": "no-cache"}
        await RelayStream(events(3, []), media_type="text/event-stream", headers=headers)(
            SCOPE, ours.receive, ours.send
        )
        await StreamingResponse(events(3, []), media_type="text/event-stream", headers=headers)(
            SCOPE, theirs.receive, theirs.send
        )
        return ours, theirs

    ours, theirs = asyncio.run(go())
    assert ours.sent == theirs.sent
    assert ours.bodies() == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n", b""]


def test_a_caller_leaving_mid_stream_stops_the_relay_and_runs_its_clean_up() -> None:
    async def go() -> tuple[Caller, list[str], bool, bool]:
        caller, ended, provider = Caller(), [], asyncio.Event()
        stream = RelayStream(events(5, ended, provider), media_type="text/event-stream")
        serving = asyncio.create_task(stream(SCOPE, caller.receive, caller.send))
        await asyncio.sleep(0.01)  # two events sent; the relay waits on the provider, which never goes on
        caller.leave.set()
        await asyncio.wait({serving}, timeout=2)  # waits without cancelling it
        stopped = serving.done()
        serving.cancel()
        return caller, ended, stopped, stopped and serving.cancelling() == 0

    caller, ended, stopped, not_cancelled = asyncio.run(go())
    assert stopped  # the caller leaving ended the relay; nothing else would have
    assert caller.bodies() == [b"data: 0\n\n", b"data: 1\n\n"]  # nothing after the caller left
    assert ended == ["closed"]
    assert not_cancelled  # the request's task goes on (to record the request), not cancelled


def test_a_cancellation_from_outside_is_not_swallowed() -> None:
    async def go() -> list[str]:
        caller, ended, provider = Caller(), [], asyncio.Event()
        serving = asyncio.create_task(RelayStream(events(5, ended, provider))(SCOPE, caller.receive, caller.send))
        await asyncio.sleep(0.01)
        serving.cancel()  # the server shutting down
        with pytest.raises(asyncio.CancelledError):
            await serving
        return ended

    assert asyncio.run(go()) == ["closed"]


def test_the_listener_is_gone_once_the_stream_ends() -> None:
    async def go() -> set[asyncio.Task[Any]]:
        caller = Caller()
        await RelayStream(events(2, []))(SCOPE, caller.receive, caller.send)
        await asyncio.sleep(0)
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    assert asyncio.run(go()) == set()


def test_a_shutdown_arriving_as_the_caller_leaves_is_not_swallowed() -> None:
    async def go() -> asyncio.Task[None]:
        caller, provider = Caller(), asyncio.Event()
        serving = asyncio.create_task(RelayStream(events(5, [], provider))(SCOPE, caller.receive, caller.send))
        await asyncio.sleep(0.01)  # the relay waits on the provider
        caller.leave.set()
        await asyncio.sleep(0)  # the listener hears the caller leave and stops the relay ...
        serving.cancel()  # ... and the server shuts down before the relay has run again
        await asyncio.wait({serving}, timeout=2)
        return serving

    serving = asyncio.run(go())
    assert serving.done()
    assert serving.cancelled()  # the relay's own stop is undone, the server's is not


class SlowCaller(Caller):
    """A caller that stops reading after two events: the relay's third write waits for room (uvicorn's
    `flow.drain()`) until the connection is lost, which wakes the listener first, then the write."""

    def __init__(self) -> None:
        super().__init__()
        self.writable = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        if len(self.bodies()) == 2:
            await self.writable.wait()
        await super().send(message)


def test_a_caller_leaving_while_the_relay_writes_to_it_runs_the_relays_clean_up_before_the_request_ends() -> None:
    async def go() -> tuple[bool, list[str]]:
        caller, ended = SlowCaller(), []
        body = events(5, ended)  # held here too, as a reference cycle would: only the relay may close it
        serving = asyncio.create_task(RelayStream(body)(SCOPE, caller.receive, caller.send))
        await asyncio.sleep(0.01)  # the relay waits to write the third event
        caller.leave.set()  # the connection is lost (uvicorn: message_event set, then resume_writing)
        caller.writable.set()
        await asyncio.wait({serving}, timeout=2)
        return serving.done(), list(ended)

    stopped, ended = asyncio.run(go())
    assert stopped
    assert ended == ["closed"]  # usage charged and the provider's answer closed by the request, not by the GC


def test_on_close_runs_when_the_stream_never_started() -> None:
    closed: list[str] = []

    async def close() -> None:
        closed.append("provider answer closed")

    class Stopping(Caller):
        async def send(self, message: dict[str, Any]) -> None:
            raise asyncio.CancelledError  # the server stops while the headers are being sent

    async def go() -> list[str]:
        ended: list[str] = []
        stream = RelayStream(events(3, ended), media_type="text/event-stream", on_close=close)
        with pytest.raises(asyncio.CancelledError):
            await stream(SCOPE, Stopping().receive, Stopping().send)
        return ended

    ended = asyncio.run(go())
    assert ended == []  # the stream's own clean-up never ran: it never started
    assert closed == ["provider answer closed"]


def test_on_close_runs_after_the_stream_s_own_clean_up() -> None:
    order: list[str] = []

    async def close() -> None:
        order.append("on_close")

    async def go() -> None:
        caller = Caller()
        await RelayStream(events(2, order), media_type="text/event-stream", on_close=close)(
            SCOPE, caller.receive, caller.send
        )

    asyncio.run(go())
    assert order == ["closed", "on_close"]


def test_a_caller_who_stops_reading_ends_the_stream_after_the_send_timeout() -> None:
    closed: list[str] = []

    async def close() -> None:
        closed.append("provider answer closed")

    class NotReading(Caller):
        async def send(self, message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and len(self.bodies()) == 1:
                await asyncio.Event().wait()  # the caller's socket is full: this write never completes
            self.sent.append(message)

    async def go() -> tuple[NotReading, list[str], dict[str, Any], float]:
        caller, ended = NotReading(), []
        scope: dict[str, Any] = {**SCOPE, "state": {}}
        facts = RequestFacts()
        scope["state"][FACTS_KEY] = facts
        stream = RelayStream(events(5, ended), media_type="text/event-stream", on_close=close, send_timeout=0.2)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(stream(scope, caller.receive, caller.send), 5)
        return caller, ended, {"error_class": facts.error_class}, asyncio.get_running_loop().time() - started

    caller, ended, facts, elapsed = asyncio.run(go())
    assert caller.bodies() == [b"data: 0\n\n"]  # the second write never went through
    assert ended == ["closed"] and closed == ["provider answer closed"]  # the provider's answer is given back
    assert facts == {"error_class": "CallerTooSlow"}
    assert 0.2 <= elapsed < 2


def test_writes_that_are_taken_at_once_never_time_out() -> None:
    async def go() -> Caller:
        caller = Caller()
        await RelayStream(events(3, []), media_type="text/event-stream", send_timeout=0.000001)(
            SCOPE, caller.receive, caller.send
        )
        return caller

    assert asyncio.run(go()).bodies() == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n", b""]
