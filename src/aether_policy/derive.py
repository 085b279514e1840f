"""What a usage event may say about a request: values derived from the request and bounded, never copied.

Every field here is either chosen from a fixed vocabulary (the method), named by the app's code (the route
template, the routed model), or parsed into a canonical form (an IP address). Whatever a caller writes in the
path, the query string, the method token or a forwarded header can therefore never reach a stored column or a
log line verbatim: an unknown method becomes `OTHER`, an unmatched path `(unmatched)`, an address that does not
parse nothing at all.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from aether_policy.types import Scope

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
OTHER_METHOD = "OTHER"
UNMATCHED = "(unmatched)"
MAX_ROUTE = 200
MAX_MODEL = 100
MAX_LABEL = 100

# A model name as providers spell them: `gpt-4o-2024-08-06`, `claude-3-5-haiku-latest`,
# `ft:gpt-4o-mini:org:suffix:id`, `anthropic.claude-v2:1`, or the glob pattern an app routed an unlisted name
# by (`gpt-*`, `claude-3-[57]-*`). No spaces, quotes or other free-text characters.
_MODEL_NAME = re.compile(r"[A-Za-z0-9*?\[][A-Za-z0-9._:/@+*?\[\]!-]*")


def method_of(scope: Scope) -> str:
    """The request method if it is one HTTP defines, else `OTHER`: the method token is the caller's choice."""
    method = scope.get("method")
    return method if method in METHODS else OTHER_METHOD


def route_of(scope: Scope, declared: str | None = None) -> str:
    """The route template the request matched (`/v1/chat/completions`, `/items/{id}`), else `(unmatched)`.

    `declared` is what the app set in `facts_of(scope).route`; without it, the template of the route the
    router put in `scope["route"]` (Starlette and FastAPI do, for a match and for a 405's partial match).
    Never the raw path: it can carry anything the caller typed.
    """
    if declared is None:
        declared = getattr(scope.get("route"), "path", None)
    if isinstance(declared, str) and 0 < len(declared) <= MAX_ROUTE and declared.isprintable():
        return declared
    return UNMATCHED


def route_from_routes(routes: Iterable[Any], scope: Scope) -> str | None:
    """The template of the first route of a Starlette-style router matching `scope`, for requests the
    middleware answers itself (413, body deadline) before the app's router has seen them."""
    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        try:
            match, _ = matches(scope)
        except Exception:  # a router we do not know: no template rather than a failed request
            return None
        if getattr(match, "value", 0):  # Match.PARTIAL or Match.FULL
            path = getattr(route, "path", None)
            return path if isinstance(path, str) else None
    return None


def model_name(value: object) -> str | None:
    """A model name the app has routed, if it looks like one and is short; else nothing (never a truncation,
    which would store a prefix of whatever the caller wrote)."""
    if isinstance(value, str) and len(value) <= MAX_MODEL and _MODEL_NAME.fullmatch(value):
        return value
    return None


def label(value: object) -> str | None:
    """An error class or similar code-given label, bounded to its column."""
    if isinstance(value, str) and value:
        return value[:MAX_LABEL]
    return None


def canonical_ip(text: str | None) -> str | None:
    """`parse_ip` as a string, with a fast path for the common case: a dotted-quad IPv4 address that the C
    parser accepts is already canonical (about 0.2 µs instead of 3 µs for the ipaddress module)."""
    if text and len(text) <= 15:
        try:
            socket.inet_pton(socket.AF_INET, text)
            return text
        except (OSError, ValueError):
            pass  # IPv6, or not an address: the full parser decides
    address = parse_ip(text)
    return str(address) if address is not None else None


def parse_ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address in canonical form, or None; IPv4-mapped IPv6 addresses are their IPv4 address."""
    if not text or len(text) > 45:
        return None
    try:
        # A zone (`fe80::1%eth0`) is free text and says nothing about who the client is: it is dropped.
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_host(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from one forwarded-for element: `203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]:4711`."""
    value = value.strip().strip('"')
    if value.startswith("["):
        end = value.find("]")
        return parse_ip(value[1:end]) if end > 0 else None
    if value.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        value = value.split(":", 1)[0]
    return parse_ip(value)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The proxies an operator names (`--forwarded-allow-ips`), whose forwarded headers say who the client is.

    Default: none, so the client is the peer of the TCP connection and forwarded headers are ignored. From a
    trusted peer, the client is the right-most address in `X-Forwarded-For` (every value of a repeated
    header, in order) that is not itself a trusted proxy: the entries to its left were written by the client
    and prove nothing. `Forwarded` (RFC 7239) is read the same way; when a request carries both and they name
    different clients, neither is believed and no address is recorded, so one header can never be used to
    spoof the other. An element that does not parse stops the walk: nothing beyond it can be trusted.
    """

    def __init__(self, spec: str | Iterable[str] | None = None) -> None:
        items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec or ())
        self.everyone = "*" in items
        networks: list[Network] = []
        for item in items:
            if not item or item == "*":
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(
                    f"'{item}' is not an IP address or network; name proxies like 10.0.0.1, 10.0.0.0/8 or ::1"
                ) from None
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return self.everyone or bool(self.networks)

    def trusts(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return self.everyone or any(address in network for network in self.networks)

    def client_ip(self, scope: Scope) -> str | None:
        """The client's address as a canonical string, or None when it is not known for certain."""
        client = scope.get("client")
        if not self:
            return canonical_ip(client[0]) if client else None
        peer = parse_ip(client[0]) if client else None
        if peer is None or not self.trusts(peer):
            return str(peer) if peer is not None else None
        forwarded_for: list[str] = []
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for += value.decode("latin-1").split(",")
            elif name == b"forwarded":
                forwarded += _forwarded_for_elements(value.decode("latin-1"))
        if not forwarded_for and not forwarded:
            return str(peer)
        candidates = {self._walk(peer, chain) for chain in (forwarded_for, forwarded) if chain}
        if len(candidates) != 1:
            return None
        (found,) = candidates
        return str(found) if found is not None else None

    def _walk(
        self, peer: ipaddress.IPv4Address | ipaddress.IPv6Address, chain: Sequence[str]
    ) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        client = peer
        for element in reversed(chain):
            address = _forwarded_host(element)
            if address is None:
                return None
            client = address
            if not self.trusts(address):
                break
        return client


def _forwarded_for_elements(value: str) -> list[str]:
    """The `for=` parameter of each element of a `Forwarded` header, in order (an element without one counts
    as an unparseable hop)."""
    found = []
    for element in value.split(","):
        target = ""
        for pair in element.split(";"):
            key, _, item = pair.partition("=")
            if key.strip().lower() == "for":
                target = item
        found.append(target)
    return found
