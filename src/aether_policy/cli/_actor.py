"""`--actor` and `--reason`: who performs a privileged command and why, for the audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from aether_policy._actor import ACTOR_MAX, REASON_MAX, default_actor, unfit

if TYPE_CHECKING:
    from aether_policy.store import Store

actor_option = click.option(
    "--actor",
    default=None,
    help="Who is acting, for the audit trail. Default: $AETHER_ACTOR, else the OS user.",
)


def resolve_actor(given: str | None) -> str:
    """The actor to record: --actor when given (an empty one is refused), else the default; checked to fit
    the audit trail before the command acts, so no action is taken that could not be recorded."""
    actor = default_actor() if given is None else given.strip()
    if not actor:
        raise click.BadParameter("must not be empty", param_hint="--actor")
    problem = unfit(actor, ACTOR_MAX)
    if problem is not None:
        raise click.BadParameter(f"the actor {problem}", param_hint="--actor / AETHER_ACTOR")
    return actor


def checked_reason(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A --reason that fits the audit trail, refused before the command acts."""
    if value is not None:
        problem = unfit(value, REASON_MAX)
        if problem is not None:
            raise click.BadParameter(problem)
    return value


def audited(
    store: Store, action: str, target: str, *, actor: str, reason: str | None = None, detail: str | None = None
) -> None:
    """Record one privileged action (importing the store only now: a command without it stops earlier)."""
    from aether_policy.store import audit

    audit.record(store, action, target, actor=actor, reason=reason, detail=detail)
