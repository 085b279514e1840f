"""`audit list`: the audit trail of privileged actions, oldest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from aether_policy.cli._common import user_errors
from aether_policy.cli._store_commands import db_option, opened


def _since(value: str | None, now: datetime) -> datetime | None:
    """An ISO-8601 time, or a fixed duration back from now (`24h`, `7 days`)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        from aether_policy.durations import Duration

        try:
            duration = Duration.parse(value)
        except ValueError:
            duration = None
        if duration is None or duration.is_calendar:
            raise click.BadParameter(
                f"'{value}' is neither an ISO-8601 time (2026-01-31T00:00:00Z) nor a duration in hours or days (24h)",
                param_hint="--since",
            ) from None
        return now - timedelta(seconds=duration.seconds)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.group()
def audit() -> None:
    """The audit trail: who read kept content or changed accounts, keys and the store, when and why."""


@audit.command("list")
@click.option("--since", default=None, help="Only events at or after this ISO-8601 time, or this long ago (24h).")
@click.option("--action", default=None, help="Only this action, e.g. review.show.")
@click.option("--limit", default=None, type=click.IntRange(1, None), help="Only the last N events.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@db_option
def audit_list(since: str | None, action: str | None, limit: int | None, fmt: str, db_url: str | None) -> None:
    """One event per line: time, actor, action, target, reason, detail. Reads only.

    Example: aether-policy audit list --since 7d --action review.show
    """
    from aether_policy.store import audit as trail

    if action is not None and action not in trail.ACTIONS:
        raise click.BadParameter(
            f"'{action}' is not an action; one of: {', '.join(trail.ACTIONS)}", param_hint="--action"
        )
    start = _since(since, datetime.now(UTC))
    with opened(db_url, read_only=True) as store, user_errors():
        found = trail.events(store, since=start, action=action, limit=limit)
    if fmt == "json":
        click.echo(json.dumps({"events": [event.as_dict() for event in found]}, indent=2))
        return
    for event in found:
        when = event.occurred_at.isoformat(timespec="seconds")
        fields = (event.actor, event.action, event.target, event.reason or "-", event.detail or "-")
        click.echo("\t".join([when, *(_one_field(f) for f in fields)]))


def _one_field(text: str) -> str:
    """Tabs, line breaks and other control characters escaped: a reason cannot forge a column or an event."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
