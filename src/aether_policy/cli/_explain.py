"""`explain`: what the compiled plan does with one request (run in memory, never sent) or with one piece of data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aether_policy.cli._common import config_option, load, policy_option, user_errors
from aether_policy.cli._retention import _parse_now
from aether_policy.cli._store_commands import db_option
from aether_policy.exceptions import StorageError

MAX_REQUEST_BYTES = 8 * 1024 * 1024


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
        raise click.BadParameter(f"'{text}' is not NAME: VALUE", param_hint="--header")
    return name.strip(), value.strip()


def _state_in(db_url: str | None, name: str) -> tuple[bool, bool]:
    """(marked, deleted) of the account in the gateway's database; read only, and never creates a database."""
    from sqlalchemy.exc import SQLAlchemyError

    from aether_policy.store import Store, database_url, parse_url

    url = database_url(db_url)
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite" and (not parsed.database or not Path(parsed.database).is_file()):
        raise StorageError(f"no gateway database at {url}; pass --db, or drop --account to explain for a new account")
    store = Store(url)
    try:
        account = store.get_account(name)
    except SQLAlchemyError:
        raise StorageError(f"{url} is not a gateway database (no accounts table)") from None
    finally:
        store.close()
    if account is None:
        raise StorageError(f"no account named '{name}'; see: aether-policy accounts list")
    return account.marked_at is not None, account.deleted_at is not None


@click.command()
@click.argument("request_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--field", "field_ref", default=None, help="Explain a category or field instead, e.g. device.ip_address.")
@click.option("--endpoint", default="/v1/chat/completions", show_default=True, help="Or /v1/messages.")
@click.option("--account", default=None, help="An account in --db; its mark decides whether content is kept.")
@click.option("--marked", is_flag=True, help="Explain as if the account were marked for review.")
@click.option("--moderated", is_flag=True, help="Explain as if the provider's moderation flagged the reply.")
@click.option("--header", "headers", multiple=True, help="A header the caller sends, 'NAME: VALUE' (repeatable).")
@click.option("--client-ip", default="203.0.113.10", show_default=True, help="The caller's address.")
@click.option("--now", "now_text", default=None, help="Explain as of this ISO-8601 time.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@policy_option
@config_option
@db_option
def explain(
    request_file: Path | None,
    field_ref: str | None,
    endpoint: str,
    account: str | None,
    marked: bool,
    moderated: bool,
    headers: tuple[str, ...],
    client_ip: str,
    now_text: str | None,
    fmt: str,
    policy_path: Path | None,
    config_path: Path | None,
    db_url: str | None,
) -> None:
    """Explain what happens to REQUEST_FILE (a JSON request body), or to --field, and which rule decides each step.

    A request runs through the real gateway and middleware in memory: nothing is sent to any provider and nothing
    is written to disk. It shows the usage columns recorded, whether the content is flagged (by which pattern,
    detector or mark) and kept until when, what goes to which recipient's host, and what the egress guard does
    to your headers. --field (e.g. --field device.ip_address) shows how a field is collected, kept, received and
    where the page says so.

    Example: aether-policy explain request.json --account acme --header "X-Forwarded-For: 192.0.2.1"
    """
    if (request_file is None) == (field_ref is None):
        raise click.UsageError("give either REQUEST_FILE or --field")
    loaded = load(policy_path)
    from aether_policy.plan import compile_policy

    with user_errors():
        plan = compile_policy(loaded.policy)
    if field_ref is not None:
        from aether_policy.explain import explain_field
        from aether_policy.explain.text import field_text

        with user_errors():
            fields = explain_field(loaded, plan, field_ref)
        click.echo(json.dumps(fields, indent=2) if fmt == "json" else field_text(fields, plan.page_url), nl=False)
        return
    assert request_file is not None
    from aether_policy.explain.dry_run import DryRun, explain_request
    from aether_policy.explain.text import request_text
    from aether_policy.gateway import check_conformance, load_config

    now = _parse_now(now_text)
    parsed_headers = tuple(_header(h) for h in headers)
    try:
        with request_file.open("rb") as handle:
            body = handle.read(MAX_REQUEST_BYTES + 1)
    except OSError as error:
        raise click.BadParameter(f"cannot read {request_file}: {error.strerror}", param_hint="REQUEST_FILE") from None
    if len(body) > MAX_REQUEST_BYTES:
        raise click.BadParameter(
            f"{request_file} is over {MAX_REQUEST_BYTES} bytes; the gateway refuses it with 413 unread",
            param_hint="REQUEST_FILE",
        )
    with user_errors():
        config, _, config_file = load_config(config_path)
        check_conformance(config, plan, config_file)
        was_marked, deleted = _state_in(db_url, account) if account is not None else (False, False)
        run = DryRun(
            body,
            now,
            endpoint,
            account or "explain",
            marked or was_marked,
            parsed_headers,
            client_ip,
            moderated,
            deleted,
        )
        found = explain_request(loaded.policy, plan, config, run)
    click.echo(json.dumps(found, indent=2) if fmt == "json" else request_text(found, plan.page_url), nl=False)
