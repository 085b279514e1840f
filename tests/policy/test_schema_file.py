"""The committed JSON Schema is the one the models generate, and the YAML points editors at it."""

from __future__ import annotations

import json

from aether_policy.schema import policy_json_schema
from tests.conftest import POLICY_FILE, ROOT


def test_committed_schema_matches_the_models() -> None:
    committed = json.loads((ROOT / "policies" / "policy.schema.json").read_text(encoding="utf-8"))
    assert committed == policy_json_schema(), "run: aether-policy schema --out policies/policy.schema.json"


def test_policy_file_points_editors_at_the_schema() -> None:
    first_line = POLICY_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=policy.schema.json"
