"""The wire protocols the gateway speaks, one module each, behind one interface (`base.WireProtocol`).

Adding a protocol is one module implementing the interface and one line in `_REGISTERED`. Nothing here needs
the gateway stack, so the policy schema and the egress rules can name protocols without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aether_policy.gateway.protocols import anthropic, gemini, openai
from aether_policy.gateway.protocols.base import WireProtocol
from aether_policy.gateway.protocols.ir import Unsupported

_REGISTERED: tuple[WireProtocol, ...] = (openai, anthropic, gemini)
PROTOCOLS = MappingProxyType({protocol.name: protocol for protocol in _REGISTERED})
DEFAULT: WireProtocol = openai
"""The protocol of a path no protocol claims: most clients speak OpenAI's."""


def get(name: str) -> WireProtocol:
    """The protocol called `name`; KeyError for one the gateway does not speak."""
    return PROTOCOLS[name]


def names() -> tuple[str, ...]:
    return tuple(PROTOCOLS)


def for_path(path: str) -> WireProtocol:
    """The protocol of the SDK that calls this gateway path (its errors come in that protocol's shape)."""
    for protocol in _REGISTERED:
        if protocol is not DEFAULT and any(path == p or path.startswith(p + "/") for p in protocol.caller_paths):
            return protocol
    return DEFAULT


def for_request(path: str, headers: Mapping[str, str]) -> WireProtocol:
    """The caller's protocol: by path, and on a path every protocol shares, by a header only one SDK sends."""
    protocol = for_path(path)
    if protocol is DEFAULT:
        for candidate in _REGISTERED:
            if any(header in headers for header in candidate.caller_headers):
                return candidate
    return protocol


def known(name: str) -> str:
    """A protocol name checked against the registry, for the policy's and the config's `api` fields."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol '{name}'; the gateway speaks {', '.join(PROTOCOLS)}")
    return name


__all__ = ["DEFAULT", "PROTOCOLS", "Unsupported", "WireProtocol", "for_path", "for_request", "get", "known", "names"]
