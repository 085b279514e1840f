"""`encryption-key`: which key seals a database's flagged content, and replacing it when it is lost.

The key itself is never printed: only fingerprints (an HMAC under the key), which identify it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from aether_policy.cli._common import user_errors
from aether_policy.cli._store_commands import db_option, opened

if TYPE_CHECKING:
    from aether_policy.crypto import Cipher
    from aether_policy.store import Store


def open_gateway_key(store: Store, key_file: Path) -> tuple[Cipher, list[str]]:
    """The gateway's key, bound to its (migrated) database, and what to tell the operator about it.

    A database with no recorded key gets this key's fingerprint, the key file being created if there is
    none; a database whose content is sealed already never gets a new key, which could open none of it.
    """
    from aether_policy.crypto import load_key, load_or_create_key
    from aether_policy.store._files import readable_by_others

    if store.key_fingerprint() is None:
        cipher, notice = load_or_create_key(key_file)
    else:
        lost = "this database's content is sealed already, so no new key is made; if its key is lost: "
        cipher, notice = load_key(key_file, lost + "aether-policy encryption-key replace --discard-sealed"), None
    store.bind_cipher(cipher, record=True)
    key_files = [key_file] if cipher.source == str(key_file) else []
    warnings = [f"warning: {w}" for w in [*store.loose_files(), *readable_by_others(key_files)]]
    return cipher, [notice, *warnings] if notice else warnings


@click.group("encryption-key")
def encryption_key() -> None:
    """Show or replace the key that seals flagged content (AETHER_ENCRYPTION_KEY or the key file)."""


@encryption_key.command("show")
@db_option
def encryption_key_show(db_url: str | None) -> None:
    """The database's key fingerprint and whether the key here matches it; creates nothing.

    Example: aether-policy encryption-key show
    """
    from aether_policy.crypto import load_key
    from aether_policy.exceptions import EncryptionKeyError
    from aether_policy.store import database_url, key_file_for, parse_url

    with opened(db_url) as store, user_errors():
        stored = store.key_fingerprint()
        try:
            cipher = load_key(key_file_for(parse_url(database_url(db_url))))
        except EncryptionKeyError as error:
            here = f"none ({error})"
        else:
            verdict = (
                "none recorded yet" if stored is None else "matches" if stored == cipher.fingerprint else "DIFFERS"
            )
            here = f"{cipher.fingerprint} from {cipher.source} ({verdict})"
    click.echo(f"database: {stored or 'no key recorded yet (the gateway records its key on start)'}")
    click.echo(f"this key: {here}")


@encryption_key.command("replace")
@click.option(
    "--discard-sealed", is_flag=True, help="Delete the flagged items sealed with the old key (they cannot be opened)."
)
@db_option
def encryption_key_replace(discard_sealed: bool, db_url: str | None) -> None:
    """Make the key here (AETHER_ENCRYPTION_KEY, or the key file, created if missing) the database's key.

    For a lost key: content sealed with it can never be opened again, so it must be discarded. Restart
    every gateway on this database with the new key afterwards: a running one keeps the key it started with.

    Example: aether-policy encryption-key replace --discard-sealed
    """
    from aether_policy.crypto import load_or_create_key
    from aether_policy.store import database_url, key_file_for, parse_url

    with opened(db_url) as store, user_errors():
        if not discard_sealed:
            store.refuse_if_sealed()  # before a key file is made that could not be used
        cipher, notice = load_or_create_key(key_file_for(parse_url(database_url(db_url))))
        if notice:
            click.echo(notice, err=True)
        if store.key_fingerprint() == cipher.fingerprint:
            click.echo(f"{cipher.source} is already this database's key; nothing changed")
            return
        discarded = store.replace_cipher(cipher, discard_sealed=discard_sealed)
    click.echo(f"{cipher.source} is now this database's key ({discarded} sealed item(s) discarded)")
    click.echo("restart every gateway on this database with this key: a running one keeps its old key", err=True)
