"""The egress rules: per AI-provider recipient, the hosts the gateway may reach and the headers it may send.

`GuardedTransport` (in `plan.transport`, which needs the gateway's httpx) enforces them at the client boundary;
compiling them needs nothing beyond the policy, so `check` and `build` run without the gateway stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from aether_policy.bindings import FORWARDED_HEADERS, Bound, bind
from aether_policy.gateway import protocols
from aether_policy.model import Policy

# Headers any HTTP call needs; none identifies the end user. Each protocol adds its own (auth, version).
HTTP_HEADERS = frozenset(
    {"host", "content-type", "content-length", "accept", "accept-encoding", "connection", "user-agent"}
)
PROTOCOL_HEADERS = HTTP_HEADERS.union(*(p.egress_headers for p in protocols.PROTOCOLS.values()))
"""Every header some protocol needs: what a recipient of any protocol may be sent."""
# Headers that carry user data are the runtime's `bindings.FORWARDED_HEADERS`: each is forwarded only to a
# recipient that the policy says receives the data bound to its slot (`Bound.header_refs`).


@dataclass(frozen=True, slots=True)
class ProviderEgress:
    """Where one AI-provider recipient may be reached, and what may be sent to it."""

    recipient: str
    api: str
    hosts: tuple[str, ...]
    headers: frozenset[str]
    stores_content: bool = False
    """Whether the policy lets this provider keep request content (a disclosure the policy makes)."""
    receives: tuple[str, ...] = ()
    """The data references the policy says it receives (`prompt_content`, `api_usage.model`), as written."""
    purposes: tuple[str, ...] = ()
    """The purposes it receives them for."""
    when: str = "always"
    """`always`, or `required_by_law`: a recipient the page's table leaves out, never one the gateway may use."""
    on_page: bool = True
    """Whether the page names it where it says who receives prompts (see `named_on_page`)."""

    def allows_host(self, host: str, port: int | None) -> bool:
        for allowed in self.hosts:
            name, _, allowed_port = allowed.partition(":")
            if allowed_port and (port is None or int(allowed_port) != port):
                continue
            if name.startswith("*.") and host.endswith(name[1:]):
                return True
            if host == name:
                return True
        return False


def named_on_page(policy: Policy) -> frozenset[str]:
    """The recipients the built page names as receiving data routinely, with where they are.

    The recipients table (a `third_parties` subsection of `sharing`) lists every `when: always` recipient with
    its countries and transfer safeguard. A page without it names a recipient only where its text refers to it
    (`{{ recipients.NAME… }}`) or a category says it processes the data; such a page cannot say where a
    recipient with a transfer safeguard is, so that one counts as unnamed.
    """
    routine = {name: r for name, r in policy.recipients.items() if r.when == "always"}
    if "third_parties" in policy.sections.sharing.subsections:
        return frozenset(routine)
    texts = []
    for _, section in policy.sections:
        texts.append(section.body)
        texts.extend(sub.body for sub in section.subsections.values())
    text = "\n".join(texts)
    processed = {name for category in policy.categories.values() for name in category.processed_by}
    return frozenset(
        name
        for name, recipient in routine.items()
        if recipient.transfer is None and (name in processed or f"recipients.{name}." in text)
    )


def compile_egress(policy: Policy, bound: Bound | None = None) -> dict[str, ProviderEgress]:
    bound = bound or bind(policy)
    named = named_on_page(policy)
    rules = {}
    for name, recipient in policy.recipients.items():
        if recipient.provider is None:
            continue
        receives = set(recipient.receives)
        data_headers = {h for h in FORWARDED_HEADERS if receives.intersection(bound.header_refs(h))}
        api = recipient.provider.api
        headers = HTTP_HEADERS | protocols.get(api).egress_headers | data_headers  # only its own protocol's
        rules[name] = ProviderEgress(
            name,
            api,
            recipient.provider.hosts,
            headers,
            recipient.provider.stores_content,
            recipient.receives,
            recipient.purposes,
            recipient.when,
            name in named,
        )
    return rules
