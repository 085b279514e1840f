"""Helpers every command shares: finding the policy and turning library errors into CLI errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from aether_policy._extras import gateway_missing_reason
from aether_policy.exceptions import PolicyError
from aether_policy.loader import LoadedPolicy, find_policy, load_policy

policy_option = click.option(
    "--policy",
    "policy_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Policy YAML file. Default: the one file in ./policies/.",
)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Gateway config YAML. Default: providers from the OPENAI_* and ANTHROPIC_* environment variables.",
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Our own errors become `Error: …` and exit 1; anything else is a bug and keeps its traceback."""
    try:
        yield
    except PolicyError as error:
        raise click.ClickException(str(error)) from None


def load(policy_path: Path | None) -> LoadedPolicy:
    with user_errors():
        return load_policy(find_policy(policy_path))


def require_gateway() -> None:
    """Stop with the install command, before any work, when the running command needs the missing gateway extra."""
    missing = gateway_missing_reason()
    if missing is not None:
        context = click.get_current_context(silent=True)
        command = context.command_path if context is not None else "this command"
        raise click.ClickException(f"`{command}` {missing}")
