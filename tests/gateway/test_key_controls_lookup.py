"""A key's controls are read from the database once per expiry, however many of its requests are in flight."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from aether_policy.gateway import limits as limits_module
from aether_policy.gateway.limits import KeyLimits
from aether_policy.store.key_controls import KeyControls
from aether_policy.store.store import Store

DIGEST = "digest-of-the-key"


@pytest.fixture
def limits(store: Store) -> Iterator[KeyLimits]:
    limited = KeyLimits(store, cache_ttl=0.0)  # every read finds the cache expired
    yield limited
    limited.close()


def slow_reads(monkeypatch: pytest.MonkeyPatch, answer: KeyControls | None, fail: bool = False) -> list[str]:
    """Replace the database read with one that takes 50 ms and records each call."""
    calls: list[str] = []

    def read(store: Store, digest: str) -> KeyControls | None:
        calls.append(threading.current_thread().name)
        threading.Event().wait(0.05)
        if fail:
            raise RuntimeError("database unreachable")
        return answer

    monkeypatch.setattr(limits_module, "controls_for_hash", read)
    return calls


def test_requests_arriving_while_a_read_is_in_flight_share_it(
    limits: KeyLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = slow_reads(monkeypatch, KeyControls("key_1", "acct_1", rpm=5))

    async def many() -> list[Any]:
        return await asyncio.gather(*(limits._controls(DIGEST) for _ in range(16)))

    answers = asyncio.run(many())
    assert len(calls) == 1
    assert {a.key_id for a in answers} == {"key_1"}


def test_an_expired_entry_is_read_again(limits: KeyLimits, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = slow_reads(monkeypatch, None)

    async def twice() -> None:
        await limits._controls(DIGEST)
        await limits._controls(DIGEST)

    asyncio.run(twice())
    assert len(calls) == 2


def test_a_failed_read_fails_every_waiting_request_and_the_next_one_reads_again(
    limits: KeyLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = slow_reads(monkeypatch, None, fail=True)

    async def many() -> list[Any]:
        return await asyncio.gather(*(limits._controls(DIGEST) for _ in range(4)), return_exceptions=True)

    outcomes = asyncio.run(many())
    assert [type(o).__name__ for o in outcomes] == ["RuntimeError"] * 4
    assert len(calls) == 1
    with pytest.raises(RuntimeError):
        asyncio.run(limits._controls(DIGEST))
    assert len(calls) == 2


def test_a_caller_that_leaves_does_not_cancel_the_read_others_wait_on(
    limits: KeyLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = slow_reads(monkeypatch, KeyControls("key_1", "acct_1"))

    async def one_leaves() -> KeyControls | None:
        leaving = asyncio.ensure_future(limits._controls(DIGEST))
        staying = asyncio.ensure_future(limits._controls(DIGEST))
        await asyncio.sleep(0.01)
        leaving.cancel()
        return await staying

    answer = asyncio.run(one_leaves())
    assert answer is not None and answer.key_id == "key_1"
    assert len(calls) == 1
