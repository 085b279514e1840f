"""Who is acting, for the audit trail: stdlib only, so a command can resolve it before it needs the gateway."""

from __future__ import annotations

import getpass
import os

ACTOR_ENV = "AETHER_ACTOR"
# The audit trail's column widths (store/tables.py, audit_events), checked before any action is taken.
ACTOR_MAX = 100
REASON_MAX = 500


def unfit(text: str, limit: int) -> str | None:
    """Why `text` cannot be recorded as given (too long, or a NUL), or None when it can."""
    if len(text) > limit:
        return f"is {len(text)} characters; at most {limit} fit in the audit trail"
    if "\x00" in text:
        return "contains a NUL character"
    return None


def default_actor() -> str:
    """$AETHER_ACTOR, else the OS user; 'unknown' when neither can be found (a container without a passwd entry)."""
    given = os.environ.get(ACTOR_ENV, "").strip()
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
