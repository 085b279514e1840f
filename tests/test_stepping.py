"""`within`: a deadline for an await, with a timer only when the await has to wait."""

from __future__ import annotations

import asyncio

import pytest

from aether_policy._stepping import within


async def ready() -> str:
    return "at once"


async def after(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "in time"


def test_an_await_that_does_not_wait_returns_its_value() -> None:
    assert asyncio.run(within(ready(), 1)) == "at once"


def test_an_await_that_waits_less_than_the_deadline_returns_its_value() -> None:
    assert asyncio.run(within(after(0.01), 1)) == "in time"


def test_an_await_that_waits_past_the_deadline_raises_timeout_and_is_stopped() -> None:
    stopped: list[str] = []

    async def waits() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise

    with pytest.raises(TimeoutError):
        asyncio.run(within(waits(), 0.01))
    assert stopped == ["cancelled"]


def test_a_future_is_timed_too() -> None:
    async def go() -> None:
        await within(asyncio.get_running_loop().create_future(), 0.01)

    with pytest.raises(TimeoutError):
        asyncio.run(go())


def test_an_exception_of_the_awaited_coroutine_comes_back_as_it_is() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("its own")

    with pytest.raises(ValueError, match="its own"):
        asyncio.run(within(fails(), 1))
