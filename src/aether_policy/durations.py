"""Typed durations ("30 days") so a retention period is a number the runtime can use and the page can print."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

_UNITS: dict[str, tuple[str, int]] = {
    "s": ("second", 1),
    "sec": ("second", 1),
    "second": ("second", 1),
    "seconds": ("second", 1),
    "m": ("minute", 60),
    "min": ("minute", 60),
    "minute": ("minute", 60),
    "minutes": ("minute", 60),
    "h": ("hour", 3600),
    "hour": ("hour", 3600),
    "hours": ("hour", 3600),
    "d": ("day", 86400),
    "day": ("day", 86400),
    "days": ("day", 86400),
    "w": ("week", 604800),
    "week": ("week", 604800),
    "weeks": ("week", 604800),
}
# Months and years are deliberately absent: they have no fixed length, and a promise must be exact.
_PATTERN = re.compile(r"^\s*(\d{1,6})\s*([a-zA-Z]+)\s*$")
PATTERN_TEXT = r"^\s*\d{1,6}\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?|w|weeks?)\s*$"


class Duration:
    """A whole number of seconds, minutes, hours, days or weeks; prints as "30 days"."""

    __slots__ = ("amount", "unit")

    def __init__(self, amount: int, unit: str) -> None:
        if amount < 0:
            raise ValueError("a duration cannot be negative")
        if unit not in {"second", "minute", "hour", "day", "week"}:
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
                f"unknown unit {match.group(2)!r} in {text!r}; use seconds, minutes, hours, days or weeks "
                "(months and years have no fixed length)"
            )
        return cls(amount, _UNITS[unit][0])

    @property
    def seconds(self) -> int:
        return self.amount * _UNITS[self.unit][1]

    @property
    def timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def days(self) -> float:
        return self.seconds / 86400

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}{'' if self.amount == 1 else 's'}"

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and (self.amount, self.unit) == (other.amount, other.unit)

    def __hash__(self) -> int:
        return hash((self.amount, self.unit))

    def __lt__(self, other: Duration) -> bool:
        return self.seconds < other.seconds

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
        return {"type": "string", "pattern": PATTERN_TEXT, "examples": ["30 days", "12 hours"]}
