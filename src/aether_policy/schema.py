"""The JSON Schema of the policy document, generated from the models so it can never drift."""

from __future__ import annotations

from typing import Any

from aether_policy.model import Policy


def policy_json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aether-policy privacy policy"
    return schema
