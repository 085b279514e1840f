"""Data-subject requests answered from the policy's rules: access (`export_account`) and erasure (`erase_account`).

These read and delete through SQLAlchemy; import them only where the gateway's storage stack is installed.
"""

from aether_policy.rights.access import export_account
from aether_policy.rights.erasure import ErasureReport, Kept, erase_account

__all__ = ["ErasureReport", "Kept", "erase_account", "export_account"]
