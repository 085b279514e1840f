"""`--actor` and `--reason`: who performs a privileged command and why, for the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from aether_policy._actor import default_actor

if TYPE_CHECKING:
    from aether_policy.store import Store

actor_option = click.option(
    "--actor",
    default=None,
    help="Who is acting, for the audit trail. Default: $AETHER_ACTOR, else the OS user.",
)


def resolve_actor(given: str | None) -> str:
    """The actor to record: --actor when given (an empty one is refused), else the default."""
    if given is None:
        return default_actor()
    if not given.strip():
        raise click.BadParameter("must not be empty", param_hint="--actor")
    return given.strip()


def audited(
    store: Store, action: str, target: str, *, actor: str, reason: str | None = None, detail: str | None = None
) -> None:
    """Record one privileged action (importing the store only now: a command without it stops earlier)."""
    from aether_policy.store import audit

    audit.record(store, action, target, actor=actor, reason=reason, detail=detail)
