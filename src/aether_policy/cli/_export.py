"""`export`: the policy in another tool's format, for privacy platforms that read it."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from aether_policy.cli._common import load, policy_option, user_errors


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["fideslang"]),
    required=True,
    help="fideslang: a Fides manifest (system, recipients as systems, dataset) in YAML.",
)
@policy_option
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write here, not stdout.")
def export(fmt: str, policy_path: Path | None, out: Path | None) -> None:
    """Write the policy as a fideslang system and dataset declaration.

    Categories and purposes map to fideslang's taxonomy where a mapping exists; the rest take fideslang's
    most general key and are listed under the system's meta.aether_unmapped.

    Example: aether-policy export --format fideslang --out fides/aetherapi.yml
    """
    from aether_policy.interop.fideslang import fideslang_manifest
    from aether_policy.plan import compile_policy

    loaded = load(policy_path)
    with user_errors():
        manifest = fideslang_manifest(loaded.policy, compile_policy(loaded.policy))
    text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=120)
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)
