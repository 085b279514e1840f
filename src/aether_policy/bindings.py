"""The runtime's slots and the policy's names for them: the one place the engine meets a policy's vocabulary.

The bundled gateway records a fixed set of things: usage-event columns, headers it may forward to a provider,
and tables it keeps (accounts and keys, the audit trail, per-key request counts, kept content). A policy names
its data as it likes; its `bindings:` section maps its categories and fields onto these slots, and every part of
the runtime (usage schema, egress guard, retention jobs, checks, rights, explain) asks this module which policy
name holds a slot instead of knowing one. Without the section, or a key of it, AetherAPI's names are the
defaults: a usage slot is held by the automatic field of that name, a table by the category of that name.

Adding a slot is one entry here. Bindings are checked when the policy loads (`binding_problems`: a binding to
data the policy does not declare, or of the wrong kind, is a located error; `holder_problems` and
`period_problems`: what the bindings resolve to, defaults included, must be one field per slot, no usage slot
in a dated table's category, one category per table, and a timestamp kept as long as its row) and by
`check` (`binding_warnings`: a collected field of a category the gateway records into that nothing records).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aether_policy._suggest import did_you_mean

if TYPE_CHECKING:
    from aether_policy.model import Category, Policy, RetentionRule

Path = tuple[str | int, ...]
Finding = tuple[Path, str]

# -- the slots the runtime declares -------------------------------------------------------------------------------

USAGE_SLOTS: Mapping[str, tuple[str, ...]] = {
    "account_id": ("account_id",),
    "endpoint": ("endpoint", "method"),
    "timestamp": ("timestamp",),
    "response_code": ("response_code",),
    "model": ("model",),
    "response_time": ("latency_ms",),
    "error_class": ("error_class",),
    "ip_address": ("ip_address",),
    "token_count": ("input_tokens", "output_tokens"),  # as the provider reports them
    "browser": ("browser_family", "browser_major_version"),
}
"""Each usage-event slot and the columns it fills. Its default field is the automatic field of its name."""

REQUIRED_SLOTS: tuple[str, ...] = ("timestamp",)
"""Slots whose columns every usage row needs (NOT NULL in `usage_events`): the gateway drops a row without them,
and the retention jobs date rows by the timestamp, so it must be kept as long as the row."""

BROWSER_SLOT = "browser"
BROWSER_INPUT = "user_agent"
BROWSER_PARTS: Mapping[str, str] = {"family": "browser_family", "major_version": "browser_major_version"}
"""The browser slot is derived from the User-Agent: only the parts its field `keep`s become columns. Its
default field is any automatic field `derived_from: user_agent`, whatever its name."""

CLIENT_ADDRESS_SLOT = "ip_address"
FORWARDED_HEADERS: Mapping[str, str] = {
    "x-forwarded-for": CLIENT_ADDRESS_SLOT,
    "forwarded": CLIENT_ADDRESS_SLOT,
    "x-real-ip": CLIENT_ADDRESS_SLOT,
    "true-client-ip": CLIENT_ADDRESS_SLOT,
    "cf-connecting-ip": CLIENT_ADDRESS_SLOT,
    "cookie": "cookies",
}
"""Headers carrying user data, and the slot whose data they carry: forwarded only to a recipient that receives
the data bound to that slot (its field, or the whole category)."""

MODEL_SLOT = "model"
DEFAULT_MODEL_REF = "api_usage.model"
"""The usage slot whose data the gateway sends every provider with each request (the model name), and the
field named when the policy binds none (the model is sent all the same, so a recipient must receive it)."""


@dataclass(frozen=True)
class StoredTable:
    """A category slot: data the gateway keeps in its own tables (or, for cookies, sets in browsers)."""

    slot: str
    default: str
    """AetherAPI's name for it, used when the policy binds none."""
    tables: tuple[str, ...]
    description: str
    anchor: str | None = None
    """The retention anchor a rule over it must count from, when the retention jobs expire it."""
    anchor_column: str = ""
    """The column of the first table the jobs date it by (rows of the other tables go with it)."""
    stores: str = ""
    """What the gateway keeps, mid-sentence, for errors: 'stores accounts and API keys'."""
    covers: str = ""
    """What a rule over it covers, mid-sentence: 'accounts'."""
    kept: str = ""
    """Where its data is kept, mid-sentence, for `explain`: 'accounts and API keys (tables accounts, api_keys)'."""


CATEGORY_SLOTS: Mapping[str, StoredTable] = {
    entry.slot: entry
    for entry in (
        StoredTable(
            "accounts",
            "account",
            ("accounts", "api_keys"),
            "Accounts and their API keys.",
            anchor="account_deletion",
            anchor_column="deleted_at",
            stores="stores accounts and API keys",
            covers="accounts",
            kept="accounts and API keys (tables accounts, api_keys)",
        ),
        StoredTable(
            "audit",
            "audit_data",
            ("audit_events",),
            "The audit trail: who did what to kept data, never the data.",
            anchor="collection",
            anchor_column="occurred_at",
            stores="keeps an audit trail",
            covers="the audit trail",
            kept="the audit trail (table audit_events)",
        ),
        StoredTable(
            "rate_windows",
            "api_usage",
            ("rate_windows",),
            "Per-key request and token counts of the current minute (pruned as windows close).",
            kept="per-key counts of the current minute (table rate_windows, pruned as windows close)",
        ),
        StoredTable(
            "cookies",
            "cookies",
            (),
            "The cookie kinds the `cookies` section's entries name (`kind`).",
            kept="cookies in users' browsers, each until its `max_age`",
        ),
    )
}
USAGE_TABLE = "usage_events"
CONTENT_TABLE = "quarantine"
"""Kept content's category is the one with a `storage` rule; usage events hold the usage slots' categories."""


# -- what one policy binds ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bound:
    """The policy's names for every slot: computed once per plan."""

    fields: Mapping[str, str]
    """Usage slot -> `category.field` holding it; a slot the policy does not collect is absent."""
    columns: Mapping[str, str]
    """Usage column -> `category.field` allowing it."""
    categories: Mapping[str, str]
    """Category slot -> the policy's category name (the default when it binds none)."""
    content: str | None

    @property
    def model_ref(self) -> str:
        """The data every provider is sent with each request besides its content: the model name."""
        return self.fields.get(MODEL_SLOT, DEFAULT_MODEL_REF)

    def table_categories(self, table: str) -> tuple[str, ...]:
        """The policy categories a gateway table holds, for coverage and rights."""
        if table == USAGE_TABLE:
            return tuple(dict.fromkeys(ref.partition(".")[0] for ref in self.columns.values()))
        if table == CONTENT_TABLE:
            return (self.content,) if self.content is not None else ()
        return tuple(self.categories[e.slot] for e in CATEGORY_SLOTS.values() if table in e.tables)

    def rebind_hint(self, table: str) -> str:
        """How a policy whose own category holds a table's data says so, for coverage errors."""
        slots = [e.slot for e in CATEGORY_SLOTS.values() if table in e.tables]
        return f", or name the category that holds it under `bindings.{slots[0]}`" if slots else ""

    def header_refs(self, header: str) -> tuple[str, ...]:
        """What a recipient must receive (a category or a field) to be forwarded this header."""
        slot = FORWARDED_HEADERS[header]
        if slot in self.categories:
            return (self.categories[slot],)
        ref = self.fields.get(slot)
        return (ref.partition(".")[0], ref) if ref is not None else ()


def bind(policy: Policy) -> Bound:
    """Resolve every slot to the policy's names. Assumes `binding_problems(policy)` found nothing."""
    declared = policy.bindings
    explicit = dict(declared.usage) if declared is not None else {}
    fields: dict[str, str] = {}
    columns: dict[str, str] = {}
    # Defaults first, in document order (a later category holding a field of the same name wins, as it always
    # has); an explicit binding then replaces the default of its slot.
    for cname, category in policy.categories.items():
        if not _records_usage(category):
            continue
        for fname, field in category.fields.items():
            slot = BROWSER_SLOT if field.derived_from == BROWSER_INPUT else fname
            if slot in USAGE_SLOTS and slot not in explicit and _fits(slot, field) is None:
                fields[slot] = f"{cname}.{fname}"
    for slot, ref in explicit.items():
        if ref is not None:
            fields[slot] = ref
    for slot, ref in fields.items():
        cname, _, fname = ref.partition(".")
        field = policy.categories[cname].fields[fname]
        if slot == BROWSER_SLOT:
            for part in field.keep:
                if part in BROWSER_PARTS:
                    columns[BROWSER_PARTS[part]] = ref
        else:
            for column in USAGE_SLOTS[slot]:
                columns[column] = ref
    categories = {
        slot: (getattr(declared, slot, None) if declared is not None else None) or entry.default
        for slot, entry in CATEGORY_SLOTS.items()
    }
    content = next((n for n, c in policy.categories.items() if c.storage is not None), None)
    return Bound(fields, columns, categories, content)


def _records_usage(category: Category) -> bool:
    """Only automatic data becomes a usage column; request content never does."""
    return category.source == "automatic" and category.storage is None


def _fits(slot: str, field: object) -> str | None:
    """Why a field cannot hold a usage slot, or None."""
    stored_as = getattr(field, "stored_as", "plain")
    if slot == BROWSER_SLOT:
        if getattr(field, "derived_from", None) != BROWSER_INPUT:
            return f"the browser slot is derived from the User-Agent; the field needs `derived_from: {BROWSER_INPUT}`"
        if not set(getattr(field, "keep", ())) & set(BROWSER_PARTS):
            return f"the field keeps none of {', '.join(BROWSER_PARTS)}, so nothing would be recorded"
        return None
    if stored_as != "plain":
        return f"the gateway records this value as it is, but the field is `stored_as: {stored_as}`"
    return None


# -- checks ---------------------------------------------------------------------------------------------------


def binding_problems(policy: Policy) -> Iterator[Finding]:
    """Located errors: a binding to data the policy does not declare, or that cannot hold the slot."""
    declared = policy.bindings
    if declared is None:
        return
    for slot in CATEGORY_SLOTS:
        name = getattr(declared, slot)
        if name is not None and name not in policy.categories:
            yield (
                ("bindings", slot),
                f"unknown category '{name}'; {did_you_mean(name, policy.categories)}; bind a declared category, or "
                "remove the key to use the default",
            )
    for slot, ref in declared.usage.items():
        if ref is None:
            continue
        path: Path = ("bindings", "usage", slot)
        cname, _, fname = ref.partition(".")
        category = policy.categories.get(cname)
        if category is None:
            yield path, f"unknown category '{cname}'; {did_you_mean(cname, policy.categories)}; bind a declared field"
            continue
        if not fname:
            yield path, f"a usage slot is held by one field, not a whole category: name one of '{cname}.…'"
            continue
        field = category.fields.get(fname)
        if field is None:
            yield (
                path,
                f"unknown field '{ref}'; {did_you_mean(fname, category.fields)}; declare it under "
                f"`categories.{cname}.fields`, or bind the slot to a declared field",
            )
        elif not _records_usage(category):
            yield (
                path,
                f"'{cname}' is not data the gateway records automatically (it is `source: {category.source}`"
                + (" with a `storage` rule" if category.storage is not None else "")
                + "); bind the slot to a field of an automatic category",
            )
        elif (why := _fits(slot, field)) is not None:
            yield path, f"'{ref}' cannot hold the {slot} slot: {why}"


def holder_problems(policy: Policy) -> Iterator[Finding]:
    """Located errors in what the bindings resolve to, defaults included (only once `binding_problems` is clean).

    Each is a policy the loader would otherwise accept while the runtime misbehaves: one field holding two slots
    records one as the other and forwards its headers wherever the other goes; a usage slot in the accounts' or
    audit trail's category keeps usage rows under that table's rule; two tables in one category (or a table in
    the content category) are expired by a rule written for other data. Reads no retention rule, so a broken
    rule elsewhere does not hide these.
    """
    resolved = _resolve(policy)
    if resolved is not None:
        yield from resolved.misplaced
        yield from resolved.tables


def period_problems(policy: Policy) -> Iterator[Finding]:
    """Located errors in the required slots: unbound (every usage row would be dropped), or held by a field its
    rule erases before the row is deleted (the retention run would fail on the NOT NULL column). Judged only once
    no slot is misplaced: a misbound slot also moves the usage rows' rule."""
    resolved = _resolve(policy)
    if resolved is not None and not resolved.misplaced:
        yield from _required_slots(policy, resolved.bound, resolved.explicit)


@dataclass(frozen=True)
class _Resolved:
    bound: Bound
    explicit: Mapping[str, str | None]
    misplaced: list[Finding]
    tables: list[Finding]


def _resolve(policy: Policy) -> _Resolved | None:
    if next(binding_problems(policy), None) is not None:
        return None
    bound = bind(policy)
    explicit = dict(policy.bindings.usage) if policy.bindings is not None else {}
    tables = list(_shared_tables(policy, bound))
    # A table bound to another's category is reported once; its usage fields would each repeat the same cause.
    clashed = {path[1] for path, _ in tables}
    misplaced = [*_shared_fields(policy, bound, explicit), *_usage_in_tables(policy, bound, explicit, clashed)]
    return _Resolved(bound, explicit, misplaced, tables)


def _slot_path(policy: Policy, slot: str, ref: str, explicit: Mapping[str, str | None]) -> Path:
    """Where a slot's holder was chosen: its binding, or (bound by default) the field itself."""
    if slot in explicit:
        return ("bindings", "usage", slot)
    cname, _, fname = ref.partition(".")
    return ("categories", cname, "fields", fname)


def _shared_fields(policy: Policy, bound: Bound, explicit: Mapping[str, str | None]) -> Iterator[Finding]:
    holders: dict[str, list[str]] = {}
    for slot, ref in bound.fields.items():
        holders.setdefault(ref, []).append(slot)
    for ref, slots in holders.items():
        if len(slots) < 2:
            continue
        # Reported at each explicit binding (a default alone never binds two slots: a field has one name).
        for here in [slot for slot in slots if slot in explicit]:
            there = " and ".join(slot for slot in slots if slot != here)
            yield (
                _slot_path(policy, here, ref, explicit),
                f"'{ref}' also holds the {there} slot; one field holds one slot (two on one field record one value "
                "as the other, keep both under one rule and forward both to whoever receives either): bind "
                f"`bindings.usage.{here}` to a field of its own"
                + ("" if here in REQUIRED_SLOTS else ", or to null if the gateway must not record it"),
            )


def _usage_in_tables(
    policy: Policy, bound: Bound, explicit: Mapping[str, str | None], clashed: set[str | int]
) -> Iterator[Finding]:
    """A usage slot held by a field of the accounts' or the audit trail's category would keep every usage row
    under that table's rule (and its anchor), not under the usage data's own. Reported at both ends: the table's
    binding (when the policy wrote one) and each usage slot's."""
    dated = {
        bound.categories[e.slot]: e for e in CATEGORY_SLOTS.values() if e.anchor is not None and e.slot not in clashed
    }
    inside: dict[str, list[str]] = {}
    for slot, ref in bound.fields.items():
        if ref.partition(".")[0] in dated:
            inside.setdefault(ref.partition(".")[0], []).append(slot)
    for cname, slots in inside.items():
        entry = dated[cname]
        if getattr(policy.bindings, entry.slot, None) is not None:
            yield (
                ("bindings", entry.slot),
                f"'{cname}' also holds the usage slot{'s' if len(slots) > 1 else ''} {', '.join(slots)}; usage "
                f"data is kept under its own rule, not under the one for {entry.covers}: bind the {entry.slot} "
                "table to a category of its own, or the usage slots to fields of an automatic usage category",
            )
        for slot in slots:
            ref = bound.fields[slot]
            yield (
                _slot_path(policy, slot, ref, explicit),
                f"'{ref}' is a field of the category that holds the {entry.slot} table slot; usage data is kept "
                f"under its own rule, not under the one for {entry.covers}: bind `bindings.usage.{slot}` to a field "
                "of an automatic usage category"
                + ("" if slot in explicit else ", or rename this field (it holds the slot by its name)"),
            )


def _rule_of(policy: Policy, ref: str) -> tuple[str, RetentionRule] | None:
    """The rule that keeps a field (the first covering it or its category, as the retention jobs pick)."""
    cname = ref.partition(".")[0]
    return next(((n, r) for n, r in policy.retention.items() if cname in r.categories or ref in r.categories), None)


def _required_slots(policy: Policy, bound: Bound, explicit: Mapping[str, str | None]) -> Iterator[Finding]:
    if not bound.fields:
        return  # the policy records no usage at all: no usage rows to need a timestamp
    kept = [rule for ref in bound.fields.values() if (rule := _rule_of(policy, ref)) is not None]
    if not kept:
        return  # no rule covers the usage data: retention coverage reports it
    row_name, row_rule = max(kept, key=lambda named: named[1].keep_for.nominal_seconds)
    for slot in REQUIRED_SLOTS:
        ref = bound.fields.get(slot)
        if ref is None:
            yield (
                ("bindings", "usage", slot) if slot in explicit else ("bindings",) if policy.bindings else (),
                f"the gateway needs the {slot} slot in every usage row (usage_events.{USAGE_SLOTS[slot][0]} is "
                f"required; without it every usage row is dropped): bind `bindings.usage.{slot}` to a field of an "
                f"automatic category kept under '{row_name}', as long as the usage rows",
            )
            continue
        rule = _rule_of(policy, ref)
        if rule is not None and rule[1].keep_for < row_rule.keep_for:
            yield (
                _slot_path(policy, slot, ref, explicit),
                f"'{ref}' holds the {slot} slot, which every usage row needs until the row is deleted, but its rule "
                f"'{rule[0]}' ({rule[1].keep_for}) is shorter than '{row_name}' ({row_rule.keep_for}), which keeps "
                f"the rows (the retention run could not erase it): bind `bindings.usage.{slot}` to a field kept "
                f"under '{row_name}'"
                + ("" if slot in explicit else ", or rename this field (it holds the slot by its name)"),
            )


def _shared_tables(policy: Policy, bound: Bound) -> Iterator[Finding]:
    declared = policy.bindings
    sharing: dict[str, list[str]] = {}
    for slot, name in bound.categories.items():
        sharing.setdefault(name, []).append(slot)
    for slot, name in bound.categories.items():
        if getattr(declared, slot, None) is None:
            continue  # defaults differ from each other: a clash always has an explicit side, reported there
        path: Path = ("bindings", slot)
        if name == bound.content:
            yield (
                path,
                f"'{name}' is the request content category; the {slot} table slot may not share it (its rows "
                "would be expired, exported and forwarded as prompt content): declare a category of its own for "
                "it, with a retention rule, and bind it here",
            )
            continue
        others = [
            other + ("" if getattr(declared, other, None) else " (by default)")
            for other in sharing[name]
            if other != slot
        ]
        if others:
            yield (
                path,
                f"'{name}' also holds the {' and '.join(others)} table slot; each stored table needs a category of "
                "its own (its own retention rule and page entry): declare one for this slot and bind it here",
            )


def binding_warnings(policy: Policy) -> Iterator[Finding]:
    """A collected field of a category the gateway records into, that no slot records: the page promises it is
    collected automatically, but nothing here collects it (bind it, or mark it `stored_as: derived`)."""
    bound = bind(policy)
    recorded = set(bound.fields.values())
    for cname in dict.fromkeys(ref.partition(".")[0] for ref in recorded):
        for fname, field in policy.categories[cname].fields.items():
            ref = f"{cname}.{fname}"
            if ref not in recorded and field.stored_as == "plain":
                yield (
                    ("categories", cname, "fields", fname),
                    f"'{ref}' is declared as collected automatically with the gateway's usage data, but no usage "
                    f"slot records it; bind it under `bindings.usage` (slots: {', '.join(USAGE_SLOTS)}) or, if it "
                    "is computed from stored data, mark it `stored_as: derived`",
                )
