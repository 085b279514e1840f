"""A streamed answer sent to the caller, stopped when the caller leaves, without a task group per stream.

Starlette's `StreamingResponse` (under an ASGI server older than spec 2.4, as uvicorn is) runs the stream in a
task of an anyio task group beside a task listening for the caller's disconnect, and cancels the group's scope
when either ends: a task group, a cancel scope and two tasks for every streamed request, on the way to its
first byte. `RelayStream` streams in the request's own task and starts one plain task that listens; when the
caller leaves, that task cancels the stream where it waits (reading the provider, or writing to the caller), so
the relay's own `finally` (the usage charged, the provider's answer closed) runs exactly as it did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import StreamingResponse

from aether_policy._stepping import within
from aether_policy.middleware import facts_of
from aether_policy.types import Message, Receive, Scope, Send


class RelayStream(StreamingResponse):
    """`StreamingResponse`'s headers and body, sent by the task serving the request (HTTP only).

    `on_close` runs last, whatever happened: closing a stream that never started runs none of its code, so
    what its own clean-up would have released (the provider's answer, when the server stops or the caller
    leaves before the first event) is released by it instead of by the garbage collector.

    With `send_timeout`, each write to the caller must be taken within that many seconds. A caller who stays
    connected but stops reading would otherwise hold the stream, and the provider's connection under it, for as
    long as it likes: a few such callers take every connection to the provider from everyone else. The stream
    then ends as when the caller leaves, recorded as `CallerTooSlow`; the server closes the connection.
    """

    def __init__(
        self,
        *args: Any,
        on_close: Callable[[], Awaitable[None]] | None = None,
        send_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.on_close = on_close
        self.send_timeout = send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relaying = asyncio.current_task()
        assert relaying is not None  # an ASGI app always runs in a task
        left = False
        cancelling = relaying.cancelling()  # cancellations already requested are not ours to undo

        async def listen() -> None:
            nonlocal left
            while (await receive())["type"] != "http.disconnect":
                pass
            left = True
            relaying.cancel()  # the relay is waiting (it is not running while this task runs): it stops there

        listener = asyncio.create_task(listen())
        timeout, too_slow = self.send_timeout, False

        async def bounded(message: Message) -> None:
            nonlocal too_slow
            assert timeout is not None  # used only with one
            try:
                await within(send(message), timeout)
            except TimeoutError:
                too_slow = True
                raise

        try:
            await self.stream_response(send if timeout is None else bounded)
        except TimeoutError:
            if not too_slow:
                raise  # not a write to the caller that timed out
            facts_of(scope).error_class = "CallerTooSlow"  # not reading: the stream ends here
        except asyncio.CancelledError:
            # Cancelled from outside (the server shutting down), or from outside too while the caller left (one
            # CancelledError carries both requests): not ours to swallow, only the listener's own is undone.
            if not left or relaying.uncancel() > cancelling:
                raise
            # The caller left: the stream ends here, as Starlette's cancelled scope ends it.
        finally:
            listener.cancel()
            # Stopped while it waited to write to the caller (uvicorn wakes the listener before the write), the
            # stream is suspended at its `yield`: closed here, its clean-up (usage charged, provider's answer
            # closed) runs in this request as when it is stopped reading the provider, not when the GC finds it.
            closing = getattr(self.body_iterator, "aclose", None)
            try:
                if closing is not None:
                    await closing()
            finally:
                if self.on_close is not None:
                    await self.on_close()
        if self.background is not None:
            await self.background()
