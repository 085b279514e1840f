"""The runtime's slots and the policy's names for them: the one place the engine meets a policy's vocabulary.

The bundled gateway records a fixed set of things: usage-event columns, headers it may forward to a provider,
and tables it keeps (accounts and keys, the audit trail, per-key request counts, kept content). A policy names
its data as it likes; its `bindings:` section maps its categories and fields onto these slots, and every part of
the runtime (usage schema, egress guard, retention jobs, checks, rights, explain) asks this module which policy
name holds a slot instead of knowing one. Without the section, or a key of it, AetherAPI's names are the
defaults: a usage slot is held by the automatic field of that name, a table by the category of that name.

Adding a slot is one entry here. Bindings are checked when the policy loads (`binding_problems`: a binding to
data the policy does not declare, or of the wrong kind, is a located error) and by `check`
(`binding_warnings`: a collected field of a category the gateway records into that nothing records).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aether_policy._suggest import did_you_mean

if TYPE_CHECKING:
    from aether_policy.model import Category, Policy

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
        ),
        StoredTable(
            "rate_windows",
            "api_usage",
            ("rate_windows",),
            "Per-key request and token counts of the current minute (pruned as windows close).",
        ),
        StoredTable("cookies", "cookies", (), "The cookie kinds the `cookies` section's entries name (`kind`)."),
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
