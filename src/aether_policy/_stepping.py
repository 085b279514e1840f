"""A deadline only for the awaits that have to wait.

Most of what a request awaits is ready at once: a body already received, a write the socket takes without
blocking. A timer for each (`asyncio.timeout`) costs a few microseconds whether it is needed or not. `within`
steps the coroutine once by hand and starts the timer only if that step had to wait.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


async def within(coroutine: Awaitable[T], seconds: float) -> T:
    """`await coroutine`, raising TimeoutError if it waits more than `seconds` in all."""
    if not isinstance(coroutine, Coroutine):  # a future or another awaitable: timed as it is
        async with asyncio.timeout(seconds):
            return await coroutine
    try:
        waiting_on = coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    async with asyncio.timeout(seconds):
        return await _resume(coroutine, waiting_on)


@types.coroutine
def _resume(coroutine: Coroutine[Any, Any, T], waiting_on: Any) -> Generator[Any, Any, T]:
    """Finish a coroutine already stepped once by hand, exactly as `await` would have: every future it waits
    on goes to the running task, every value or exception (a timeout's cancellation) comes back to it."""
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as exc:
            try:
                waiting_on = coroutine.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                waiting_on = coroutine.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
