"""`check` warns, at the rule, about what the law expects of an EU-facing policy and what the gateway cannot enforce."""

from __future__ import annotations

from pathlib import Path

from aether_policy.checks.runner import CheckOptions, run_checks
from tests.policy_edits import edit, line_of
from tests.vocabulary import RIGHTS, eu_policy


def findings(tmp_path: Path, text: str) -> list[str]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text, encoding="utf-8")
    report = run_checks(CheckOptions(policy, site=None))
    return [str(f).replace(f"{policy}:", "") for f in report.findings]


def test_the_full_eu_policy_passes_without_findings(tmp_path: Path, policy_text: str) -> None:
    assert findings(tmp_path, eu_policy(policy_text)) == []


def test_an_eu_facing_policy_without_rights_is_warned_about(tmp_path: Path, policy_text: str) -> None:
    text = edit(eu_policy(policy_text), RIGHTS, "")
    assert findings(tmp_path, text) == [
        f"{line_of(text, 'applies_in')}:1: warning: [schema] the policy applies in the EU but declares no `rights` "
        "(GDPR Art. 13(2)(b)); add them"
    ]


def test_an_answer_slower_than_a_month_is_warned_about(tmp_path: Path, policy_text: str) -> None:
    text = edit(eu_policy(policy_text), "response_time: 1 month", "response_time: 45 days")
    assert findings(tmp_path, text) == [
        f"{line_of(text, 'response_time: 45 days')}:3: warning: [schema] requests are answered in 45 days; GDPR Art. 12(3) "
        "allows one month"
    ]


def test_a_legitimate_interest_must_be_named(tmp_path: Path, policy_text: str) -> None:
    text = edit(eu_policy(policy_text), "    legitimate_interest: keeping the service available and safe\n", "")
    (finding,) = findings(tmp_path, text)
    assert finding.startswith(f"{line_of(text, 'legal_basis: legitimate_interests')}:5: warning: [schema] say which")


def test_consent_without_the_right_to_withdraw_it_is_warned_about(tmp_path: Path, policy_text: str) -> None:
    text = edit(eu_policy(policy_text), "objection, withdraw_consent, complaint", "objection, complaint")
    (finding,) = findings(tmp_path, text)
    assert f"{line_of(text, 'legal_basis: consent')}:5: warning: [schema] this purpose rests on consent" in finding


def test_an_adequacy_decision_for_a_country_without_one_is_questioned(tmp_path: Path, policy_text: str) -> None:
    text = eu_policy(policy_text).replace(
        "countries: [US]\n    transfer: standard_contractual_clauses",
        "countries: [CN]\n    transfer: adequacy_decision",
        1,
    )
    (finding,) = findings(tmp_path, text)
    assert "warning: [schema] CN has no EU adequacy decision that this tool knows of" in finding


def test_an_opt_out_cookie_in_the_eu_is_warned_about(tmp_path: Path, policy_text: str) -> None:
    text = edit(
        eu_policy(policy_text), "    kind: analytics\n    consent: opt_in", "    kind: analytics\n    consent: opt_out"
    )
    (finding,) = findings(tmp_path, text)
    assert f"{line_of(text, 'consent: opt_out')}:5: warning: [schema] in the EU a cookie" in finding


def test_an_anchor_the_gateway_does_not_record_is_said_to_be_enforced_elsewhere(
    tmp_path: Path, policy_text: str
) -> None:
    text = edit(
        policy_text, "    keep_for: 52 weeks\n    after: collection", "    keep_for: 52 weeks\n    after: last_activity"
    )
    assert findings(tmp_path, text) == [
        f"{line_of(text, 'after: last_activity')}:5: warning: [promise-coverage] 'tracking_cookies' counts from your "
        "last activity, which the bundled gateway does not record: `aether-policy retention run` does not delete "
        "this data; enforce it where the data is held"
    ]


def test_data_the_gateway_stores_cannot_be_counted_from_an_event_it_does_not_record(
    tmp_path: Path, policy_text: str
) -> None:
    text = edit(
        policy_text, "    keep_for: 90 days\n    after: collection", "    keep_for: 90 days\n    after: contract_end"
    )
    errors = [f for f in findings(tmp_path, text) if ": error: " in f]
    assert len(errors) == 1
    assert (
        "usage column 'account_id' stores api_usage.account_id, kept under rule 'usage_data' counted from the end of "
        in errors[0]
    )
    assert "which the bundled gateway does not record; count it from collection" in errors[0]
