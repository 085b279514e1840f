"""Typed durations ("30 days", "7 years") so a retention period is a value the runtime can enforce and the page
can print exactly as the policy wrote it.

Seconds, minutes, hours, days and weeks have a fixed length. Months and years do not, so they are never turned
into a number of seconds: they are applied to a moment with calendar arithmetic, in UTC, clamping the day of the
month (31 January + 1 month = 28 February, or 29 in a leap year; 29 February + 1 year = 28 February).

Retention semantics: something anchored at `t` (collected, flagged, its account deleted) and kept for `d` has
expired at `now` exactly when `d.after(t) <= now`. Because clamping sends several days onto one (29, 30 and 31
January + 1 month all land on 28 February), the expired anchors are not always one interval below a single
cutoff; `expired_spans(now)` gives them as at most four closed intervals, so a SQL query can select them exactly.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

_UNITS: dict[str, str] = {
    "s": "second",
    "sec": "second",
    "second": "second",
    "seconds": "second",
    "m": "minute",
    "min": "minute",
    "minute": "minute",
    "minutes": "minute",
    "h": "hour",
    "hour": "hour",
    "hours": "hour",
    "d": "day",
    "day": "day",
    "days": "day",
    "w": "week",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "y": "year",
    "year": "year",
    "years": "year",
}
_FIXED_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_CALENDAR_MONTHS = {"month": 1, "year": 12}
# Only for ordering durations of different kinds ("is the new period longer?"): the Gregorian mean lengths.
_NOMINAL_SECONDS = {**_FIXED_SECONDS, "month": 2_629_746, "year": 31_556_952}
_PATTERN = re.compile(r"^\s*(\d{1,6})\s*([a-zA-Z]+)\s*$")
PATTERN_TEXT = r"^\s*\d{1,6}\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?|w|weeks?|months?|y|years?)\s*$"
_ONE_MICROSECOND = timedelta(microseconds=1)

Span = tuple[datetime | None, datetime]
"""A closed interval of anchor times: (start, end), start None meaning "since the beginning of time"."""


class Duration:
    """A whole number of seconds, minutes, hours, days, weeks, months or years; prints as "30 days" or "7 years"."""

    __slots__ = ("amount", "unit")

    def __init__(self, amount: int, unit: str) -> None:
        if amount < 0:
            raise ValueError("a duration cannot be negative")
        if unit not in _NOMINAL_SECONDS:
            raise ValueError(f"unknown duration unit {unit!r}")
        self.amount = amount
        self.unit = unit

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _PATTERN.match(text)
        if not match:
            raise ValueError(
                f"{text!r} is not a duration; write a whole number and a unit, such as '30 days' or '12 hours'"
            )
        amount, unit = int(match.group(1)), match.group(2).lower()
        if unit not in _UNITS:
            raise ValueError(
                f"unknown unit {match.group(2)!r} in {text!r}; use seconds, minutes, hours, days, weeks, months "
                "or years"
            )
        return cls(amount, _UNITS[unit])

    @property
    def is_calendar(self) -> bool:
        """True for months and years, whose length depends on where in the calendar they start."""
        return self.unit in _CALENDAR_MONTHS

    @property
    def seconds(self) -> int:
        """The exact length; refused for months and years, which have none (use `after` or `expired_spans`)."""
        if self.is_calendar:
            raise ValueError(f"'{self}' has no fixed length in seconds; apply it to a moment with after()")
        return self.amount * _FIXED_SECONDS[self.unit]

    @property
    def timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def nominal_seconds(self) -> int:
        """A length for ordering only: months and years count at their Gregorian mean (30.44 and 365.2425 days)."""
        return self.amount * _NOMINAL_SECONDS[self.unit]

    def after(self, moment: datetime) -> datetime:
        """`moment` plus this duration; past the last representable moment, that moment (it never comes)."""
        if self.is_calendar:
            return _add_months(moment, self.amount * _CALENDAR_MONTHS[self.unit])
        try:
            return moment + self.timedelta
        except OverflowError:
            return datetime.max.replace(tzinfo=moment.tzinfo)

    def seconds_from(self, moment: datetime) -> int:
        """How many whole seconds this duration lasts when it starts at `moment` (a cookie's Max-Age, say)."""
        return int((self.after(moment) - moment).total_seconds())

    def expired_spans(self, now: datetime) -> list[Span]:
        """Every anchor time `t` with `self.after(t) <= now`, as closed intervals (at most four; none if none).

        The first interval ends at `cutoff(now)`. The others exist only when `now` is the last day of a month
        shorter than the month `self` before it: for `now` = 28 February 10:00 and 1 month, anchors on 29, 30 and
        31 January up to 10:00 have expired too (they land on 28 February), later ones on those days have not.
        """
        if not self.is_calendar:
            try:
                return [(None, now - self.timedelta)]
            except OverflowError:
                return []
        months = self.amount * _CALENDAR_MONTHS[self.unit]
        target = _shift_month(now.year, now.month, -months)
        if target is None:
            return []  # the period reaches back before year 1: nothing anchored since has expired
        year, month = target
        target_days = calendar.monthrange(year, month)[1]
        if now.day > target_days:
            # Every day of the target month lands before now's day: the whole month has expired.
            return [
                (None, datetime(year, month, target_days, tzinfo=now.tzinfo) + timedelta(days=1) - _ONE_MICROSECOND)
            ]
        spans: list[Span] = [(None, now.replace(year=year, month=month))]
        if now.day == calendar.monthrange(now.year, now.month)[1]:
            # now is its month's last day: the target month's later days clamp onto it, up to now's time of day.
            for day in range(now.day + 1, target_days + 1):
                start = datetime(year, month, day, tzinfo=now.tzinfo)
                spans.append((start, now.replace(year=year, month=month, day=day)))
        return spans

    def cutoff(self, now: datetime) -> datetime | None:
        """The latest anchor time at or before which everything has expired at `now` (None: nothing has)."""
        spans = self.expired_spans(now)
        return spans[0][1] if spans else None

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}{'' if self.amount == 1 else 's'}"

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and (self.amount, self.unit) == (other.amount, other.unit)

    def __hash__(self) -> int:
        return hash((self.amount, self.unit))

    def __lt__(self, other: Duration) -> bool:
        return self.nominal_seconds < other.nominal_seconds

    def __gt__(self, other: Duration) -> bool:
        return self.nominal_seconds > other.nominal_seconds

    @classmethod
    def _validate(cls, value: Any) -> Duration:
        if isinstance(value, Duration):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        raise ValueError("a duration is a string such as '30 days'")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate, serialization=core_schema.to_string_ser_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": PATTERN_TEXT, "examples": ["30 days", "12 hours", "7 years"]}


def _shift_month(year: int, month: int, months: int) -> tuple[int, int] | None:
    """(year, month) moved by `months`; None outside the years datetime can represent."""
    shifted_year, index = divmod(month - 1 + months, 12)
    shifted_year += year
    if not datetime.min.year <= shifted_year <= datetime.max.year:
        return None
    return shifted_year, index + 1


def _add_months(moment: datetime, months: int) -> datetime:
    """Calendar addition with the day clamped to the target month's length; saturates at datetime.max."""
    target = _shift_month(moment.year, moment.month, months)
    if target is None:
        return datetime.max.replace(tzinfo=moment.tzinfo)
    year, month = target
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
