"""The policy's own names are bound to what the runtime records: defaults for AetherAPI's, located errors for
bindings to data that is not declared, and consistent behaviour when a category is renamed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aether_policy import PolicyLoadError, load_policy_text
from aether_policy.bindings import CATEGORY_SLOTS, FORWARDED_HEADERS, USAGE_SLOTS, binding_warnings
from aether_policy.checks.runner import CheckOptions, run_checks
from aether_policy.plan import compile_policy
from aether_policy.retention import compile_jobs
from tests.helpers import shipped_plan


def errors_for(text: str) -> list[str]:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_text(text, "p.yaml")
    return [str(p) for p in caught.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def with_bindings(policy_text: str, bindings: str) -> str:
    """The policy with a `bindings:` section before `sections:`."""
    return policy_text.replace("\nsections:\n", f"\nbindings:\n{bindings}\nsections:\n", 1)


def rename_device(policy_text: str) -> str:
    text = re.sub(r"\bdevice\b", "network", policy_text)
    assert "device:" not in text
    return text


def test_the_shipped_policy_binds_every_slot_to_aetherapis_names() -> None:
    bound = shipped_plan().bindings
    assert bound.fields == {
        "endpoint": "api_usage.endpoint",
        "timestamp": "api_usage.timestamp",
        "response_code": "api_usage.response_code",
        "model": "api_usage.model",
        "account_id": "api_usage.account_id",
        "token_count": "api_usage.token_count",
        "response_time": "performance.response_time",
        "error_class": "performance.error_class",
        "ip_address": "device.ip_address",
        "browser": "device.browser",
    }
    assert bound.categories == {
        "accounts": "account",
        "audit": "audit_data",
        "rate_windows": "api_usage",
        "cookies": "cookies",
    }
    assert bound.content == "prompt_content"
    assert bound.table_categories("usage_events") == ("api_usage", "performance", "device")
    assert bound.header_refs("x-forwarded-for") == ("device", "device.ip_address")
    assert bound.header_refs("cookie") == ("cookies",)


def test_the_shipped_policy_raises_no_binding_warning(policy_text: str) -> None:
    assert list(binding_warnings(load_policy_text(policy_text).policy)) == []


def test_renaming_device_to_network_moves_recording_forwarding_and_erasure_with_it(policy_text: str) -> None:
    text = rename_device(policy_text)
    # A provider that receives the renamed category is forwarded the client address, as one receiving `device` was.
    text = text.replace(
        "    receives: [prompt_content, api_usage.model]\n",
        "    receives: [prompt_content, api_usage.model, network]\n",
        1,
    )
    plan = compile_policy(load_policy_text(text).policy)
    assert plan.usage.allowed_by["ip_address"] == "network.ip_address"
    assert plan.usage.allowed_by["browser_family"] == "network.browser"
    assert plan.usage.columns == shipped_plan().usage.columns
    assert "x-forwarded-for" in plan.egress["openai"].headers
    assert "x-forwarded-for" not in plan.egress["anthropic"].headers
    assert plan.bindings.table_categories("usage_events") == ("api_usage", "performance", "network")
    [technical] = [job for job in compile_jobs(plan) if job.name == "technical_data"]
    assert technical.action == "erase ip_address, browser_family, browser_major_version in usage_events"


def test_a_renamed_device_category_passes_promise_coverage(policy_text: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(rename_device(policy_text))
    findings = run_checks(CheckOptions(policy, site=None)).findings
    assert [f for f in findings if f.check in ("schema", "promise-coverage")] == []


def test_a_binding_to_a_field_the_policy_does_not_declare_is_a_located_error(policy_text: str) -> None:
    text = with_bindings(policy_text, "  usage:\n    ip_address: device.ip")
    assert errors_for(text) == [
        f"p.yaml:{line_of(text, '    ip_address: device.ip')}:5: bindings.usage.ip_address: unknown field "
        "'device.ip'; expected one of: 'browser', 'ip_address'; declare it under `categories.device.fields`, or bind "
        "the slot to a declared field"
    ]


def test_a_binding_to_an_undeclared_category_is_a_located_error(policy_text: str) -> None:
    text = with_bindings(policy_text, "  accounts: acount")
    [error] = errors_for(text)
    assert error.startswith(f"p.yaml:{line_of(text, '  accounts: acount')}:3: bindings.accounts: unknown category")
    assert "did you mean 'account'?" in error


def test_a_usage_slot_bound_to_provided_data_is_refused(policy_text: str) -> None:
    text = with_bindings(policy_text, "  usage:\n    ip_address: account.email")
    [error] = errors_for(text)
    assert "bindings.usage.ip_address: 'account' is not data the gateway records automatically" in error


def test_a_usage_slot_bound_to_request_content_is_refused(policy_text: str) -> None:
    text = with_bindings(policy_text, "  usage:\n    model: prompt_content.request")
    [error] = errors_for(text)
    assert "with a `storage` rule" in error


def test_a_usage_slot_bound_to_a_hashed_field_is_refused(policy_text: str) -> None:
    text = policy_text.replace(
        "      response_time: {title: Response times}", "      response_time: {title: Response times, stored_as: hash}"
    )
    text = with_bindings(text, "  usage:\n    response_time: performance.response_time")
    [error] = errors_for(text)
    assert "cannot hold the response_time slot: the gateway records this value as it is" in error


def test_the_browser_slot_needs_a_field_derived_from_the_user_agent(policy_text: str) -> None:
    text = with_bindings(policy_text, "  usage:\n    browser: device.ip_address")
    [error] = errors_for(text)
    assert "needs `derived_from: user_agent`" in error


def test_a_usage_slot_bound_to_a_whole_category_is_refused(policy_text: str) -> None:
    text = with_bindings(policy_text, "  usage:\n    ip_address: device")
    [error] = errors_for(text)
    assert "a usage slot is held by one field, not a whole category" in error


@pytest.mark.parametrize(
    ("bindings", "expected"),
    [
        ("  usage:\n    prompt: api_usage.model", "bindings.usage.prompt.[key]: unknown usage slot 'prompt'"),
        ("  usage:\n    model: ../../etc/passwd", "bindings.usage.model"),
        ("  evil: api_usage", "bindings.evil"),
        ("  accounts: [account]", "bindings.accounts"),
        ("  usage: {model: {a: 1}}", "bindings.usage.model"),
    ],
)
def test_hostile_bindings_are_located_errors(policy_text: str, bindings: str, expected: str) -> None:
    errors = errors_for(with_bindings(policy_text, bindings))
    assert errors and all(e.startswith("p.yaml:") for e in errors)
    assert any(expected in e for e in errors), errors


def test_an_explicit_binding_replaces_the_default_field(policy_text: str) -> None:
    text = policy_text.replace(
        "      ip_address: {title: IP address}\n",
        "      ip_address: {title: IP address}\n      client: {title: Client address}\n",
    )
    plan = compile_policy(load_policy_text(with_bindings(text, "  usage:\n    ip_address: device.client")).policy)
    assert plan.usage.allowed_by["ip_address"] == "device.client"
    assert plan.bindings.header_refs("forwarded") == ("device", "device.client")


def test_a_collected_field_nothing_records_is_a_located_warning(policy_text: str, tmp_path: Path) -> None:
    text = with_bindings(policy_text, "  usage:\n    ip_address: null")
    policy = tmp_path / "p.yaml"
    policy.write_text(text)
    plan = compile_policy(load_policy_text(text).policy)
    assert "ip_address" not in plan.usage.columns
    assert "x-forwarded-for" not in {h for rule in plan.egress.values() for h in rule.headers}
    warnings = [str(f) for f in run_checks(CheckOptions(policy, site=None)).findings if f.severity == "warning"]
    assert warnings == [
        f"{policy}:{line_of(text, '      ip_address: {title: IP address}')}:7: warning: [schema] 'device.ip_address' "
        "is declared as collected automatically with the gateway's usage data, but no usage slot records it; bind it "
        f"under `bindings.usage` (slots: {', '.join(USAGE_SLOTS)}) or, if it is computed from stored data, mark it "
        "`stored_as: derived`"
    ]


def test_renamed_accounts_and_audit_categories_work_through_their_bindings(policy_text: str, tmp_path: Path) -> None:
    text = re.sub(r"\baccount\b(?=[.,:\]])", "customer", policy_text)
    text = re.sub(r"\baudit_data\b", "trail", text)
    text = with_bindings(text, "  accounts: customer\n  audit: trail")
    policy = tmp_path / "p.yaml"
    policy.write_text(text)
    plan = compile_policy(load_policy_text(text).policy)
    jobs = {job.name: job.action for job in compile_jobs(plan)}
    assert jobs["account_data"] == "delete api_keys and accounts"
    assert jobs["audit_trail"] == "delete audit_events"
    findings = run_checks(CheckOptions(policy, site=None)).findings
    assert [f for f in findings if f.check in ("schema", "promise-coverage")] == []


def test_a_renamed_accounts_category_without_its_binding_fails_promise_coverage(
    policy_text: str, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(re.sub(r"\baccount\b(?=[.,:\]])", "customer", policy_text))
    messages = [
        f.message for f in run_checks(CheckOptions(policy, site=None)).findings if f.check == "promise-coverage"
    ]
    assert messages[0] == (
        "the gateway stores account data (table accounts) but the policy declares no 'account' category; "
        "declare it with a retention rule, or name the category that holds it under `bindings.accounts`"
    )


def test_a_renamed_cookie_category_keeps_cookie_kinds_and_the_cookie_header(policy_text: str) -> None:
    text = re.sub(r"\bcookies(?=[.:\]\n ])(?!: \{)", "trackers", policy_text)
    text = text.replace("\ntrackers:\n", "\ncookies:\n")  # the top-level section keeps its name
    text = text.replace(
        "    receives: [prompt_content, api_usage.model]\n",
        "    receives: [prompt_content, api_usage.model, trackers]\n",
        1,
    )
    unbound = errors_for(text)
    assert any("cookies are declared but no `cookies` category is collected" in e for e in unbound)
    plan = compile_policy(load_policy_text(with_bindings(text, "  cookies: trackers")).policy)
    assert "cookie" in plan.egress["openai"].headers
    assert "cookie" not in plan.egress["anthropic"].headers


def test_every_forwarded_header_and_category_slot_names_a_declared_slot() -> None:
    assert set(FORWARDED_HEADERS.values()) <= set(USAGE_SLOTS) | set(CATEGORY_SLOTS)


def test_binding_a_slot_to_another_field_is_a_material_change(policy_text: str) -> None:
    from aether_policy.diff import semantic_diff

    text = policy_text.replace(
        "      ip_address: {title: IP address}\n",
        "      ip_address: {title: IP address}\n      client: {title: Client}\n",
    )
    old = load_policy_text(text).policy
    new = load_policy_text(with_bindings(text, "  usage:\n    ip_address: device.client")).policy
    changes = [c for c in semantic_diff(old, new) if c.path[0] == "bindings"]
    assert [(c.description, c.material) for c in changes] == [
        ("the gateway's ip_address slot: device.ip_address → device.client", True)
    ]


def test_a_slot_no_longer_recorded_is_not_a_material_change(policy_text: str) -> None:
    from aether_policy.diff import semantic_diff

    old = load_policy_text(policy_text).policy
    new = load_policy_text(with_bindings(policy_text, "  usage:\n    token_count: null")).policy
    changes = [c for c in semantic_diff(old, new) if c.path[0] == "bindings"]
    assert [(c.description, c.material) for c in changes] == [
        ("the gateway no longer records its token_count slot (was api_usage.token_count)", False)
    ]
