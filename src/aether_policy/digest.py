"""A stable fingerprint of a policy, so the page and the running gateway can show they agree."""

from __future__ import annotations

import hashlib
import json

from aether_policy.model import Policy


def canonical_json(policy: Policy) -> str:
    """The policy's meaning as text: key order, comments and YAML style do not appear in it."""
    return json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def policy_digest(policy: Policy) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(policy).encode("utf-8")).hexdigest()
