"""The policy document as typed, frozen pydantic models.

Each promise of the published policy is a rule here, so the page, the middleware and the retention
jobs all read the same values. Cross-references between rules are checked in `references.py`, where
every problem can be located in the YAML; these models check only what one node can know alone.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

from aether_policy._suggest import did_you_mean
from aether_policy.anchors import ANCHORS, check_anchor
from aether_policy.bindings import CATEGORY_SLOTS, USAGE_SLOTS
from aether_policy.durations import Duration
from aether_policy.flag_patterns import check_pattern
from aether_policy.gateway import protocols
from aether_policy.vocabulary import CookieConsent, LegalBasis, Right, Role, TransferMechanism

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
"""A rule's name: lower case, digits and underscores, so it is a stable anchor and a jinja2 attribute."""

DataRef = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")]
"""A category (`account`) or one of its fields (`account.email`)."""

Markdown = str
"""CommonMark prose; `{{ }}` may reference rule values through a few filters (see `prose.py`)."""

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
Hostname = Annotated[str, StringConstraints(pattern=r"^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2, upper case: `US`, `DE`."""
Region = Annotated[str, StringConstraints(pattern=r"^(EU|EEA|[A-Z]{2}(-[A-Z0-9]{1,3})?)$")]
"""Where a policy applies: `EU`, `EEA`, a country (`GB`) or a subdivision (`US-CA`)."""
FlagPattern = Annotated[str, AfterValidator(check_pattern)]
"""A flag pattern RE2 compiles: it matches in time linear in the text (see `flag_patterns`)."""
AnchorName = Annotated[
    str,
    AfterValidator(check_anchor),
    WithJsonSchema({"type": "string", "enum": list(ANCHORS), "description": "The event the period counts from."}),
]


class Rule(BaseModel):
    """Base for every node: immutable, and unknown keys are errors rather than silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Service(Rule):
    name: str
    url: Url
    contact_email: Email
    description: str = Field(description="What the service is, in one phrase, for the introduction.")


class Purpose(Rule):
    title: str
    activities: tuple[str, ...] = Field(min_length=1, description="What this purpose covers, in plain words.")
    legal_basis: LegalBasis | None = Field(
        None, description="The GDPR Art. 6(1) basis for this purpose; required when the policy applies in the EU."
    )
    legitimate_interest: str = Field(
        "", description="For `legal_basis: legitimate_interests`: the interest pursued (GDPR Art. 13(1)(d))."
    )


class DataField(Rule):
    title: str
    stored_as: Literal["plain", "hash", "derived"] = Field(
        "plain",
        description="`hash`: only a one-way hash is kept; `derived`: computed from an input never stored.",
    )
    derived_from: Identifier | None = Field(
        None, description="The request input this field is computed from (for example `user_agent`)."
    )
    keep: tuple[Identifier, ...] = Field((), description="The parts of the input that are kept.")

    @model_validator(mode="after")
    def _derived_fields_name_their_input(self) -> DataField:
        if (self.stored_as == "derived") != (self.derived_from is not None):
            raise ValueError("`stored_as: derived` and `derived_from` go together: set both or neither")
        if self.keep and self.derived_from is None:
            raise ValueError("`keep` lists parts of a derived input; add `derived_from`")
        return self


class Notice(Rule):
    title: str
    body: Markdown


_TRIGGER_PHRASES = {"flagged": "automatically flagged", "account_marked": "marked"}


class StorageException(Rule):
    when: Literal["flagged", "account_marked"] = Field(
        description="`flagged`: automatic abuse detection; `account_marked`: an operator marked the account."
    )
    title: str | None = Field(
        None,
        description="How the page says this trigger mid-sentence (default: 'automatically flagged', 'marked').",
    )
    detectors: tuple[Literal["pattern", "upstream_moderation"], ...] = Field(
        (), description="For `flagged`: which automatic detectors may flag content for retention."
    )
    patterns: dict[Identifier, FlagPattern] = Field(
        {}, description="For the `pattern` detector: named regular expressions (case-insensitive, RE2 syntax)."
    )
    retention: Identifier = Field(description="The retention rule that bounds how long such content is kept.")
    purpose: Identifier
    encrypted: Literal[True] = Field(True, description="Stored content is always encrypted at rest.")
    reviewed: bool = Field(True, description="Kept content may be reviewed by staff.")

    @model_validator(mode="after")
    def _detectors_belong_to_flagging(self) -> StorageException:
        if self.when != "flagged" and (self.detectors or self.patterns):
            raise ValueError("`detectors` and `patterns` apply only to `when: flagged`")
        if self.patterns and "pattern" not in self.detectors:
            raise ValueError("`patterns` are declared but the `pattern` detector is not listed in `detectors`")
        return self

    @property
    def phrase(self) -> str:
        return self.title or _TRIGGER_PHRASES[self.when]


class ContentStorage(Rule):
    """Prompt content is never stored; the exceptions are the only way it can be."""

    default: Literal["never"] = "never"
    exceptions: tuple[StorageException, ...] = ()

    # Derived values prose may print by name, beside the fields (`{{ ...storage.triggers }}`).
    prose_properties: ClassVar[tuple[str, ...]] = ("triggers",)

    @property
    def triggers(self) -> str:
        """'automatically flagged or marked': the exceptions as prose says them, so removing one rewords the page."""
        phrases = [e.phrase for e in self.exceptions]
        if len(phrases) <= 1:
            return "".join(phrases)
        return ", ".join(phrases[:-1]) + " or " + phrases[-1]

    @model_validator(mode="after")
    def _one_exception_per_trigger(self) -> ContentStorage:
        triggers = [e.when for e in self.exceptions]
        if len(triggers) != len(set(triggers)):
            raise ValueError("each `when` may appear once among the storage exceptions")
        return self


class Category(Rule):
    title: str
    group: Literal["personal", "usage", "technical"]
    source: Literal["provided", "automatic"]
    purposes: tuple[Identifier, ...] = Field(min_length=1)
    fields: dict[Identifier, DataField] = Field(min_length=1)
    processed_by: tuple[Identifier, ...] = Field((), description="Recipients that process this data for us.")
    storage: ContentStorage | None = Field(
        None, description="Only for request content: it is not stored unless an exception applies."
    )
    notice: Notice | None = None


ProtocolName = Annotated[
    str,
    AfterValidator(protocols.known),
    WithJsonSchema({"type": "string", "enum": list(protocols.names())}),
]
"""A wire protocol the gateway speaks: one registered in `aether_policy.gateway.protocols`."""


class Provider(Rule):
    api: ProtocolName = Field(description="The wire protocol the gateway speaks to it.")
    stores_content: bool = Field(
        False,
        description="Whether the provider may keep request content for later use (OpenAI Responses "
        "`store: true`). When false, the gateway sends `store: false` and refuses a request asking to store.",
    )
    hosts: tuple[Hostname, ...] = Field(min_length=1, description="The only hosts requests may be sent to.")


class Recipient(Rule):
    title: str
    kind: Literal["ai_provider", "payment_processor", "analytics_provider", "legal", "service_provider"]
    receives: tuple[DataRef, ...] = Field(min_length=1)
    purposes: tuple[Identifier, ...] = Field(min_length=1)
    when: Literal["always", "required_by_law"] = "always"
    provider: Provider | None = Field(None, description="Required for `ai_provider`: where the gateway may send.")
    description: Markdown = ""
    mention: str | None = Field(
        None,
        description="How the page completes '(processed …)' for data this recipient processes for us "
        "(default: 'by <title>').",
    )
    role: Role | None = Field(None, description="`processor` (acts on our behalf) or `controller` (its own purposes).")
    countries: tuple[CountryCode, ...] = Field((), description="Where the recipient processes the data (ISO codes).")
    transfer: TransferMechanism | None = Field(
        None, description="The safeguard for a transfer outside the EEA (GDPR Chapter V)."
    )

    @model_validator(mode="after")
    def _ai_providers_say_where(self) -> Recipient:
        if (self.kind == "ai_provider") != (self.provider is not None):
            raise ValueError("`provider` is required for `kind: ai_provider` and allowed only there")
        return self


class RetentionRule(Rule):
    title: str
    categories: tuple[DataRef, ...] = Field(min_length=1)
    keep_for: Duration
    after: AnchorName
    summary: Markdown = Field(
        "",
        description="The page's sentence for this rule in the policy's words (default: built from the rule); "
        "reference the period as {{ retention.<rule>.keep_for }} so it stays the rule's.",
    )


class Cookie(Rule):
    kind: Identifier = Field(description="A field of the `cookies` category: session, analytics or preference.")
    purpose: Identifier
    max_age: Duration | None = Field(None, description="None: a session cookie, gone when the browser closes.")
    consent: CookieConsent | None = Field(
        None, description="`not_required` (strictly necessary), `opt_in` or `opt_out`; unset: not stated."
    )


class SecurityMeasure(Rule):
    title: str
    description: str


class Security(Rule):
    measures: dict[Identifier, SecurityMeasure] = Field(min_length=1)
    encryption_at_rest: tuple[Identifier, ...] = Field(
        (), description="Categories encrypted when stored (prompt content always is)."
    )


class Children(Rule):
    minimum_age: int = Field(ge=13, le=21)
    knowingly_collect: Literal[False] = False


class ChangeEntry(Rule):
    date: date
    summary: str
    material: bool = False
    details: tuple[str, ...] = Field((), description="What changed, rule by rule (`aether-policy diff` drafts it).")


class Changes(Rule):
    notify_by: tuple[Literal["website", "email", "dashboard"], ...] = Field(min_length=1)
    acceptance: Literal["continued_use", "explicit"] = "continued_use"
    log: tuple[ChangeEntry, ...] = ()


class Subsection(Rule):
    title: str
    body: Markdown = ""


class Section(Rule):
    title: str
    body: Markdown = ""
    subsections: dict[Identifier, Subsection] = {}
    notes: tuple[Notice, ...] = ()
    after: Identifier | None = Field(
        None, description="For an extra section: the section it follows on the page (default: the last one)."
    )


class Rights(Rule):
    """Data-subject rights, how to exercise them, and how soon we answer."""

    title: str = "Your Rights"
    available: tuple[Right, ...] = Field(min_length=1)
    how_to_exercise: Markdown = Field(description="How to make a request: where to write, what to include.")
    response_time: Duration = Field(description="How soon we answer a request (GDPR: within one month).")


class Sections(Rule):
    """The page's sections, in the order the page prints them; any further key is an extra section.

    Extra sections print after the fixed eight in the order written, or right after the section their `after`
    names, each with its own anchor.
    """

    model_config = ConfigDict(frozen=True, extra="allow")
    __pydantic_extra__: dict[Identifier, Section] = Field(init=False)

    introduction: Section
    information_we_collect: Section
    how_we_use: Section
    sharing: Section
    security_and_retention: Section
    children: Section
    changes: Section
    contact: Section


def _check_usage_slot(slot: str) -> str:
    if slot not in USAGE_SLOTS:
        raise ValueError(f"unknown usage slot '{slot}'; {did_you_mean(slot, USAGE_SLOTS)}")
    return slot


UsageSlot = Annotated[
    str,
    AfterValidator(_check_usage_slot),
    WithJsonSchema({"type": "string", "enum": list(USAGE_SLOTS), "description": "A usage-event slot."}),
]


class Bindings(Rule):
    """The policy's names for what the gateway records (see `aether_policy.bindings`); each defaults to
    AetherAPI's name, so a policy using those names needs no bindings."""

    accounts: Identifier | None = Field(
        None, description=f"The category of accounts and API keys (default `{CATEGORY_SLOTS['accounts'].default}`)."
    )
    audit: Identifier | None = Field(
        None, description=f"The category of the audit trail (default `{CATEGORY_SLOTS['audit'].default}`)."
    )
    rate_windows: Identifier | None = Field(
        None,
        description=f"The category of per-key request counts (default `{CATEGORY_SLOTS['rate_windows'].default}`).",
    )
    cookies: Identifier | None = Field(
        None,
        description="The category whose fields are the cookie kinds, and whose recipients get the `Cookie` "
        f"header (default `{CATEGORY_SLOTS['cookies'].default}`).",
    )
    usage: dict[UsageSlot, DataRef | None] = Field(
        {},
        description="Usage slot -> the `category.field` that holds it (default: the automatic field of the "
        "slot's name; the browser slot: a field `derived_from: user_agent`); null: never recorded.",
    )


class Policy(Rule):
    """A whole privacy policy: the single source of truth for page, middleware and retention."""

    version: int = Field(ge=1, description="Bump on any material change.")
    service: Service
    last_updated: date
    applies_in: tuple[Region, ...] = Field(
        (), description="Where the policy applies (`EU`, `EEA`, `GB`, `US-CA`); `EU`/`EEA` turns on GDPR checks."
    )
    purposes: dict[Identifier, Purpose] = Field(min_length=1)
    categories: dict[Identifier, Category] = Field(min_length=1)
    recipients: dict[Identifier, Recipient] = {}
    retention: dict[Identifier, RetentionRule] = Field(min_length=1)
    cookies: dict[str, Cookie] = {}
    security: Security
    children: Children
    changes: Changes
    rights: Rights | None = None
    bindings: Bindings | None = Field(
        None, description="The policy's names for what the gateway records; AetherAPI's names when absent."
    )
    sections: Sections

    @model_serializer(mode="wrap")
    def _without_absent_bindings(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # A policy without bindings serialises (and so digests) exactly as before the section existed.
        data: dict[str, object] = handler(self)
        if self.bindings is None:
            data.pop("bindings", None)
        return data
