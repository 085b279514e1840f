"""Populate a store directly, with chosen timestamps, for retention tests and benchmarks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from aether_policy.crypto import Cipher
from aether_policy.plan import PromptGate, Verdict
from aether_policy.store import Store, tables
from tests.helpers import TEST_KEY, shipped_plan

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def usage_row(when: datetime, **overrides: Any) -> dict[str, Any]:
    row = {
        "timestamp": when,
        "endpoint": "/v1/chat/completions",
        "method": "POST",
        "response_code": 200,
        "model": "gpt-4o",
        "latency_ms": 12.5,
        "error_class": None,
        "account_id": "acct_1",
        "ip_address": "198.51.100.7",
        "browser_family": "OpenAI/Python",
        "browser_major_version": "1",
    }
    row.update(overrides)
    return row


def add_usage(store: Store, times: list[datetime]) -> None:
    with store.begin() as conn:
        for start in range(0, len(times), 50_000):
            conn.execute(insert(tables.usage_events), [usage_row(t) for t in times[start : start + 50_000]])


def add_flagged(store: Store, flagged_at: datetime, text: str = "flagged text") -> str:
    gate = PromptGate(shipped_plan().storage_windows, Cipher(TEST_KEY))
    record = gate.admit(
        Verdict("flagged", ("pattern:x",)), account_id="acct_1", request=text, response="r", now=flagged_at
    )
    assert record is not None
    store.quarantine(record)
    store.flush()
    return record.id


def days(n: float) -> timedelta:
    return timedelta(days=n)
