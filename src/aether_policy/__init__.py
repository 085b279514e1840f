"""aether-policy: a privacy policy as code, enforced at run time and published from one YAML file."""

from aether_policy.digest import policy_digest
from aether_policy.durations import Duration
from aether_policy.exceptions import PolicyError, PolicyLoadError, Problem
from aether_policy.loader import LoadedPolicy, load_policy, load_policy_text
from aether_policy.model import Policy

__all__ = [
    "Duration",
    "LoadedPolicy",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "Problem",
    "load_policy",
    "load_policy_text",
    "policy_digest",
]
