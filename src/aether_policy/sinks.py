"""What the middleware writes to: a usage recorder and a quarantine, behind one small protocol.

The SQL store implements it; so does `MemorySink`, for embedding without a database and for tests.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

from aether_policy.plan.gate import QuarantineRecord


class PolicySink(Protocol):
    def record_usage(self, event: Mapping[str, Any]) -> None:
        """Queue one usage event; must not block the request."""

    def quarantine(self, record: QuarantineRecord) -> None:
        """Keep one sealed record made by the prompt gate."""

    def is_marked(self, account_id: str) -> bool:
        """Whether an operator marked this account for review."""


class MemorySink:
    """An in-process sink: keeps events and sealed records in lists."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.records: list[QuarantineRecord] = []
        self.marked: set[str] = set()
        self._lock = threading.Lock()

    def record_usage(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append(dict(event))

    def quarantine(self, record: QuarantineRecord) -> None:
        if not isinstance(record, QuarantineRecord):
            raise TypeError("only the prompt gate's records can be quarantined")
        with self._lock:
            self.records.append(record)

    def is_marked(self, account_id: str) -> bool:
        return account_id in self.marked
