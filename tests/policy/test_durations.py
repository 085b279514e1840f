from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aether_policy.durations import Duration


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def expired(duration: Duration, anchor: datetime, now: datetime) -> bool:
    """What the retention SQL selects: the anchor lies in one of the expired spans."""
    return any((start is None or start <= anchor) and anchor <= end for start, end in duration.expired_spans(now))


@pytest.mark.parametrize(
    ("text", "seconds", "printed"),
    [
        ("30 days", 2_592_000, "30 days"),
        ("1 day", 86_400, "1 day"),
        ("12h", 43_200, "12 hours"),
        ("2 w", 1_209_600, "2 weeks"),
    ],
)
def test_a_duration_parses_to_seconds_and_prints_in_words(text: str, seconds: int, printed: str) -> None:
    duration = Duration.parse(text)
    assert (duration.seconds, str(duration)) == (seconds, printed)


@pytest.mark.parametrize(
    ("text", "printed"),
    [("7 years", "7 years"), ("1 year", "1 year"), ("1y", "1 year"), ("6 Months", "6 months"), ("1 month", "1 month")],
)
def test_months_and_years_are_accepted_and_print_as_written_not_as_days(text: str, printed: str) -> None:
    assert str(Duration.parse(text)) == printed


def test_an_unknown_unit_lists_every_unit_including_months_and_years() -> None:
    with pytest.raises(ValueError, match="use seconds, minutes, hours, days, weeks, months or years"):
        Duration.parse("3 fortnights")


def test_a_month_has_no_length_in_seconds_so_asking_for_one_is_refused() -> None:
    with pytest.raises(ValueError, match="'1 month' has no fixed length"):
        Duration.parse("1 month").seconds  # noqa: B018


def test_durations_compare_by_length() -> None:
    assert Duration.parse("1 week") > Duration.parse("6 days")


def test_months_and_years_compare_with_fixed_units_by_their_mean_length() -> None:
    assert Duration.parse("4 weeks") < Duration.parse("1 month") < Duration.parse("31 days")
    assert Duration.parse("365 days") < Duration.parse("1 year") < Duration.parse("366 days")


def test_twelve_months_and_one_year_are_the_same_length_but_print_differently() -> None:
    twelve, one = Duration.parse("12 months"), Duration.parse("1 year")
    assert not twelve < one and not one < twelve
    assert twelve != one
    assert twelve.after(at(2028, 2, 29)) == one.after(at(2028, 2, 29)) == at(2029, 2, 28)


@pytest.mark.parametrize(
    ("start", "period", "end"),
    [
        (at(2027, 1, 31, 12), "1 month", at(2027, 2, 28, 12)),
        (at(2028, 1, 31, 12), "1 month", at(2028, 2, 29, 12)),
        (at(2027, 3, 31), "1 month", at(2027, 4, 30)),
        (at(2027, 11, 15), "3 months", at(2028, 2, 15)),
        (at(2028, 2, 29), "1 year", at(2029, 2, 28)),
        (at(2026, 6, 30, 8, 30), "7 years", at(2033, 6, 30, 8, 30)),
    ],
)
def test_calendar_addition_clamps_the_day_to_the_target_month(start: datetime, period: str, end: datetime) -> None:
    assert Duration.parse(period).after(start) == end


def test_the_retention_cutoff_for_one_month_on_31_march_is_the_end_of_february() -> None:
    # Every February moment plus one month lands on or before 28 March, so all of February has expired.
    assert Duration.parse("1 month").cutoff(at(2027, 3, 31, 9)) == at(2027, 2, 28, 23, 59, 59) + timedelta(
        microseconds=999_999
    )
    assert Duration.parse("1 month").cutoff(at(2028, 3, 31, 9)) == datetime(
        2028, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC
    )


def test_on_the_last_day_of_february_the_last_days_of_january_expire_up_to_the_time_of_day() -> None:
    month, now = Duration.parse("1 month"), at(2027, 2, 28, 10)
    assert expired(month, at(2027, 1, 28, 10), now)
    assert not expired(month, at(2027, 1, 28, 10, 0, 1), now)
    for day in (29, 30, 31):
        assert expired(month, at(2027, 1, day, 10), now), day
        assert not expired(month, at(2027, 1, day, 10, 0, 1), now), day
    assert len(month.expired_spans(now)) == 4


def test_a_month_after_the_middle_of_a_month_is_the_same_day_and_time() -> None:
    month, now = Duration.parse("1 month"), at(2027, 5, 15, 10)
    assert month.expired_spans(now) == [(None, at(2027, 4, 15, 10))]


def test_fixed_units_have_one_span_ending_at_now_minus_the_period() -> None:
    assert Duration.parse("30 days").expired_spans(at(2026, 1, 31)) == [(None, at(2026, 1, 1))]


def test_a_period_longer_than_the_calendar_never_expires_and_never_overflows() -> None:
    forever = Duration.parse("999999 years")
    assert forever.after(at(2026, 1, 1)) == datetime.max.replace(tzinfo=UTC)
    assert forever.expired_spans(at(2026, 1, 1)) == []
    assert forever.cutoff(at(2026, 1, 1)) is None
    assert Duration.parse("999999 weeks").expired_spans(at(2026, 1, 1)) == []


def test_a_cookie_lifetime_in_years_counts_the_seconds_from_the_moment_it_is_set() -> None:
    assert Duration.parse("1 year").seconds_from(at(2027, 3, 1)) == 366 * 86400  # 2028 is a leap year
    assert Duration.parse("1 year").seconds_from(at(2026, 3, 1)) == 365 * 86400


moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC))
calendar_periods = st.builds(Duration, st.integers(0, 150), st.sampled_from(["month", "year"]))
fixed_periods = st.builds(Duration, st.integers(0, 5000), st.sampled_from(["second", "hour", "day", "week"]))


@given(anchor=moments, now=moments, period=st.one_of(calendar_periods, fixed_periods))
def test_an_anchor_is_in_the_expired_spans_exactly_when_anchor_plus_the_period_has_passed(
    anchor: datetime, now: datetime, period: Duration
) -> None:
    assert expired(period, anchor, now) == (period.after(anchor) <= now)


def test_the_month_end_edge_is_exact_for_every_anchor_on_the_last_days_of_every_month() -> None:
    # Exhaustively, over two years (one leap): anchors on days 28 to 31 of every month, at 10:00, for 1 to 13
    # months and 1 to 2 years, with `now` one microsecond before, at, and after the anchor's expiry. Where clamping
    # sends several days onto one, only an exact rule gets both sides of that moment right.
    checked = 0
    for year, month in [(y, m) for y in (2027, 2028) for m in range(1, 13)]:
        for day in range(28, calendar.monthrange(year, month)[1] + 1):
            anchor = at(year, month, day, 10)
            for period in [Duration(n, "month") for n in range(1, 14)] + [Duration(n, "year") for n in (1, 2)]:
                for delta in (-timedelta(microseconds=1), timedelta(0), timedelta(microseconds=1)):
                    now = period.after(anchor) + delta
                    assert expired(period, anchor, now) == (delta >= timedelta(0)), (anchor, period, now)
                    checked += 1
    assert checked == 3735
