"""Any valid policy survives YAML and back unchanged, and its digest tracks meaning, not formatting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aether_policy import load_policy_text, policy_digest
from aether_policy.dump import to_yaml
from aether_policy.durations import Duration
from aether_policy.model import Policy
from tests.strategies import policies


@given(policies())
def test_policy_to_yaml_and_back_is_the_same_policy(policy: Policy) -> None:
    loaded = load_policy_text(to_yaml(policy))
    assert loaded.policy == policy
    assert loaded.digest == policy_digest(policy)


@given(policies(), st.booleans(), st.booleans())
def test_key_order_style_and_comments_do_not_change_the_digest(policy: Policy, sort: bool, flow: bool) -> None:
    text = "# a comment the digest must ignore\n" + to_yaml(policy, sort_keys=sort, flow=flow)
    assert load_policy_text(text).digest == policy_digest(policy)


@given(policies(), st.integers(1, 10_000))
def test_changing_a_retention_period_changes_the_digest(policy: Policy, days: int) -> None:
    rule_name, rule = next(iter(policy.retention.items()))
    new_period = Duration(days, "day")
    if new_period == rule.keep_for:
        new_period = Duration(days + 1, "day")
    changed = policy.model_copy(
        update={"retention": {**policy.retention, rule_name: rule.model_copy(update={"keep_for": new_period})}}
    )
    assert policy_digest(changed) != policy_digest(policy)


@given(policies())
def test_changing_the_minimum_age_changes_the_digest(policy: Policy) -> None:
    age = policy.children.minimum_age
    changed = policy.model_copy(
        update={"children": policy.children.model_copy(update={"minimum_age": 13 if age != 13 else 14})}
    )
    assert policy_digest(changed) != policy_digest(policy)


def test_the_shipped_policy_digest_ignores_its_comments(policy_text: str) -> None:
    lines = policy_text.splitlines(keepends=True)
    stripped = "".join(line.split(" #")[0].rstrip() + "\n" for line in lines if not line.startswith("#"))
    assert load_policy_text(stripped).digest == load_policy_text(policy_text).digest
