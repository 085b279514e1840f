"""Retention jobs compiled from the plan: one per rule, each deleting (or erasing) exactly what expired.

What the gateway stores and which policy data it is:
- `accounts` and `api_keys`: the category bound to `accounts` (`account` by default), kept until deletion plus
  the account rule's period;
- `quarantine`: request content, kept until its expiry (fixed when flagged) or the current window of the rule
  its storage exception names, whichever comes first, so shortening the window in the policy shortens what is
  already kept;
- `audit_events`: the category bound to `audit` (`audit_data`), each event kept for its rule's period after it
  was recorded;
- `usage_events`: one column per usage field. Columns whose rule is shorter than the row's longest are
  erased (set to NULL) when their own period ends; the row is deleted when the longest one ends.

Which rule covers a table, and the anchor it must count from, come from the slots in `aether_policy.bindings`.
Anything stored that no rule covers is a compile-time error: nothing may be kept forever by omission.
A row anchored at `t` under a rule kept for `d` has expired at `now` exactly when `d.after(t) <= now`, with
calendar arithmetic for months and years (see `aether_policy.durations`); the cutoffs are computed in Python
from `now` on every run, so the SQL compares the anchor column with plain timestamps on every backend.
Every job works in short batches, each its own transaction: a running gateway is never blocked for long,
a killed run leaves only whole batches done, and two runners at once never delete a row twice. A job whose
statement fails reports the failure in its result instead of raising: its failed batch is rolled back, and the
other rules still run (one broken rule must not keep everything else past its date).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, false, func, or_, select, text, update

from aether_policy.anchors import ANCHORS, enforced_for
from aether_policy.bindings import CATEGORY_SLOTS
from aether_policy.exceptions import PolicyError
from aether_policy.plan.compiled import Plan, RetentionSpec
from aether_policy.plan.usage import ALL_COLUMNS
from aether_policy.store import tables
from aether_policy.store.store import Store

Progress = Callable[[int], None]


@dataclass(frozen=True)
class JobResult:
    rule: str
    title: str
    action: str
    cutoff: datetime | None
    matched: int
    deleted: int
    dry_run: bool
    skipped: str | None = None
    failed: str | None = None
    """What failed (the error's type and first line), when the rule could not finish; what it removed before
    the failing batch stays removed."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "skipped": self.skipped,
            "failed": self.failed,
            "rule": self.rule,
            "title": self.title,
            "action": self.action,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "matched": self.matched,
            "deleted": self.deleted,
            "dry_run": self.dry_run,
        }


@dataclass
class Step:
    """One batched statement: delete rows of `table`, or set `erase` columns to NULL, where `where` holds."""

    table: Table
    where: Callable[[datetime], ColumnElement[bool]]
    erase: tuple[str, ...] = ()
    children: tuple[Table, ...] = ()  # rows of these tables referencing the deleted ids go first


@dataclass
class RetentionJob:
    spec: RetentionSpec
    steps: list[Step] = field(default_factory=list)
    note: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def action(self) -> str:
        if not self.steps:
            return self.note or "nothing stored by the gateway"
        parts = []
        for step in self.steps:
            if step.erase:
                parts.append(f"erase {', '.join(step.erase)} in {step.table.name}")
            else:
                parts.append(f"delete {' and '.join([*(c.name for c in step.children), step.table.name])}")
        return "; ".join(parts)

    def cutoff(self, now: datetime) -> datetime | None:
        """The latest anchor time at or before which everything has expired (month ends may add a few more)."""
        return self.spec.keep_for.cutoff(now)

    def count(self, store: Store, now: datetime) -> int:
        total = 0
        with store.begin() as conn:
            for step in self.steps:
                total += int(
                    conn.execute(select(func.count()).select_from(step.table).where(step.where(now))).scalar() or 0
                )
        return total

    def run(
        self,
        store: Store,
        now: datetime,
        *,
        dry_run: bool = False,
        batch_size: int = 20_000,
        progress: Progress | None = None,
    ) -> JobResult:
        """Delete (or only count, with dry_run) what expired by `now`.

        A real run reports as matched what its own batches found expired, so no separate count scan is
        paid; with another runner working at once, matched counts only what this runner found.
        """
        tally = [0, 0]  # rows matched and removed so far, kept when a later batch fails
        try:
            return self._run(store, now, tally, dry_run=dry_run, batch_size=batch_size, progress=progress)
        except Exception as error:  # any failure of this rule is reported; the caller runs the other rules
            return JobResult(
                self.name,
                self.spec.title,
                self.action,
                self.cutoff(now),
                tally[0],
                tally[1],
                dry_run,
                failed=describe_failure(error),
            )

    def _run(
        self,
        store: Store,
        now: datetime,
        tally: list[int],
        *,
        dry_run: bool,
        batch_size: int,
        progress: Progress | None,
    ) -> JobResult:
        if dry_run:
            tally[0] = self.count(store, now)
        else:
            with _one_runner(store, self.name) as alone:
                if not alone:
                    return JobResult(
                        self.name,
                        self.spec.title,
                        self.action,
                        self.cutoff(now),
                        0,
                        0,
                        dry_run,
                        skipped="another runner is running this rule now",
                    )
                for step in self.steps:
                    _run_step(store, step, now, batch_size, progress, tally)
        return JobResult(
            self.name,
            self.spec.title,
            self.action,
            self.cutoff(now) if self.steps else None,
            tally[0],
            tally[1],
            dry_run,
        )


def describe_failure(error: BaseException) -> str:
    """The error's type and first line: a database error's first line is the driver's message (the statement and
    its parameters, which follow, may hold personal data and say nothing more to an operator)."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


@contextmanager
def _one_runner(store: Store, rule: str) -> Iterator[bool]:
    """On PostgreSQL, one runner per rule across all replicas (a session advisory lock); others skip the rule.

    SQLite serialises writers itself, and batches are idempotent, so there every runner proceeds.
    """
    if store.backend != "postgresql":
        yield True
        return
    key = zlib.crc32(f"aether-retention:{rule}".encode())
    with store.engine.connect() as conn:
        acquired = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield acquired
        finally:
            if acquired:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def _run_step(
    store: Store, step: Step, now: datetime, batch_size: int, progress: Progress | None, tally: list[int]
) -> None:
    """Adds (rows found expired, rows this runner removed) to `tally` batch by batch, each batch one short
    transaction, so a failing batch leaves the earlier ones counted."""
    key = step.table.c.id
    while True:
        with store.begin() as conn:
            batch = select(key).where(step.where(now)).limit(batch_size)
            if store.backend == "postgresql":
                # Rules that touch the same rows (erasing columns, deleting rows) may run at once from two
                # replicas: lock each batch in id order, so they wait for each other briefly and never deadlock.
                # (SKIP LOCKED would let a runner see an empty batch while rows remain, and stop early.)
                batch = batch.order_by(key).with_for_update()
            if step.children or step.erase:
                ids = [row[0] for row in conn.execute(batch)]
                if not ids:
                    return
                tally[0] += len(ids)
                for child in step.children:
                    conn.execute(delete(child).where(child.c.account_id.in_(ids)))
                if step.erase:
                    erase = (
                        update(step.table).where(key.in_(ids), step.where(now)).values({c: None for c in step.erase})
                    )
                    count = conn.execute(erase).rowcount
                else:
                    count = conn.execute(delete(step.table).where(key.in_(ids))).rowcount
            else:
                count = conn.execute(delete(step.table).where(key.in_(batch.scalar_subquery()))).rowcount
                tally[0] += max(count, 0)
        if count <= 0:
            return
        tally[1] += count
        if progress is not None:
            progress(count)


# -- compiling ----------------------------------------------------------------------------------------------------


def _rule_covering(plan: Plan, category: str, field_name: str | None = None) -> RetentionSpec | None:
    for spec in plan.retention:
        if category in spec.categories or (field_name and f"{category}.{field_name}" in spec.categories):
            return spec
    return None


def usage_column_rules(plan: Plan) -> dict[str, RetentionSpec]:
    """The rule that bounds each usage_events column, found through the policy field that allows it."""
    rules: dict[str, RetentionSpec] = {}
    for column in ALL_COLUMNS:
        ref = plan.usage.allowed_by.get(column)
        if ref is None:
            continue  # never recorded under this policy: always NULL
        category, _, field_name = ref.partition(".")
        spec = _rule_covering(plan, category, field_name)
        if spec is None:
            raise PolicyError(f"usage column '{column}' stores {ref}, which no retention rule covers")
        if not enforced_for(spec.after, tables.usage_events.name):
            raise PolicyError(
                f"usage column '{column}' stores {ref}, kept under rule '{spec.name}' counted from "
                f"{ANCHORS[spec.after].event}, which the bundled gateway does not record; count it from collection"
            )
        rules[column] = spec
    return rules


Where = Callable[[datetime], ColumnElement[bool]]


def _anchor_expired(column: Any, spec: RetentionSpec, now: datetime) -> ColumnElement[bool]:
    """`keep_for.after(column) <= now`, as ranges of the anchor column (exact for months at month ends too)."""
    ranges = [
        column <= end if start is None else column.between(start, end)
        for start, end in spec.keep_for.expired_spans(now)
    ]
    if not ranges:
        return false()  # the period reaches back before any representable time: nothing has expired
    return ranges[0] if len(ranges) == 1 else or_(*ranges)


def _older_than(column: Any, spec: RetentionSpec) -> Where:
    def where(now: datetime) -> ColumnElement[bool]:
        return _anchor_expired(column, spec, now)

    return where


def _quarantine_expired(spec: RetentionSpec, kept: ColumnElement[bool] | None = None) -> Where:
    """Kept content at its expiry or past its rule's current window; `kept` narrows it to the triggers the rule
    keeps, when several rules keep content."""
    q = tables.quarantine.c

    def where(now: datetime) -> ColumnElement[bool]:
        expired = or_(q.expires_at <= now, _anchor_expired(q.created_at, spec, now))
        return expired if kept is None else and_(kept, expired)

    return where


def _content_steps(plan: Plan, content: str) -> Iterator[tuple[RetentionSpec, Step]]:
    """One quarantine step per rule that keeps content, each over the triggers its storage exceptions name.

    The first rule also takes what no other rule names (a trigger the policy no longer stores, say), so every
    kept record has a rule that ends it; before, the first rule took every record, and content a longer rule
    kept (an account mark kept a year) went at the first rule's window.
    """
    specs = [spec for spec in plan.retention if content in spec.categories]
    if not specs:
        raise PolicyError(f"quarantined '{content}' is stored but no retention rule covers it")
    trigger = tables.quarantine.c.trigger
    for i, spec in enumerate(specs):
        own = sorted(w for w, rule in plan.storage_rules.items() if rule == spec.name)
        others = sorted(w for w, rule in plan.storage_rules.items() if rule != spec.name)
        if i == 0:
            kept = trigger.not_in(others) if others else None
        elif own:
            kept = trigger.in_(own)
        else:
            continue  # covers content but keeps no trigger: nothing stored under it
        yield spec, Step(tables.quarantine, _quarantine_expired(spec, kept))


def _columns_expired(spec: RetentionSpec, columns: tuple[str, ...]) -> Where:
    usage = tables.usage_events.c

    def where(now: datetime) -> ColumnElement[bool]:
        return and_(_anchor_expired(usage.timestamp, spec, now), or_(*(usage[c].is_not(None) for c in columns)))

    return where


def compile_jobs(plan: Plan) -> list[RetentionJob]:
    jobs = {spec.name: RetentionJob(spec) for spec in plan.retention}
    for entry in CATEGORY_SLOTS.values():
        if entry.anchor is None:
            continue  # not expired by a rule (rate windows prune themselves; cookies live in browsers)
        category = plan.bindings.categories.get(entry.slot, entry.default)
        rule = _rule_covering(plan, category)
        if rule is None:
            raise PolicyError(
                f"the gateway {entry.stores} but no retention rule covers '{category}'; declare the category "
                f"and add it to a rule with `after: {entry.anchor}`"
            )
        if rule.after != entry.anchor:
            raise PolicyError(
                f"retention rule '{rule.name}' covers {entry.covers}, so it must be `after: {entry.anchor}`"
            )
        table, *children = (tables.metadata.tables[name] for name in entry.tables)
        jobs[rule.name].steps.append(
            Step(table, _older_than(table.c[entry.anchor_column], rule), children=tuple(children))
        )
    if plan.content_category is not None:
        for spec, step in _content_steps(plan, plan.content_category):
            jobs[spec.name].steps.append(step)
    rules = usage_column_rules(plan)
    if rules:
        # A row lives as long as its longest-kept column; shorter-kept columns are erased on their own date.
        row_rule = max(rules.values(), key=lambda spec: spec.keep_for.nominal_seconds)
        jobs[row_rule.name].steps.append(
            Step(tables.usage_events, _older_than(tables.usage_events.c.timestamp, row_rule))
        )
        shorter: dict[str, list[str]] = {}
        for column, spec in rules.items():
            if spec.keep_for < row_rule.keep_for:
                shorter.setdefault(spec.name, []).append(column)
        for name, columns in shorter.items():
            spec = jobs[name].spec
            jobs[name].steps.append(
                Step(tables.usage_events, _columns_expired(spec, tuple(columns)), erase=tuple(columns))
            )
    for job in jobs.values():
        if not job.steps:
            job.note = "nothing stored by the gateway (held by processors, browsers or your log system)"
    return list(jobs.values())
