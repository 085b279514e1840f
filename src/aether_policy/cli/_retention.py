"""`retention run`: delete what the policy's retention rules say has expired."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aether_policy.cli._actor import actor_option, resolve_actor
from aether_policy.cli._common import load, policy_option, require_gateway, user_errors
from aether_policy.cli._store_commands import db_option, opened

if TYPE_CHECKING:
    from aether_policy.retention.jobs import JobResult, RetentionJob
    from aether_policy.store.store import Store


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not ISO-8601; write e.g. 2026-01-31T00:00:00Z", param_hint="--now"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.group()
def retention() -> None:
    """Retention jobs compiled from the policy's retention rules."""


@retention.command("run")
@policy_option
@db_option
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--now", "now_text", default=None, help="Run as of this ISO-8601 time instead of the clock.")
@click.option("--rule", "rules", multiple=True, help="Run only this rule (repeatable). Default: every rule.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--batch-size", default=20_000, show_default=True, type=click.IntRange(1, 1_000_000))
@actor_option
def retention_run(
    policy_path: Path | None,
    db_url: str | None,
    dry_run: bool,
    now_text: str | None,
    rules: tuple[str, ...],
    fmt: str,
    batch_size: int,
    actor: str | None,
) -> None:
    """Run every retention job (or --rule ones): per rule, the cutoff, rows matched and rows removed.

    Jobs are batched and idempotent: safe to interrupt and to run from several places at once.

    Example: aether-policy retention run --dry-run --now 2026-01-31T00:00:00Z
    """
    require_gateway()
    from aether_policy.plan import compile_policy
    from aether_policy.retention import compile_jobs
    from aether_policy.store import audit

    who = resolve_actor(actor)
    now = _parse_now(now_text)
    loaded = load(policy_path)
    with user_errors():
        jobs = compile_jobs(compile_policy(loaded.policy))
    unknown = [r for r in rules if r not in {job.name for job in jobs}]
    if unknown:
        raise click.UsageError(f"no retention rule '{unknown[0]}'; rules: {', '.join(job.name for job in jobs)}")
    selected = [job for job in jobs if not rules or job.name in rules]
    results = []
    with opened(db_url) as store, user_errors():
        for job in selected:
            total = _count_for_progress(job, store, now) if not dry_run and sys.stderr.isatty() else 0
            if not dry_run and fmt == "text" and sys.stderr.isatty() and total > 100_000:
                with click.progressbar(length=total, label=f"{job.name}", file=sys.stderr) as bar:
                    results.append(job.run(store, now, dry_run=dry_run, batch_size=batch_size, progress=bar.update))
            else:
                results.append(job.run(store, now, dry_run=dry_run, batch_size=batch_size))
        if not dry_run:  # a dry run reads counts only and changes nothing
            counts = {r.rule: r.deleted for r in results if r.skipped is None and r.failed is None}
            audit.record_retention(store, counts, actor=who, scheduled=False)
    failed = [r for r in results if r.failed is not None]
    if fmt == "json":
        click.echo(
            json.dumps({"now": now.isoformat(), "dry_run": dry_run, "rules": [r.as_dict() for r in results]}, indent=2)
        )
    else:
        _print_text(results, dry_run)
    if failed:
        # Every other rule has run; the exit code tells a scheduler this run did not do all it should.
        raise click.ClickException(
            f"{len(failed)} retention rule{'s' if len(failed) > 1 else ''} failed: "
            + "; ".join(f"retention.{r.rule}: {r.failed}" for r in failed)
            + "; the other rules ran. Fix the cause and run again (finished batches stay done)"
        )


def _count_for_progress(job: RetentionJob, store: Store, now: datetime) -> int:
    """The rows a run would touch, only to size a progress bar: a failure here is the run's to report."""
    try:
        return job.count(store, now)
    except Exception:  # the job's own run meets and reports the same failure
        return 0


def _print_text(results: list[JobResult], dry_run: bool) -> None:
    for result in results:
        cutoff = result.cutoff.isoformat(timespec="seconds") if result.cutoff else "-"
        if result.skipped:
            click.echo(f"{result.rule}: skipped, {result.skipped}")
            continue
        if result.failed:
            removed = f"would remove {result.matched}" if dry_run else f"removed {result.deleted}"
            click.echo(f"{result.rule}: FAILED ({result.failed}); {removed} before it  ({result.action})")
            continue
        removed = f"would remove {result.matched}" if dry_run else f"removed {result.deleted}"
        click.echo(f"{result.rule}: cutoff {cutoff}, matched {result.matched}, {removed}  ({result.action})")
