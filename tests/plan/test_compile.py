"""The plan compiled from the shipped policy says what the policy says."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aether_policy import load_policy_text
from aether_policy.crypto import Cipher
from aether_policy.durations import Duration
from aether_policy.plan import NOT_FLAGGED, PromptGate, QuarantineRecord, Verdict, compile_policy
from aether_policy.plan.gate import unseal
from aether_policy.plan.usage import ALL_COLUMNS
from tests.helpers import TEST_KEY, shipped_plan


def test_usage_schema_has_exactly_the_declared_columns() -> None:
    assert shipped_plan().usage.columns == {
        "account_id",
        "endpoint",
        "method",
        "timestamp",
        "response_code",
        "model",
        "latency_ms",
        "error_class",
        "ip_address",
        "browser_family",
        "browser_major_version",
    }


def test_a_column_is_allowed_only_while_its_field_is_declared(policy_text: str) -> None:
    text = policy_text.replace("      ip_address: {title: IP address}\n", "")
    text = text.replace("We forward only the request itself: never your IP address", "We forward only the request")
    plan = compile_policy(load_policy_text(text).policy)
    assert "ip_address" not in plan.usage.columns
    assert plan.usage.select({"ip_address": "203.0.113.9", "model": "gpt-4o"}) == {"model": "gpt-4o"}


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=10))
def test_anything_not_in_the_schema_is_dropped(extra: dict[str, str]) -> None:
    schema = shipped_plan().usage
    offered = {**extra, "model": "gpt-4o", "prompt_tokens": 12, "user_agent": "curl/8.5.0"}
    kept = schema.select(offered)
    assert set(kept) <= schema.columns
    assert "prompt_tokens" not in kept and "user_agent" not in kept
    assert kept["model"] == "gpt-4o"


def test_the_raw_user_agent_is_never_a_column() -> None:
    assert not any("agent" in column for column in ALL_COLUMNS)


def test_storage_windows_come_from_the_flagging_rule() -> None:
    assert dict(shipped_plan().storage_windows) == {
        "flagged": Duration(30, "day"),
        "account_marked": Duration(30, "day"),
    }


def test_cookie_allowlist_is_the_declared_cookies() -> None:
    assert shipped_plan().cookies == {"aether_session", "aether_prefs", "aether_analytics"}


def test_egress_rules_name_each_ai_provider_and_its_hosts() -> None:
    egress = shipped_plan().egress
    assert {name: rule.hosts for name, rule in egress.items()} == {
        "openai": ("api.openai.com",),
        "anthropic": ("api.anthropic.com",),
    }
    assert "x-forwarded-for" not in egress["openai"].headers and "cookie" not in egress["openai"].headers


def test_retention_schedule_has_one_spec_per_rule() -> None:
    assert [spec.name for spec in shipped_plan().retention] == [
        "account_data",
        "flagged_content",
        "usage_data",
        "technical_data",
        "tracking_cookies",
    ]


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def gate() -> PromptGate:
    return PromptGate(shipped_plan().storage_windows, Cipher(TEST_KEY))


def test_the_gate_keeps_nothing_for_unflagged_content() -> None:
    assert gate().admit(NOT_FLAGGED, account_id="a", request="hello", response="hi", now=NOW) is None


def test_the_gate_keeps_nothing_when_a_detector_failed() -> None:
    verdict = Verdict("flagged", ("pattern:x",), detector_failed=True)
    assert gate().admit(verdict, account_id="a", request="hello", response="hi", now=NOW) is None


def test_flagged_content_is_sealed_with_the_policy_expiry() -> None:
    record = gate().admit(
        Verdict("flagged", ("pattern:x",)), account_id="a", request="secret prompt", response="r", now=NOW
    )
    assert record is not None
    assert record.expires_at == datetime(2026, 1, 31, tzinfo=UTC)
    assert b"secret prompt" not in record.sealed
    assert unseal(Cipher(TEST_KEY), record.id, record.sealed) == {"request": "secret prompt", "response": "r"}


def test_a_window_in_months_expires_on_the_calendar_date_clamped_to_the_month_end() -> None:
    monthly = PromptGate({"flagged": Duration.parse("1 month")}, Cipher(TEST_KEY))
    flagged_at = datetime(2027, 1, 31, 12, tzinfo=UTC)
    record = monthly.admit(
        Verdict("flagged", ("pattern:x",)), account_id="a", request="x", response="y", now=flagged_at
    )
    assert record is not None
    assert record.expires_at == datetime(2027, 2, 28, 12, tzinfo=UTC)


def test_a_trigger_the_policy_does_not_list_keeps_nothing() -> None:
    only_flags = PromptGate({"flagged": Duration(1, "day")}, Cipher(TEST_KEY))
    verdict = Verdict("account_marked", ("account_marked",))
    assert only_flags.admit(verdict, account_id="a", request="x", response="y", now=NOW) is None


def test_records_cannot_be_made_outside_the_gate() -> None:
    with pytest.raises(TypeError, match=re.escape("created only by PromptGate.admit")):
        QuarantineRecord("id", None, "flagged", "", NOW, NOW, b"", object())
