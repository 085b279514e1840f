"""Months and years, end to end: the page prints them as written, diff orders them, serve keeps fixed schedules."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aether_policy import load_policy_text
from aether_policy.cli import main
from aether_policy.diff import semantic_diff
from aether_policy.render import build_site
from aether_policy.render.site import JSON, MARKDOWN
from tests.conftest import POLICY_FILE


def test_a_period_in_years_is_printed_on_the_page_as_written_not_as_days(policy_text: str) -> None:
    text = policy_text.replace("keep_for: 90 days", "keep_for: 7 years")
    files = build_site(load_policy_text(text, "p.yaml")).files
    markdown = files[MARKDOWN].decode()
    assert "7 years after collection" in markdown
    assert "2557 days" not in markdown and "2556 days" not in markdown
    assert json.loads(files[JSON])["policy"]["retention"]["usage_data"]["keep_for"] == "7 years"


def test_moving_from_90_days_to_3_months_is_a_longer_period_and_material(policy_text: str) -> None:
    old = load_policy_text(policy_text).policy
    new = load_policy_text(policy_text.replace("keep_for: 90 days", "keep_for: 3 months")).policy
    [change] = semantic_diff(old, new)
    assert (change.description, change.material) == (
        "Usage and Performance Data kept longer: 90 days → 3 months after collection",
        True,
    )


def test_moving_from_1_year_to_12_months_changes_the_words_but_is_not_longer(policy_text: str) -> None:
    old = load_policy_text(policy_text.replace("keep_for: 90 days", "keep_for: 1 year")).policy
    new = load_policy_text(policy_text.replace("keep_for: 90 days", "keep_for: 12 months")).policy
    [change] = semantic_diff(old, new)
    assert (change.description, change.material) == (
        "Usage and Performance Data kept as long (reworded): 1 year → 12 months after collection",
        False,
    )


def test_serve_refuses_a_retention_schedule_in_months(tmp_path: object) -> None:
    result = CliRunner().invoke(main, ["serve", "--policy", str(POLICY_FILE), "--retention-every", "1 month"])
    assert result.exit_code == 2
    assert "'1 month' has no fixed length; use hours or days, e.g. 24h" in result.output
