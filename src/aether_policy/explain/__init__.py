"""`aether-policy explain`: what the compiled plan does with one request, or with one piece of data, and why.

`explain_field` reads only the policy and the plan; `explain_request` (in `dry_run`) runs the bundled gateway
in memory and needs the gateway's stack, so it is imported from its module where needed.
"""

from aether_policy.explain.field import explain_field

__all__ = ["explain_field"]
