"""The background writer: one odd or refused row never costs the rows written with it (both backends)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aether_policy.crypto import Cipher
from aether_policy.plan import PromptGate, Verdict
from aether_policy.plan.gate import QuarantineRecord
from aether_policy.store import Store, tables
from tests.helpers import TEST_KEY, shipped_plan
from tests.retention.fixtures import T0, usage_row


@pytest.fixture
def store_options() -> dict[str, Any]:
    # A long flush interval: everything queued before flush() is written as one batch.
    return {"flush_interval": 5.0}


def flagged(text: str = "flagged text") -> QuarantineRecord:
    gate = PromptGate(shipped_plan().storage_windows, Cipher(TEST_KEY))
    record = gate.admit(Verdict("flagged", ("pattern:x",)), account_id="acct_1", request=text, response="r", now=T0)
    assert record is not None
    return record


def stored(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.begin() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table))]


def good_events(n: int) -> list[dict[str, Any]]:
    return [usage_row(T0, account_id=f"acct_{i}") for i in range(n)]


@pytest.mark.parametrize(
    "odd",
    [
        {"method": "PROPPATCHXY"},  # 11 letters; the column holds 10
        {"endpoint": "/v1/" + "a" * 246},
        {"model": "gpt-" + "x" * 296},
        {"ip_address": "1.2.3.4, " * 40},
        {"browser_family": "b" * 300, "browser_major_version": "9" * 300},
    ],
    ids=["method", "endpoint", "model", "forwarded-for", "browser"],
)
def test_an_over_long_value_is_cut_to_its_column_and_its_batch_lands(store: Store, odd: dict[str, str]) -> None:
    events = good_events(5)
    events.insert(2, usage_row(T0, account_id="acct_odd", **odd))
    for event in events:
        store.record_usage(event)
    store.flush()
    rows = stored(store, tables.usage_events)
    assert sorted(r["account_id"] for r in rows) == sorted(e["account_id"] for e in events)
    odd_row = next(r for r in rows if r["account_id"] == "acct_odd")
    for column, value in odd.items():
        width = tables.usage_events.c[column].type.length
        assert odd_row[column] == value[:width]
    assert store.truncated["usage"] == 1 and store.dropped["usage"] == 0


def test_nul_characters_and_lone_surrogates_are_cleaned_not_fatal(store: Store) -> None:
    store.record_usage(usage_row(T0, model="gpt-4o\x00mini", endpoint="/v1/\ud800chat"))
    store.record_usage(usage_row(T0, account_id="acct_good"))
    store.flush()
    rows = {r["account_id"]: r for r in stored(store, tables.usage_events)}
    assert rows["acct_1"]["model"] == "gpt-4omini" and rows["acct_1"]["endpoint"] == "/v1/?chat"
    assert "acct_good" in rows and store.dropped["usage"] == 0


def test_a_value_of_the_wrong_type_or_range_is_cleared_and_its_row_kept(store: Store) -> None:
    store.record_usage(usage_row(T0, response_code=2**40, latency_ms=float("nan"), model=12))
    store.flush()
    [row] = stored(store, tables.usage_events)
    assert (row["response_code"], row["latency_ms"], row["model"]) == (None, None, None)


def test_a_row_that_cannot_be_fitted_is_dropped_alone_and_counted(store: Store) -> None:
    store.record_usage(usage_row(datetime(2026, 1, 1)))  # naive: the store cannot tell which instant it is
    store.record_usage(usage_row(T0, account_id="acct_good"))
    store.flush()
    assert [r["account_id"] for r in stored(store, tables.usage_events)] == ["acct_good"]
    assert store.dropped == {"usage": 1, "quarantine": 0}


def test_a_row_the_database_refuses_costs_only_itself(store: Store) -> None:
    first, second = flagged("first"), flagged("second")
    store.quarantine(first)
    store.quarantine(first)  # the same id twice: the database refuses the second
    for event in good_events(5):
        store.record_usage(event)
    store.quarantine(second)
    store.flush()
    assert sorted(r["id"] for r in stored(store, tables.quarantine)) == sorted([first.id, second.id])
    assert len(stored(store, tables.usage_events)) == 5
    assert store.dropped == {"usage": 0, "quarantine": 1}


def test_flagged_content_is_kept_when_every_usage_event_of_its_batch_fails(store: Store) -> None:
    tables.usage_events.drop(store.engine)  # every usage insert now fails, as long as the database says so
    record = flagged()
    for event in good_events(3):
        store.record_usage(event)
    store.quarantine(record)
    store.flush(timeout=30)
    assert [r["id"] for r in stored(store, tables.quarantine)] == [record.id]
    assert store.dropped == {"usage": 3, "quarantine": 0}


def test_an_over_long_account_name_is_refused_with_the_limit(store: Store) -> None:
    with pytest.raises(Exception, match=r"^accounts.name is 250 characters; at most 200 fit$"):
        store.create_account("a" * 250)
    assert store.list_accounts() == []


def test_a_mark_reason_with_a_nul_character_is_refused(store: Store) -> None:
    store.create_account("acme")
    with pytest.raises(Exception, match="accounts.mark_reason contains a NUL character"):
        store.mark_account("acme", "ToS\x00report")


def test_usage_times_are_stored_as_given(store: Store) -> None:
    when = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    store.record_usage(usage_row(when))
    store.flush()
    assert [r["timestamp"] for r in stored(store, tables.usage_events)] == [when]


def test_refused_rows_are_logged_once_per_batch_by_error_class_never_by_value(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    record = flagged()
    for _ in range(4):
        store.quarantine(record)  # the same id four times: three are refused
    store.flush()
    lines = [r.getMessage() for r in caplog.records if r.name == "aether_policy.store"]
    dropped = [line for line in lines if line.startswith("dropped")]
    assert len(dropped) == 1 and dropped[0].startswith("dropped 3 of 4 quarantine rows the database refused: 3 ")
    assert not any(record.id in line for line in lines)
    assert store.dropped == {"usage": 0, "quarantine": 3}


def test_a_backlog_of_many_batches_is_written_without_waiting_an_interval_per_batch(tmp_path: Path) -> None:
    """The writer sleeps out its interval only for a batch that has not filled: a backlog behind a full
    batch (a burst, or everything queued when the server stops) is written at once."""
    store = Store(f"sqlite:///{tmp_path / 'backlog.db'}", batch_size=50, flush_interval=5.0)
    store.migrate()
    for event in good_events(400):  # eight full batches
        store.record_usage(event)
    started = time.monotonic()
    store.flush()
    took = time.monotonic() - started
    assert store.usage_count() == 400
    assert took < 2.5, f"the backlog waited an interval per batch ({took:.1f} s)"
    store.close()


def test_a_stop_behind_a_backlog_loses_nothing_and_does_not_wait_per_batch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stop.db'}"
    store = Store(url, batch_size=50, flush_interval=5.0)
    store.migrate()
    for event in good_events(300):
        store.record_usage(event)
    started = time.monotonic()
    store.close()
    took = time.monotonic() - started
    reopened = Store(url)
    try:
        assert reopened.usage_count() == 300
    finally:
        reopened.close()
    assert took < 2.5, f"stopping waited an interval per batch ({took:.1f} s)"
