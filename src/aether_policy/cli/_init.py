"""`init`: start a policy repository that validates, builds and checks out of the box."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from aether_policy.cli._common import user_errors


@click.command()
@click.argument("directory", type=click.Path(path_type=Path), default=Path("."))
@click.option("--service", default="Example AI", show_default=True, help="The service's name, as the page prints it.")
@click.option("--url", default="https://example.com", show_default=True, help="The service's address.")
@click.option(
    "--email", "contact_email", default="privacy@example.com", show_default=True, help="Where privacy questions go."
)
@click.option("--templates", is_flag=True, help="Also copy the default page templates into templates/ to edit.")
@click.option("--force", is_flag=True, help="Overwrite the files init writes if they exist.")
def init(directory: Path, service: str, url: str, contact_email: str, templates: bool, force: bool) -> None:
    """Start a policy repository in DIRECTORY (default: here).

    Writes a starter policy (policies/policy.yaml) and its JSON Schema, a GitHub Actions workflow that runs
    `aether-policy check` on every pull request, a pre-commit config, and .gitignore lines that keep the
    gateway's database and key out of git. Nothing is written if a file exists, unless --force.

    Example: aether-policy init acme-privacy --service "Acme AI" --url https://acme.example --email privacy@acme.example
    """
    from aether_policy.init_repo import POLICY, Starter, scaffold

    starter = Starter(service, url, contact_email, datetime.now(UTC).date())
    with user_errors():
        written = scaffold(directory, starter, force=force, templates=templates)
    for path in written:
        click.echo(f"wrote {path}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(
        f"next: edit {POLICY}, then {where}aether-policy build, and commit site/ with the policy; "
        "CI runs aether-policy check"
    )
