"""The egress guard's rule applied to one outgoing request, whatever HTTP client carries it.

Nothing leaves for a host the recipient does not declare, no header it does not declare leaves at all, the
answer is asked for uncompressed (so that what log redaction registers is the text the app reads), and the
caller's own gateway credentials never leave, in the URL, a header or the body. `GuardedTransport` applies
it to httpx clients; the gateway's upstream calls apply it to the request they are about to send. It needs
nothing beyond the standard library, so the check is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aether_policy._context import secrets_in_scope
from aether_policy.exceptions import EgressDenied
from aether_policy.plan.egress import ProviderEgress

Headers = list[tuple[str, str]]


class EgressGuard:
    """One recipient's egress rule, enforced on each request before it is sent."""

    def __init__(self, rule: ProviderEgress) -> None:
        self.rule = rule
        self.stripped: dict[str, int] = {}
        """How many times each undeclared header was removed (lowercased names), for operators."""
        self.on_denied: Callable[[str], None] | None = None  # called with the recipient, e.g. by metrics

    def admit(
        self, url: str, host: str, port: int | None, headers: Sequence[tuple[str, str]], body: bytes | None
    ) -> Headers:
        """The headers that may be sent, or EgressDenied. `host` and `port` are those the client will
        connect to (the port only when the URL names one); `body` is None when it is a stream no one can
        read before it is sent, which is refused rather than sent unchecked."""
        try:
            return self._admit(url, host, port, headers, body)
        except EgressDenied:
            if self.on_denied is not None:
                self.on_denied(self.rule.recipient)
            raise

    def _admit(
        self, url: str, host: str, port: int | None, headers: Sequence[tuple[str, str]], body: bytes | None
    ) -> Headers:
        rule = self.rule
        if not rule.allows_host(host, port):
            raise EgressDenied(
                f"egress to {host}{':' + str(port) if port else ''} refused: recipient "
                f"'{rule.recipient}' declares only hosts {', '.join(rule.hosts)} "
                f"(policy recipients.{rule.recipient}.provider.hosts)"
            )
        kept: Headers = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == "accept-encoding":
                continue  # replaced below: only an uncompressed answer
            if lowered in rule.headers:
                kept.append((name, value))
            else:
                self.stripped[lowered] = self.stripped.get(lowered, 0) + 1
        kept.append(("accept-encoding", "identity"))
        if body is None:
            raise EgressDenied(
                f"egress to '{rule.recipient}' refused: the request body is a stream the egress guard "
                "cannot check before it is sent; send it as bytes"
            )
        secrets = secrets_in_scope()
        if secrets:
            # Every name and every value of every header, repeated ones included, and the body.
            # The headers as one text: each name and value appears in it whole, and a match across two of
            # them could only refuse a request, never let one through.
            lines = "\n".join(f"{name}: {value}" for name, value in kept).encode("latin-1", "replace")
            haystacks = (url.encode(), body, lines)
            for secret in secrets:
                needle = secret.encode("latin-1", "replace")
                if any(needle in hay for hay in haystacks):
                    raise EgressDenied(
                        f"egress to '{rule.recipient}' refused: the request carries the caller's gateway "
                        "API key, which the policy never shares with a recipient"
                    )
        return kept
