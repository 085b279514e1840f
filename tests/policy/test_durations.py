from __future__ import annotations

import pytest

from aether_policy.durations import Duration


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


def test_months_are_refused_because_they_have_no_fixed_length() -> None:
    with pytest.raises(ValueError, match="months and years have no fixed length"):
        Duration.parse("6 months")


def test_durations_compare_by_length() -> None:
    assert Duration.parse("1 week") > Duration.parse("6 days")
