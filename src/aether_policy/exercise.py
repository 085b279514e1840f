"""How each data-subject right is exercised: by an aether-policy command, or by the service through a channel.

One registry, read by the page (each granted right says how it is answered) and by `check` (a granted right
with no command and no channel is a finding), so the two cannot disagree. A right the engine answers names
the command an operator runs for it; a right only people can answer (correcting data, weighing an objection)
is handled by the service, and only counts as exercisable when the policy's `rights.how_to_exercise` names
where to ask: an email address a reader sees, or a page of the service's own site. A complaint goes to a
supervisory authority, not to the service.

Adding a right to the vocabulary fails a test until it is registered here; renaming a command fails a test
until its entry follows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from aether_policy.model import Policy
from aether_policy.prose import service_host

PROGRAM = "aether-policy"


@dataclass(frozen=True)
class Exercise:
    """How one right is exercised. `command` is the click path under `aether-policy`, `options` what it needs."""

    command: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    answer: str = ""
    """What the command gives the person, as the page says it (after "We answer with")."""
    elsewhere: str = ""
    """For a right exercised with someone other than the service: with whom."""

    @property
    def invocation(self) -> str:
        """The command line an operator runs, without the account: `aether-policy accounts export --format json`."""
        return " ".join((PROGRAM, *self.command, *self.options))


EXERCISES: dict[str, Exercise] = {
    "access": Exercise(
        ("accounts", "export"),
        ("--format", "markdown"),
        "a copy of what our gateway stores about your account, each item with the rule that allows it, when it "
        "will be deleted and who receives it",
    ),
    "portability": Exercise(("accounts", "export"), ("--format", "json"), "the same records as JSON"),
    "erasure": Exercise(
        ("accounts", "erase"),
        (),
        "the erasure of what our gateway stores about your account, naming the rule and date of anything a rule "
        "keeps longer",
    ),
    # Only people can answer these (the gateway's flagging is reviewed by people already, through `review`; a
    # request for human review of a decision about you is a conversation): the service handles them at its channel.
    "rectification": Exercise(),
    "restriction": Exercise(),
    "objection": Exercise(),
    "withdraw_consent": Exercise(),
    "automated_decisions": Exercise(),
    "complaint": Exercise(elsewhere="a data protection supervisory authority"),
}

# An address or a web page in the evaluated `how_to_exercise` prose (a Markdown link's target included). An
# address starts only where a run of its characters starts: without the lookbehind, 64 KiB of letters with no
# `@` would be tried from every offset (quadratic); with it, each run is tried once.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(r"https?://[^\s<>()\[\]\"']+")
MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})


_NO_REPLY = frozenset({"noreply", "donotreply", "noanswer", "nobody", "bounce", "bounces", "mailerdaemon"})


def channel(how_to_exercise: str, own_host: str | None = None) -> str | None:
    """Where the policy says to ask, or None when it says nowhere: the first email address a reader sees, else
    the first web page on the service's own site (`own_host` or a subdomain of it; any host when None).

    An address only a link's title or an unused reference definition holds is not seen, so it is not a channel;
    nor is one whose name says nobody reads it (`no-reply@…`): "we do not answer requests sent to no-reply@…"
    names no channel. A page elsewhere is not the service's channel, however the text presents it. (Prose that
    names a real address but says not to use it cannot be told from prose that says to; the page shows it.)
    """
    seen = _visible(how_to_exercise)
    for found in _EMAIL.finditer(how_to_exercise):
        address = found.group(0).rstrip(".,;:")
        local = address.partition("@")[0].lower()
        if address in seen and re.sub(r"[-_.+]", "", local) not in _NO_REPLY:
            return address
    for found in _URL.finditer(how_to_exercise):
        url = found.group(0).rstrip(".,;:")
        host = (urlsplit(url).hostname or "").lower()
        if own_host is None or host == own_host or host.endswith("." + own_host):
            return url
    return None


def _visible(markdown: str) -> str:
    """The text a reader of the rendered prose sees, and the targets of its links; not titles or definitions."""
    pieces = []
    for block in MARKDOWN.parse(markdown):
        for token in _inline(block):
            if token.type in ("text", "code_inline"):
                pieces.append(token.content)
            elif token.type == "link_open":
                pieces.append(str(token.attrGet("href") or ""))
    return "\n".join(pieces)


def _inline(block: Token) -> Iterator[Token]:
    for token in block.children or ():
        yield token
        yield from _inline(token)


@dataclass(frozen=True)
class Way:
    """How one granted right is exercised under a policy."""

    right: str
    index: int
    """Its place in `rights.available`, for a located finding."""
    exercise: Exercise
    channel: str | None

    @property
    def exercisable(self) -> bool:
        return bool(self.exercise.command or self.exercise.elsewhere or self.channel)

    def sentence(self) -> str:
        """How the page says it is exercised, as Markdown; empty when it cannot be (then `check` fails)."""
        where = _literal(self.channel) if self.channel else None
        ask = f"Ask at {where}; we" if where else "We"
        if self.exercise.command:
            return f"{ask} answer with {self.exercise.answer} (`{self.exercise.invocation}`)."
        if self.exercise.elsewhere:
            return ""  # the right's own description names with whom
        return f"Ask at {where}; our staff handle it." if where else ""


def _literal(text: str) -> str:
    """The channel as Markdown text: a `_`, `*` or `&` of an address cannot open emphasis, code or an entity."""
    return re.sub(r"([\\`*_~&!#|{}\[\]])", r"\\\1", text)


def ways(policy: Policy) -> list[Way]:
    """Each right the policy grants, in the order written, with how it is exercised. Prose must be evaluated."""
    if policy.rights is None:
        return []
    where = channel(policy.rights.how_to_exercise, service_host(policy.service.url))
    return [Way(right, i, EXERCISES[right], where) for i, right in enumerate(policy.rights.available)]
