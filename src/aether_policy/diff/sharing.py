"""Who receives each field, for which purposes and when, compared field by field."""

from __future__ import annotations

from collections.abc import Iterator

from aether_policy.diff.change import Change, Path, membership, rule_family, words
from aether_policy.diff.treatment import WHEN_EXPOSURE, data_fields, describe_fields, expand
from aether_policy.model import Policy, Recipient


def recipients(old: Policy, new: Policy) -> Iterator[Change]:
    yield from rule_family(
        "recipients",
        old.recipients,
        new.recipients,
        lambda n: (
            f"new recipient '{new.recipients[n].title}' receives "
            f"{describe_fields(new, expand(new, new.recipients[n].receives))}"
        ),
        lambda n: f"recipient '{old.recipients[n].title}' removed",
        lambda name, before, after: _recipient(old, new, name, before, after),
    )


def _recipient(old: Policy, new: Policy, name: str, before: Recipient, after: Recipient) -> Iterator[Change]:
    here: Path = ("recipients", name)
    # Compared field by field, so `receives: [account]` and every account field listed are the same promise.
    received_before, received_after = expand(old, before.receives), expand(new, after.receives)
    gained = received_after - received_before
    if gained:
        yield Change((*here, "receives"), f"{after.title} now receives {describe_fields(new, gained)}", True)
    lost = (received_before - received_after) & set(data_fields(new))  # a field no longer collected is reported once
    if lost:
        yield Change((*here, "receives"), f"{after.title} no longer receives {describe_fields(old, lost)}", False)
    yield from membership(
        sorted(before.purposes),
        sorted(after.purposes),
        lambda p: (*here, "purposes"),
        lambda p: f"{after.title} now receives data also for {words(p)}",
        lambda p: f"{after.title} no longer receives data for {words(p)}",
    )
    if before.when != after.when:
        wider = WHEN_EXPOSURE[after.when] > WHEN_EXPOSURE[before.when]
        yield Change((*here, "when"), f"{after.title} receives data {words(before.when)} → {words(after.when)}", wider)
    if before.kind != after.kind:
        yield Change((*here, "kind"), f"{after.title} is now a {words(after.kind)} ({words(before.kind)})", True)
    if before.title != after.title:
        yield Change((*here, "title"), f"recipient '{before.title}' now titled '{after.title}'", False, "prose")
    if before.description != after.description:
        yield Change((*here, "description"), f"{after.title}: description changed", False, "prose")
    if before.provider and after.provider and before.provider.api != after.provider.api:
        yield Change((*here, "provider", "api"), f"{after.title}: now reached with the {after.provider.api} API", False)
    stored_before = bool(before.provider and before.provider.stores_content)
    stored_after = bool(after.provider and after.provider.stores_content)
    if stored_after != stored_before:
        # Content kept at the provider is a new disclosure; no longer keeping it is not.
        what = "may now keep request content" if stored_after else "no longer keeps request content"
        yield Change((*here, "provider", "stores_content"), f"{after.title}: {what}", stored_after)
    hosts_before = set(before.provider.hosts) if before.provider else set()
    hosts_after = set(after.provider.hosts) if after.provider else set()
    if hosts_after - hosts_before:
        hosts = ", ".join(sorted(hosts_after - hosts_before))
        yield Change((*here, "provider", "hosts"), f"{after.title}: new hosts {hosts}", True)
    if hosts_before - hosts_after:
        hosts = ", ".join(sorted(hosts_before - hosts_after))
        yield Change((*here, "provider", "hosts"), f"{after.title}: no longer sent to {hosts}", False)
