"""Fallback within the policy: when a provider cannot answer, another one may, but only a provider the policy
declares a recipient of the same data.

A provider's `fallback:` in the gateway config names other providers to try, in order, when it refuses the
connection, cannot be reached, or still answers 5xx or 429 after its own retries. The policy's promise is who
receives which data and why, so a fallback must be a recipient of everything the provider it stands in for
receives (`receives`, a category covering any of its fields) for every purpose it receives it for, under the
same condition (`when`: a `required_by_law` recipient is left out of the page's table). A config
naming any other fallback is a located error at `serve` start and in `check`, never a silent skip, and the
gateway builds its chains from the same rule, so an app built without that check still never sends a request
to a fallback the policy does not allow.

What is never a reason to fall back: a timeout (the caller has already waited once), the provider's refusal
of the request itself (4xx), and the egress guard's refusal (the request carries something no recipient may
have). A stream falls back only while nothing has been sent to the caller: once the provider's headers are in,
its stream is the answer, and a stream cut midway ends with the caller protocol's error event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aether_policy.derive import model_name
from aether_policy.gateway.config import GatewayConfig
from aether_policy.gateway.errors import GatewayError
from aether_policy.plan.compiled import Plan
from aether_policy.plan.egress import ProviderEgress
from aether_policy.rulebook import covers, split_ref

if TYPE_CHECKING:
    from aether_policy.gateway.outbound import Answer
    from aether_policy.gateway.upstream import Upstream

log = logging.getLogger("aether_policy.gateway")

Path = tuple[str | int, ...]


def undeclared_for(primary: ProviderEgress, fallback: ProviderEgress) -> list[str]:
    """What the policy lets `primary` receive but not `fallback`: data references and purposes, as written.

    Empty when the fallback is a recipient of the same data: every reference the primary receives is covered
    by one the fallback receives (the category, or the same field), and for each of the primary's purposes.
    """
    missing = [ref for ref in primary.receives if not covers(fallback.receives, *split_ref(ref))]
    missing += [f"purpose {purpose}" for purpose in primary.purposes if purpose not in fallback.purposes]
    return missing


def fallback_problems(config: GatewayConfig, plan: Plan) -> list[tuple[Path, str]]:
    """Every fallback the config names that the gateway could not or may not use: (key path, message)."""
    found: list[tuple[Path, str]] = []
    for name, provider in config.providers.items():
        seen: set[str] = set()
        for index, entry in enumerate(provider.fallback):
            at: Path = ("providers", name, "fallback", index)
            target = config.providers.get(entry.provider)
            if target is None:
                found.append(
                    (
                        (*at, "provider"),
                        f"fallback '{entry.provider}' of provider '{name}' is not a provider of this config "
                        f"(providers: {', '.join(sorted(config.providers))})",
                    )
                )
                continue
            if entry.provider == name or entry.provider in seen:
                what = "itself" if entry.provider == name else f"'{entry.provider}' twice"
                found.append(((*at, "provider"), f"provider '{name}' names {what} as a fallback"))
                continue
            seen.add(entry.provider)
            if entry.model is not None and not target.serves(entry.model):
                found.append(
                    (
                        (*at, "model"),
                        f"fallback '{entry.provider}' does not serve model '{entry.model}' (its models: "
                        f"{', '.join(target.models)})",
                    )
                )
            primary = plan.egress.get(provider.recipient or name)
            standin = plan.egress.get(target.recipient or entry.provider)
            if primary is None or standin is None:
                continue  # not a recipient at all: reported on the provider itself
            if standin.when not in (primary.when, "always"):
                found.append(
                    (
                        (*at, "provider"),
                        f"fallback '{entry.provider}' of provider '{name}' receives data only `when: "
                        f"{standin.when}` (recipients.{standin.recipient}), not whenever provider '{name}' does: "
                        "the page does not list it; a fallback must be a recipient the page lists, or remove it",
                    )
                )
                continue
            missing = undeclared_for(primary, standin)
            if missing:
                found.append(
                    (
                        (*at, "provider"),
                        f"fallback '{entry.provider}' is not a recipient of the same data as provider '{name}': "
                        f"the policy does not say recipient '{standin.recipient}' receives {', '.join(missing)} "
                        f"(recipients.{primary.recipient} does); add it to recipients.{standin.recipient}, or "
                        "remove the fallback",
                    )
                )
    return found


@dataclass(frozen=True, slots=True)
class Sending:
    """One request ready for one provider: in its protocol, for its path, with the model it is asked for."""

    upstream: Upstream
    model: str
    path: str
    headers: Mapping[str, str]
    payload: Mapping[str, Any]
    stream: bool
    json_answer: bool = False
    """Whether the answer is an emulated structured output (a forced tool's input) to be read back as JSON."""
    hidden_usage: bool = False
    """Whether the gateway asked the provider for a stream's usage (`stream_options.include_usage`) that the
    caller did not ask for: its usage-only chunk is read and not relayed."""


@dataclass(frozen=True, slots=True)
class Candidate:
    upstream: Upstream
    model: str | None
    """The model asked of the fallback; None: the caller's."""


Prepare = Callable[["Upstream", str, dict[str, Any]], Sending]
"""Builds the request for a provider (translating through the IR when its protocol differs), or raises the
caller's GatewayError when that provider cannot take it."""


class Fallbacks:
    """Each provider's fallback chain, holding only the fallbacks the policy allows."""

    def __init__(self, config: GatewayConfig, upstreams: Mapping[str, Upstream]) -> None:
        self._chains: dict[str, tuple[Candidate, ...]] = {}
        for name, provider in config.providers.items():
            chain: list[Candidate] = []
            for entry in provider.fallback:
                target = upstreams.get(entry.provider)
                if target is None or entry.provider == name or any(c.upstream is target for c in chain):
                    continue
                # The rule `serve` and `check` refuse a config by, applied again here: an app built without
                # the conformance check still never sends a request to a fallback the policy does not allow.
                if undeclared_for(upstreams[name].guard.rule, target.guard.rule):
                    log.error("fallback '%s' of provider '%s' is not allowed by the policy", entry.provider, name)
                    continue
                chain.append(Candidate(target, entry.model))
            self._chains[name] = tuple(chain)

    def chain(self, name: str) -> tuple[Candidate, ...]:
        return self._chains.get(name, ())

    async def open(
        self,
        first: Sending,
        body: Mapping[str, Any],
        prepare: Prepare,
        may_call: Callable[[str], Awaitable[bool]],
    ) -> tuple[Sending, Answer]:
        """The first provider's response, else the first fallback's that answers; which one answered.

        `body` is the caller's request as the fallbacks start from it; `may_call` says whether the caller's
        key may call a fallback's own model. Raises the provider's error when there is no fallback to try, or
        one naming every failure when all of them failed.
        """
        try:
            return first, await _send(first)
        except GatewayError as error:
            chain = self.chain(first.upstream.name)
            if not error.provider_failed or not chain:
                raise
            failures, notes = [error], []
        for candidate in chain:
            model = candidate.model or first.model
            try:
                sending = await self._prepared(candidate, model, body, prepare, may_call)
            except GatewayError as unfit:
                notes.append(f"fallback '{candidate.upstream.name}' not tried: {unfit.message}")
                continue
            log.warning(
                "provider '%s' failed (%s); trying fallback '%s'",
                first.upstream.name,
                failures[-1].code or failures[-1].status,
                sending.upstream.name,
            )
            try:
                return sending, await _send(sending)
            except GatewayError as error:
                if not error.provider_failed:
                    raise  # the fallback's own answer to the request (a 400, a timeout): the caller's answer
                failures.append(error)
        raise _exhausted(failures, notes)

    @staticmethod
    async def _prepared(
        candidate: Candidate,
        model: str,
        body: Mapping[str, Any],
        prepare: Prepare,
        may_call: Callable[[str], Awaitable[bool]],
    ) -> Sending:
        upstream = candidate.upstream
        named = f"model '{model}'" if model_name(model) else "the model"  # never echo free text
        if not upstream.config.serves(model):
            raise GatewayError(400, f"it does not serve {named}", "invalid_request_error")
        if candidate.model is not None and not await may_call(model):
            raise GatewayError(403, f"this API key may not call {named}", "permission_error")
        # The model goes where the caller's protocol names it: the body, or (Gemini) the path `prepare` builds.
        return prepare(upstream, model, {**body, "model": model} if "model" in body else dict(body))


async def _send(sending: Sending) -> Answer:
    return await sending.upstream.open(
        sending.payload, stream=sending.stream, path=sending.path, headers=sending.headers
    )


def _exhausted(failures: list[GatewayError], notes: list[str]) -> GatewayError:
    """One error for a request no provider could answer: 429 when every one was rate-limited, else 502."""
    limited = all(failure.status == 429 for failure in failures)
    codes = {failure.code for failure in failures}
    message = "; then ".join(failure.message for failure in failures)
    if notes:
        message += "; " + "; ".join(notes)
    return GatewayError(
        429 if limited else 502,
        message,
        "rate_limit_error" if limited else "upstream_error",
        codes.pop() if len(codes) == 1 else "fallback_failed",
    )
