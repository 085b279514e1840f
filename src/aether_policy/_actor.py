"""Who is acting, for the audit trail: stdlib only, so a command can resolve it before it needs the gateway."""

from __future__ import annotations

import getpass
import os

ACTOR_ENV = "AETHER_ACTOR"


def default_actor() -> str:
    """$AETHER_ACTOR, else the OS user; 'unknown' when neither can be found (a container without a passwd entry)."""
    given = os.environ.get(ACTOR_ENV, "").strip()
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
