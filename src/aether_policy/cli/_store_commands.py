"""`keys`, `accounts` and `review`: operating on the gateway's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from aether_policy.cli._actor import actor_option, audited, checked_reason, resolve_actor
from aether_policy.cli._common import require_gateway, user_errors
from aether_policy.cli._key_controls import control_options, expiry, keys_update

if TYPE_CHECKING:
    from aether_policy.store import Store

db_option = click.option(
    "--db",
    "db_url",
    envvar="AETHER_DATABASE_URL",
    default=None,
    help="Database URL (sqlite:///path or postgresql://…). Default: $AETHER_DATABASE_URL or sqlite:///aether.db.",
)


@contextmanager
def opened(db_url: str | None, *, read_only: bool = False) -> Iterator[Store]:
    """The command's store; `read_only` ones never create or upgrade a database (a clear error instead)."""
    require_gateway()
    from aether_policy.store import Store, database_url
    from aether_policy.store.existing import open_existing

    with user_errors():
        if read_only:
            store = open_existing(database_url(db_url))
        else:
            store = Store(database_url(db_url))
            try:
                store.migrate()
            except BaseException:
                store.close()
                raise
        try:
            yield store
        finally:
            store.close()


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "-"


@click.group()
def keys() -> None:
    """Create, list and revoke gateway API keys (stored only as hashes)."""


@keys.command("create")
@click.option("--account", required=True, help="Account name; created if it does not exist.")
@control_options
@actor_option
@db_option
def keys_create(
    account: str,
    expires: str | None,
    models: tuple[str, ...],
    rpm: int | None,
    tpm: int | None,
    actor: str | None,
    db_url: str | None,
) -> None:
    """Create a key for ACCOUNT and print it once, as the last line; optionally with expiry, models and limits.

    Example: aether-policy keys create --account acme --expires "90 days" --rpm 60 --model 'gpt-4o*'
    """
    require_gateway()  # before anything imports the gateway stack
    from aether_policy.store.key_controls import check_patterns, update_controls

    who = resolve_actor(actor)
    expires_at = expiry(expires)
    with opened(db_url) as store, user_errors():
        check_patterns(models)  # before the key exists: a bad pattern must not leave a key without its limits
        info, plaintext = store.create_key(account)
        controls = update_controls(store, info.id, expires_at=expires_at, models=models or None, rpm=rpm, tpm=tpm)
        detail = f"account {info.account_name}; {controls.describe()}"
        audited(store, "key.create", info.id, actor=who, detail=detail[:500])
    click.echo(f"created key {info.id} for account '{info.account_name}' (shown once; store it now):", err=True)
    click.echo(plaintext)


keys.add_command(keys_update)


@keys.command("list")
@click.option("--account", default=None, help="Only this account's keys.")
@db_option
def keys_list(account: str | None, db_url: str | None) -> None:
    """List keys: id, account, prefix, created, revoked, and the controls of live keys.

    Example: aether-policy keys list --account acme
    """
    require_gateway()
    from aether_policy.store.key_controls import controls_by_id

    with opened(db_url, read_only=True) as store:
        for key in store.list_keys(account):
            status = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "active"
            line = f"{key.id}\t{key.account_name}\t{key.prefix}…\tcreated {_when(key.created_at)}\t{status}"
            if key.revoked_at is None:
                with user_errors():
                    line += f"\t{controls_by_id(store, key.id).describe()}"
            click.echo(line)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--reason", default=None, callback=checked_reason, help="Why it is revoked (kept in the audit trail).")
@actor_option
@db_option
def keys_revoke(key_id: str, reason: str | None, actor: str | None, db_url: str | None) -> None:
    """Revoke a key by its id (see `keys list`).

    Example: aether-policy keys revoke key_0123456789abcdef --reason "leaked in a public repository"
    """
    who = resolve_actor(actor)
    with opened(db_url) as store, user_errors():
        key = store.revoke_key(key_id)
        audited(store, "key.revoke", key.id, actor=who, reason=reason, detail=f"account {key.account_name}")
    click.echo(f"revoked {key.id} ({key.account_name})")


@click.group()
def accounts() -> None:
    """List, mark, unmark and delete accounts."""


@accounts.command("list")
@db_option
def accounts_list(db_url: str | None) -> None:
    """List accounts with their mark and deletion state.

    Example: aether-policy accounts list
    """
    with opened(db_url, read_only=True) as store:
        for account in store.list_accounts():
            state = "deleted " + _when(account.deleted_at) if account.deleted_at else "active"
            mark = f"\tmarked {_when(account.marked_at)}: {account.mark_reason}" if account.marked_at else ""
            click.echo(f"{account.id}\t{account.name}\t{state}{mark}")


@accounts.command("mark")
@click.argument("name")
@click.option(
    "--reason", required=True, callback=checked_reason, help="Why the account is marked (kept with the mark)."
)
@actor_option
@db_option
def accounts_mark(name: str, reason: str, actor: str | None, db_url: str | None) -> None:
    """Mark an account: its prompts are kept for review as the policy allows.

    Example: aether-policy accounts mark acme --reason "ToS report 1234"
    """
    from aether_policy.store.audit import item_detail

    who = resolve_actor(actor)
    with opened(db_url) as store, user_errors():
        account = store.mark_account(name, reason)
        audited(store, "account.mark", name, actor=who, reason=reason, detail=item_detail(account.id))
    click.echo(f"marked '{name}'")


@accounts.command("unmark")
@click.argument("name")
@click.option(
    "--reason", default=None, callback=checked_reason, help="Why the mark is removed (kept in the audit trail)."
)
@actor_option
@db_option
def accounts_unmark(name: str, reason: str | None, actor: str | None, db_url: str | None) -> None:
    """Remove an account's mark; content already kept expires on its own schedule.

    Example: aether-policy accounts unmark acme
    """
    from aether_policy.store.audit import item_detail

    who = resolve_actor(actor)
    with opened(db_url) as store, user_errors():
        account = store.unmark_account(name)
        audited(store, "account.unmark", name, actor=who, reason=reason, detail=item_detail(account.id))
    click.echo(f"unmarked '{name}'")


@accounts.command("delete")
@click.argument("name")
@click.option("--reason", default=None, callback=checked_reason, help="Why it is deleted (kept in the audit trail).")
@actor_option
@db_option
def accounts_delete(name: str, reason: str | None, actor: str | None, db_url: str | None) -> None:
    """Delete an account: its keys stop working now; retention erases its data after the policy's period.

    Example: aether-policy accounts delete acme --reason "closure request 77"
    """
    from aether_policy.store.audit import item_detail

    who = resolve_actor(actor)
    with opened(db_url) as store, user_errors():
        account = store.delete_account(name)
        audited(store, "account.delete", name, actor=who, reason=reason, detail=item_detail(account.id))
    click.echo(f"deleted '{name}' at {_when(account.deleted_at)}; its data is erased by the account retention rule")


@click.group()
def review() -> None:
    """Review content kept because it was flagged or its account was marked."""


@review.command("list")
@db_option
def review_list(db_url: str | None) -> None:
    """One item per line, id first: id, flagged at, expires at, trigger, reasons, account name.

    Example: aether-policy review list
    """
    with opened(db_url, read_only=True) as store:
        names = _account_names(store)
        for item in store.list_quarantine():
            click.echo(
                f"{item.id}\t{_when(item.created_at)}\texpires {_when(item.expires_at)}\t{item.trigger}\t"
                f"{item.reasons}\t{_account(names, item.account_id)}"
            )


def _account_names(store: Store) -> dict[str, str]:
    return {account.id: account.name for account in store.list_accounts()}


def _account(names: dict[str, str], account_id: str | None) -> str:
    """The account's name; its id only when the account row is gone (erased by retention)."""
    if account_id is None:
        return "-"
    return names.get(account_id, f"{account_id} (account erased)")


@review.command("show")
@click.argument("item_id")
@click.option(
    "--reason",
    required=True,
    callback=checked_reason,
    help="Why you read it, e.g. a ticket number (kept in the audit trail).",
)
@actor_option
@db_option
def review_show(item_id: str, reason: str, actor: str | None, db_url: str | None) -> None:
    """Decrypt and print one item with why it was kept and when it expires; the read is audited first.

    Example: aether-policy review show 0f1e2d3c4b5a69788796a5b4c3d2e1f0 --reason "abuse ticket 4411"
    """
    from aether_policy.crypto import load_key
    from aether_policy.plan.gate import unseal
    from aether_policy.store import database_url, key_file_for, parse_url
    from aether_policy.store.audit import item_detail

    if not reason.strip():
        raise click.BadParameter("must say why the content is read", param_hint="--reason")
    who = resolve_actor(actor)
    with opened(db_url, read_only=True) as store, user_errors():
        info, sealed = store.get_quarantine(item_id)
        # Reading never creates a key: a new one could not open anything already sealed.
        cipher = load_key(key_file_for(parse_url(database_url(db_url))))
        store.bind_cipher(cipher, record=False)
        # On record before anything is decrypted: no trail, no read.
        detail = item_detail(info.account_id, f"trigger {info.trigger}")
        audited(store, "review.show", info.id, actor=who, reason=reason.strip(), detail=detail)
        content = unseal(cipher, info.id, sealed)
        account = _account(_account_names(store), info.account_id)
    click.echo(f"id: {info.id}\naccount: {account}\ntrigger: {info.trigger}\nreasons: {info.reasons}")
    click.echo(f"flagged: {_when(info.created_at)}\nexpires: {_when(info.expires_at)}")
    click.echo(f"--- request\n{content['request']}\n--- response\n{content['response']}")


@review.command("dismiss")
@click.argument("item_id")
@click.option("--reason", default=None, callback=checked_reason, help="Why it is dismissed (kept in the audit trail).")
@actor_option
@db_option
def review_dismiss(item_id: str, reason: str | None, actor: str | None, db_url: str | None) -> None:
    """Delete an item now, before it expires.

    Example: aether-policy review dismiss 0f1e2d3c4b5a69788796a5b4c3d2e1f0 --reason "false positive"
    """
    from aether_policy.store.audit import item_detail

    who = resolve_actor(actor)
    with opened(db_url) as store, user_errors():
        info, _ = store.get_quarantine(item_id)  # its account, named in the trail: the item will be gone
        store.dismiss(item_id)
        audited(store, "review.dismiss", item_id, actor=who, reason=reason, detail=item_detail(info.account_id))
    click.echo(f"dismissed {item_id}")
