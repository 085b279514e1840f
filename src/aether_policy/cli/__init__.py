"""The `aether-policy` command: one group, one module per command family."""

from __future__ import annotations

import click

from aether_policy.cli._build import build
from aether_policy.cli._check import check, diff
from aether_policy.cli._encryption_key import encryption_key
from aether_policy.cli._explain import explain
from aether_policy.cli._export import export
from aether_policy.cli._init import init
from aether_policy.cli._policy_commands import schema, validate
from aether_policy.cli._retention import retention
from aether_policy.cli._rights import accounts_erase, accounts_export
from aether_policy.cli._serve import serve
from aether_policy.cli._store_commands import accounts, keys, review


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aether-policy")
def main() -> None:
    """Policy-as-code for AetherAPI: one YAML privacy policy drives the page, the gateway and retention.

    Run from a project directory that has a `policies/` folder, or pass --policy.
    """


main.add_command(init)
main.add_command(build)
main.add_command(check)
main.add_command(diff)
main.add_command(validate)
main.add_command(schema)
main.add_command(serve)
main.add_command(keys)
main.add_command(accounts)
main.add_command(review)
main.add_command(encryption_key)
main.add_command(retention)
main.add_command(explain)
main.add_command(export)
accounts.add_command(accounts_export)
accounts.add_command(accounts_erase)

__all__ = ["main"]
