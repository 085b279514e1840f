"""CI compliance checks: the policy, the published site and the gateway config agree."""

from aether_policy.checks.findings import CHECKS, Finding
from aether_policy.checks.formats import FORMATS
from aether_policy.checks.runner import CheckOptions, Report, run_checks

__all__ = ["CHECKS", "FORMATS", "CheckOptions", "Finding", "Report", "run_checks"]
