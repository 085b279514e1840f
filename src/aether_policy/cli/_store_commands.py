"""`keys`, `accounts` and `review`: operating on the gateway's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from aether_policy.cli._common import require_gateway, user_errors

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
def opened(db_url: str | None) -> Iterator[Store]:
    require_gateway()
    from aether_policy.store import Store, database_url

    with user_errors():
        store = Store(database_url(db_url))
        store.migrate()
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
@db_option
def keys_create(account: str, db_url: str | None) -> None:
    """Create a key for ACCOUNT and print it once, as the last line.

    Example: aether-policy keys create --account acme
    """
    with opened(db_url) as store, user_errors():
        info, plaintext = store.create_key(account)
    click.echo(f"created key {info.id} for account '{info.account_name}' (shown once; store it now):", err=True)
    click.echo(plaintext)


@keys.command("list")
@click.option("--account", default=None, help="Only this account's keys.")
@db_option
def keys_list(account: str | None, db_url: str | None) -> None:
    """List keys: id, account, prefix, created, revoked.

    Example: aether-policy keys list --account acme
    """
    with opened(db_url) as store:
        for key in store.list_keys(account):
            status = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "active"
            click.echo(f"{key.id}\t{key.account_name}\t{key.prefix}…\tcreated {_when(key.created_at)}\t{status}")


@keys.command("revoke")
@click.argument("key_id")
@db_option
def keys_revoke(key_id: str, db_url: str | None) -> None:
    """Revoke a key by its id (see `keys list`).

    Example: aether-policy keys revoke key_0123456789abcdef
    """
    with opened(db_url) as store, user_errors():
        key = store.revoke_key(key_id)
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
    with opened(db_url) as store:
        for account in store.list_accounts():
            state = "deleted " + _when(account.deleted_at) if account.deleted_at else "active"
            mark = f"\tmarked {_when(account.marked_at)}: {account.mark_reason}" if account.marked_at else ""
            click.echo(f"{account.id}\t{account.name}\t{state}{mark}")


@accounts.command("mark")
@click.argument("name")
@click.option("--reason", required=True, help="Why the account is marked (kept with the mark).")
@db_option
def accounts_mark(name: str, reason: str, db_url: str | None) -> None:
    """Mark an account: its prompts are kept for review as the policy allows.

    Example: aether-policy accounts mark acme --reason "ToS report 1234"
    """
    with opened(db_url) as store, user_errors():
        store.mark_account(name, reason)
    click.echo(f"marked '{name}'")


@accounts.command("unmark")
@click.argument("name")
@db_option
def accounts_unmark(name: str, db_url: str | None) -> None:
    """Remove an account's mark; content already kept expires on its own schedule.

    Example: aether-policy accounts unmark acme
    """
    with opened(db_url) as store, user_errors():
        store.unmark_account(name)
    click.echo(f"unmarked '{name}'")


@accounts.command("delete")
@click.argument("name")
@db_option
def accounts_delete(name: str, db_url: str | None) -> None:
    """Delete an account: its keys stop working now; retention erases its data after the policy's period.

    Example: aether-policy accounts delete acme
    """
    with opened(db_url) as store, user_errors():
        account = store.delete_account(name)
    click.echo(f"deleted '{name}' at {_when(account.deleted_at)}; its data is erased by the account retention rule")


@click.group()
def review() -> None:
    """Review content kept because it was flagged or its account was marked."""


@review.command("list")
@db_option
def review_list(db_url: str | None) -> None:
    """One item per line, id first: id, flagged at, expires at, trigger, reasons, account.

    Example: aether-policy review list
    """
    with opened(db_url) as store:
        for item in store.list_quarantine():
            click.echo(
                f"{item.id}\t{_when(item.created_at)}\texpires {_when(item.expires_at)}\t{item.trigger}\t"
                f"{item.reasons}\t{item.account_id or '-'}"
            )


@review.command("show")
@click.argument("item_id")
@db_option
def review_show(item_id: str, db_url: str | None) -> None:
    """Decrypt and print one item with why it was kept and when it expires.

    Example: aether-policy review show 0f1e2d3c4b5a69788796a5b4c3d2e1f0
    """
    from aether_policy.crypto import load_key
    from aether_policy.plan.gate import unseal
    from aether_policy.store import database_url, key_file_for, parse_url

    with opened(db_url) as store, user_errors():
        info, sealed = store.get_quarantine(item_id)
        # Reading never creates a key: a new one could not open anything already sealed.
        cipher = load_key(key_file_for(parse_url(database_url(db_url))))
        store.bind_cipher(cipher, record=False)
        content = unseal(cipher, info.id, sealed)
    click.echo(f"id: {info.id}\naccount: {info.account_id or '-'}\ntrigger: {info.trigger}\nreasons: {info.reasons}")
    click.echo(f"flagged: {_when(info.created_at)}\nexpires: {_when(info.expires_at)}")
    click.echo(f"--- request\n{content['request']}\n--- response\n{content['response']}")


@review.command("dismiss")
@click.argument("item_id")
@db_option
def review_dismiss(item_id: str, db_url: str | None) -> None:
    """Delete an item now, before it expires.

    Example: aether-policy review dismiss 0f1e2d3c4b5a69788796a5b4c3d2e1f0
    """
    with opened(db_url) as store, user_errors():
        store.dismiss(item_id)
    click.echo(f"dismissed {item_id}")
