"""Per-key controls on the command line: `keys create` options and `keys update`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from aether_policy.cli._actor import actor_option, audited, checked_reason, resolve_actor
from aether_policy.cli._common import require_gateway, user_errors

F = TypeVar("F", bound=Callable[..., Any])


def _limit(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A whole number of at least 1, or `none` for no limit (click 8.1 has no generic ParamType to type this)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "none":
        return None
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise click.BadParameter(f"'{value}' is not a whole number from 1 to 2147483647, or 'none'")
    return int(text)


def control_options(func: F) -> F:
    """--expires, --model, --rpm, --tpm: the same on `keys create` and `keys update`."""
    func = click.option("--tpm", metavar="N|none", callback=_limit, default=None, help="Tokens per minute, or 'none'.")(
        func
    )
    func = click.option(
        "--rpm", metavar="N|none", callback=_limit, default=None, help="Requests per minute, or 'none'."
    )(func)
    func = click.option(
        "--model",
        "models",
        multiple=True,
        help="A model name or glob pattern the key may call (repeatable). Default: every routed model.",
    )(func)
    func = click.option(
        "--expires", default=None, help="When the key stops working: a duration (30 days, 12h) or ISO date; 'never'."
    )(func)
    return func


def expiry(text: str | None) -> datetime | None:
    from aether_policy.gateway.limits import parse_expiry

    if text is None or text.strip().lower() == "never":
        return None
    try:
        return parse_expiry(text.strip())
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--expires") from None


def given(ctx: click.Context, name: str) -> bool:
    """Whether the operator typed this option (a default must not overwrite what a key has)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


@click.command("update")
@click.argument("key_id")
@control_options
@click.option("--all-models", is_flag=True, help="Let the key call every routed model again.")
@click.option(
    "--reason", default=None, callback=checked_reason, help="Why the controls change (kept in the audit trail)."
)
@actor_option
@click.option("--db", "db_url", envvar="AETHER_DATABASE_URL", default=None, help="Database URL (as for keys list).")
@click.pass_context
def keys_update(
    ctx: click.Context,
    key_id: str,
    expires: str | None,
    models: tuple[str, ...],
    rpm: int | None,
    tpm: int | None,
    all_models: bool,
    reason: str | None,
    actor: str | None,
    db_url: str | None,
) -> None:
    """Change a key's expiry, models or limits; only the options given change. Applies within 2 s on every gateway.

    Example: aether-policy keys update key_0123456789abcdef --rpm 60 --tpm 100000 --model 'gpt-4o*'
    """
    require_gateway()
    from aether_policy.cli._store_commands import opened
    from aether_policy.store.key_controls import update_controls

    if models and all_models:
        raise click.UsageError("give --model patterns or --all-models, not both")
    changes: dict[str, Any] = {}
    if given(ctx, "expires"):
        changes["expires_at"] = expiry(expires)
    if models or all_models:
        changes["models"] = models or None
    for name, value in (("rpm", rpm), ("tpm", tpm)):
        if given(ctx, name):
            changes[name] = value
    if not changes:
        raise click.UsageError("nothing to change: give --expires, --model, --all-models, --rpm or --tpm")
    who = resolve_actor(actor)
    with opened(db_url) as store, user_errors():
        controls = update_controls(store, key_id, **changes)
        audited(store, "key.update", key_id, actor=who, reason=reason, detail=controls.describe()[:500])
    click.echo(f"updated {key_id}: {controls.describe()}")
