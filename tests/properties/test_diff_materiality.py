"""The diff's judgement, against an oracle: edits that widen what is kept, for how long, or who receives it.

Hypothesis starts from the shipped policy (made stricter where it is as loose as the schema allows), applies any number of neutral edits (wording, renames, reorderings,
shorter periods, less sharing) and then one widening edit, each labelled in `policy_mutations.py` by what it
means rather than by what the diff says. The neutral policy must differ from the shipped one by nothing
material; the widening edit on top of it must be reported as material.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aether_policy.diff import Change, semantic_diff
from aether_policy.model import Policy
from aether_policy.references import cross_reference_problems
from tests.conftest import POLICY_FILE
from tests.properties.policy_mutations import NEUTRAL, WIDENING, Edit, stricter

edits = settings(deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@cache
def shipped_document() -> dict[str, Any]:
    """The shipped policy, made stricter where it is already as loose as it can be (see `stricter`)."""
    return stricter(yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8")))


@cache
def shipped_policy() -> Policy:
    policy = valid(copy.deepcopy(shipped_document()))
    assert policy is not None
    return policy


def valid(document: dict[str, Any]) -> Policy | None:
    """The policy, if the edited document is one a loader would accept (schema and references)."""
    try:
        policy = Policy.model_validate(document)
    except ValueError:
        return None
    return None if cross_reference_problems(policy) else policy


def apply(document: dict[str, Any], edit: Edit, draw: st.DrawFn) -> Policy:
    edited = copy.deepcopy(document)
    assume(edit(edited, draw))
    document.clear()
    document.update(edited)
    policy = valid(document)
    assume(policy is not None)
    assert policy is not None
    return policy


def material(changes: list[Change]) -> list[str]:
    return [c.description for c in changes if c.material]


@edits
@given(st.data())
def test_neutral_edits_are_never_material_and_a_widening_edit_always_is(data: st.DataObject) -> None:
    document = copy.deepcopy(shipped_document())
    shipped = neutral = shipped_policy()
    for edit in data.draw(st.lists(st.sampled_from(NEUTRAL), max_size=4), label="neutral edits"):
        neutral = apply(document, edit, data.draw)
    assert material(semantic_diff(shipped, neutral)) == []
    widening = data.draw(st.sampled_from(WIDENING), label="widening edit")
    widened = apply(document, widening, data.draw)
    changes = semantic_diff(neutral, widened)
    assert material(changes), f"{widening.__name__} was not reported as material: {changes}"


@pytest.mark.parametrize("edit", WIDENING, ids=lambda e: e.__name__)
@edits
@given(st.data())
def test_each_widening_edit_alone_is_material(edit: Edit, data: st.DataObject) -> None:
    """Each edit applies to the shipped policy (else Unsatisfiable fails the test); of its results, the valid
    ones are judged. Some draws are invalid policies by rule, not by the edit's fault: a usage rule outliving the
    one that keeps each row's timestamp, or a hashed timestamp (see bindings); Hypothesis's filter health check
    fails the test if that were most of them."""
    document = copy.deepcopy(shipped_document())
    assume(edit(document, data.draw))
    widened = valid(document)
    assume(widened is not None)
    assert widened is not None
    assert material(semantic_diff(shipped_policy(), widened))


@pytest.mark.parametrize("edit", NEUTRAL, ids=lambda e: e.__name__)
@edits
@given(st.data())
def test_each_neutral_edit_alone_is_not_material(edit: Edit, data: st.DataObject) -> None:
    document = copy.deepcopy(shipped_document())
    assume(edit(document, data.draw))
    edited = valid(document)
    assume(edited is not None)  # as above: some draws are invalid by rule, and are not judged
    assert edited is not None
    assert material(semantic_diff(shipped_policy(), edited)) == []
