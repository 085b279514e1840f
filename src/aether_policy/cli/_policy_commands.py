"""`validate` and `schema`: the commands that read the policy document itself."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aether_policy.cli._common import user_errors
from aether_policy.exceptions import PolicyLoadError
from aether_policy.loader import default_policy_files, load_policy
from aether_policy.schema import policy_json_schema


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
def validate(paths: tuple[Path, ...]) -> None:
    """Check policy files: schema, references, prose. Prints every problem as FILE:LINE:COL.

    With no PATHS, checks every policies/*.yaml under the current directory.

    Example: aether-policy validate policies/aetherapi.yaml
    """
    files = list(paths) or default_policy_files()
    if not files:
        raise click.UsageError("no policy files given and none found in ./policies/")
    failed = 0
    for file in files:
        try:
            loaded = load_policy(file)
        except PolicyLoadError as error:
            failed += 1
            for problem in error.problems:
                click.echo(f"Error: {problem}", err=True)
            continue
        click.echo(f"{file}: valid ({loaded.digest})")
    if failed:
        raise SystemExit(1)


@click.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write to a file instead of stdout.")
def schema(out: Path | None) -> None:
    """Print the policy's JSON Schema, for editor autocompletion and validation.

    Example: aether-policy schema --out policies/policy.schema.json
    """
    text = json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    with user_errors():
        out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")
