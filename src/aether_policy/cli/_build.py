"""`build`: render the published page from the policy."""

from __future__ import annotations

from pathlib import Path

import click

from aether_policy.cli._common import load, policy_option, user_errors
from aether_policy.render import build_site, write_site

templates_option = click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Your templates, each overriding the packaged default of the same name. Default: ./templates if present.",
)


@click.command()
@policy_option
@templates_option
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("site"), show_default=True)
def build(policy_path: Path | None, templates: Path | None, out: Path) -> None:
    """Render the privacy policy page, its Markdown and JSON into OUT.

    Output is byte-identical across runs, so commit site/ and let `aether-policy check` catch a stale page.

    Example: aether-policy build --out site
    """
    loaded = load(policy_path)
    with user_errors():
        site = build_site(loaded, templates)
        changed = write_site(site, out)
    for path in changed:
        click.echo(f"wrote {path}")
    click.echo(f"{out}: {len(site.files)} files, {len(changed)} changed, policy {site.digest}")
