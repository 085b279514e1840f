"""Docs drift: every command has help text with an example and is listed in the README."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest

from aether_policy.cli import main
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> list[tuple[str, click.Command]]:
    found = []
    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            found.append((name, command))
    return found


@pytest.mark.parametrize(("name", "command"), commands(), ids=[n for n, _ in commands()])
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    assert command.help and "Example: aether-policy" in command.help


@pytest.mark.parametrize("name", [n for n, _ in commands()])
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"aether-policy {name}" in README or f"`{name}" in README


def test_the_quick_start_has_exactly_two_commands() -> None:
    block = README.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 2
    assert lines[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_readme_embedding_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = README.split("## Embed the middleware", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AETHER_ENCRYPTION_KEY", raising=False)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert type(namespace["app"]).__name__ == "PolicyMiddleware"
