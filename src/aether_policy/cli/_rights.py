"""`accounts export` and `accounts erase`: data-subject access and erasure, answered from the policy's rules.

The storage stack (SQLAlchemy, cryptography) is imported inside the commands, so the policy-only commands
run without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aether_policy.cli._actor import actor_option, audited, checked_reason, resolve_actor
from aether_policy.cli._common import load, policy_option, user_errors
from aether_policy.cli._retention import _parse_now
from aether_policy.cli._store_commands import db_option, opened
from aether_policy.exceptions import EncryptionKeyError, StorageError

if TYPE_CHECKING:
    from aether_policy.crypto import Cipher
    from aether_policy.rights import ErasureReport


def _existing_cipher(db_url: str | None) -> Cipher:
    """The key kept content was sealed with; unlike `serve`, never create one (it could decrypt nothing)."""
    from aether_policy.crypto import KEY_ENV, Cipher, decode_key
    from aether_policy.store import database_url, key_file_for, parse_url

    env = os.environ.get(KEY_ENV)
    if env:
        return Cipher(decode_key(env, KEY_ENV))
    key_file = key_file_for(parse_url(database_url(db_url)))
    if not key_file.is_file():
        raise EncryptionKeyError(f"no encryption key to decrypt kept content: set {KEY_ENV} or restore {key_file}")
    return Cipher(decode_key(key_file.read_text(encoding="ascii"), str(key_file)))


def _write_private(out: Path, text: str) -> None:
    """A new file readable by its owner only; an existing file is never overwritten (it may be someone's)."""
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise StorageError(f"{out} already exists; choose a new file for the export") from None
    except OSError as error:
        raise StorageError(f"cannot create {out}: {error.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


@click.command("export")
@click.argument("name")
@policy_option
@db_option
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="json", show_default=True)
@click.option(
    "--reason",
    default=None,
    callback=checked_reason,
    help="Why kept content is decrypted (printed in the export, kept in the audit trail). Without it, it is withheld.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to this new file, mode 0600, instead of stdout.",
)
@click.option("--now", "now_text", default=None, help="Compute deletion dates as of this ISO-8601 time.")
@actor_option
def accounts_export(
    name: str,
    policy_path: Path | None,
    db_url: str | None,
    fmt: str,
    reason: str | None,
    out: Path | None,
    now_text: str | None,
    actor: str | None,
) -> None:
    """Everything stored about account NAME (or its id), grouped by the policy's categories.

    Each group names the rule that allows it, its retention rule and each item's deletion date, and the
    recipients the policy says receive it, and the audit trail's entries about the account. Kept content is
    decrypted only with --reason. The export is recorded in the audit trail first; its content is never logged.

    Example: aether-policy accounts export acme --format markdown --reason "access request 2026-014" --out acme.md
    """
    from aether_policy.plan import compile_policy
    from aether_policy.rights import export_account
    from aether_policy.rights.markdown import export_markdown
    from aether_policy.rights.records import find_account
    from aether_policy.store.audit import item_detail

    if reason is not None and not reason.strip():
        raise click.BadParameter("say why kept content is decrypted", param_hint="--reason")
    who = resolve_actor(actor)
    now = _parse_now(now_text)
    loaded = load(policy_path)
    with opened(db_url) as store, user_errors():
        cipher = _existing_cipher(db_url) if reason else None
        account = find_account(store, name)
        # On record before anything is read or decrypted: no trail, no export.
        detail = item_detail(account.id, "kept content decrypted" if reason else "kept content withheld")
        audited(store, "account.export", account.name, actor=who, reason=reason, detail=detail)
        data = export_account(
            loaded.policy, compile_policy(loaded.policy), store, account.name, now=now, reason=reason, cipher=cipher
        )
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else export_markdown(data)
    if out is None:
        click.echo(text, nl=False)
        return
    with user_errors():
        _write_private(out, text)
    click.echo(f"wrote {out} (mode 0600)", err=True)


@click.command("erase")
@click.argument("name")
@policy_option
@db_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--now", "now_text", default=None, help="Erase as of this ISO-8601 time instead of the clock.")
@click.option("--batch-size", default=5_000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--reason", default=None, callback=checked_reason, help="Why it is erased (kept in the audit trail).")
@actor_option
def accounts_erase(
    name: str,
    policy_path: Path | None,
    db_url: str | None,
    yes: bool,
    fmt: str,
    now_text: str | None,
    batch_size: int,
    reason: str | None,
    actor: str | None,
) -> None:
    """Erase account NAME now: delete what the policy lets be deleted, and say which rule keeps what until when.

    Content kept for review stays until it expires; the account row stays (deleted, without keys) while such
    content refers to it. Running it again removes nothing more. `accounts delete` instead only starts the
    account's retention clock.

    Example: aether-policy accounts erase acme --yes
    """
    from aether_policy.plan import compile_policy
    from aether_policy.rights import erase_account
    from aether_policy.store.audit import item_detail

    who = resolve_actor(actor)
    now = _parse_now(now_text)
    loaded = load(policy_path)
    if not yes:
        click.confirm(f"Erase account '{name}' and its data now? This cannot be undone", abort=True, err=True)
    with opened(db_url) as store, user_errors():
        report = erase_account(
            loaded.policy, compile_policy(loaded.policy), store, name, now=now, batch_size=batch_size
        )
        counts = ", ".join(f"{kind} {n}" for kind, n in report.deleted.items())
        detail = item_detail(report.account_id, f"deleted: {counts}")
        audited(store, "account.erase", report.account, actor=who, reason=reason, detail=detail)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(_erasure_text(report), nl=False)


def _erasure_text(report: ErasureReport) -> str:
    labels = {"usage_events": "usage events", "kept_content": "kept content items", "api_keys": "API keys"}
    counts = [f"{n} {labels[k]}" for k, n in report.deleted.items() if k in labels]
    counts.append("the account" if report.deleted.get("account") else "not the account")
    lines = [f"erased account '{report.account}' ({report.account_id}) as of {report.now.isoformat()}"]
    lines.append(f"deleted now: {', '.join(counts)}")
    for kept in report.kept:
        until = kept.until.isoformat() if kept.until else "its rule's period after account deletion"
        lines.append(f"kept: {kept.what} {kept.id} until {until}, by {kept.rule}: {kept.why}")
    if not report.kept:
        lines.append("kept: nothing")
    return "\n".join(lines) + "\n"
