"""The per-key window counts every admitted request, including those whose database write is still in flight."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request

from aether_policy.gateway import limits as limits_module
from aether_policy.gateway.limits import KeyLimits, LimitExceeded
from aether_policy.store.key_controls import KeyControls
from aether_policy.store.store import Store

NOW = 1_800_000_000.0  # mid-minute: the window cannot turn during the test
DIGEST = "digest-of-the-key"


def request() -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": [],
            "state": {"aether_key_hash": DIGEST},
        }
    )


@pytest.fixture
def limits(store: Store) -> Iterator[KeyLimits]:
    limited = KeyLimits(store, clock=lambda: NOW + 15, sync_seconds=3600)  # the test drives every sync
    limited._cache[DIGEST] = (KeyControls("key_1", "acct_1", rpm=2), time.monotonic())
    yield limited
    limited.close()


def admit(limits: KeyLimits) -> None:
    asyncio.run(limits.admit(request(), {"model": "gpt-5.5"}))


def test_a_request_admitted_while_a_sync_is_writing_still_counts(
    limits: KeyLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    admit(limits)
    admit(limits)  # the window is full: two of two
    writing, release = threading.Event(), threading.Event()
    real = limits_module.add_to_window

    def slow_write(*args: Any) -> tuple[int, int]:
        writing.set()
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(limits_module, "add_to_window", slow_write)
    syncer = threading.Thread(target=limits.sync_now)
    syncer.start()
    assert writing.wait(10)
    try:
        with pytest.raises(LimitExceeded):
            admit(limits)  # the two requests are in the write, not yet in the shared total
    finally:
        release.set()
        syncer.join(10)
    with pytest.raises(LimitExceeded):
        admit(limits)


def test_an_older_sync_answer_does_not_lower_the_shared_total(limits: KeyLimits) -> None:
    admit(limits)
    limits.sync_now()
    window = limits._windows[("key_1", int((NOW + 15) // 60))]
    window.shared_requests = 5  # a newer answer already seen
    limits.sync_now()  # nothing pending: this sync reads 1 from the database
    assert window.shared_requests == 5
