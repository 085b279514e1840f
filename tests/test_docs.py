"""Docs drift: every command has help text with an example and is listed in the README."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import pytest

from aether_policy.cli import main
from tests.conftest import ROOT
from tests.helpers import free_port

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


def _blocks(section: str) -> list[list[str]]:
    """The command lines of each bash block of a README section."""
    text = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = [part.split("```", 1)[0] for part in text.split("```bash\n")[1:]]
    return [[line for line in block.splitlines() if line.strip() and not line.startswith("#")] for block in blocks]


def test_the_try_it_locally_section_starts_the_gateway_in_two_commands(tmp_path: Path) -> None:
    """Run as written, in a copy of the repository's example files, with free ports for 8100 and 8000."""
    start, use = _blocks("Try the gateway locally")
    assert len(start) == 2
    for name in ("policies", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    ports = {"8100": str(free_port()), "8000": str(free_port())}

    def local(line: str) -> str:
        line = line.replace(".venv/bin/", str(Path(sys.executable).parent) + "/")
        for port, free in ports.items():
            line = line.replace(f":{port}", f":{free}").replace(f"--port {port}", f"--port {free}")
        return line

    config = tmp_path / "examples" / "nordlicht-gateway.yaml"
    config.write_text(local(config.read_text()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AETHER_", "OPENAI_", "ANTHROPIC_"))}
    env["PYTHONPATH"] = str(ROOT)
    processes = [
        subprocess.Popen(shlex.split(local(line).removesuffix(" &")), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
        for line in start
    ]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{ports['8000']}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and all(p.poll() is None for p in processes), "it did not start"
                time.sleep(0.1)
        if shutil.which("curl") is None:
            pytest.skip("the README's call uses curl")
        script = "\n".join(local(line) for line in use)
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert json.loads(done.stdout)["choices"][0]["message"]["content"] == "echo: Hallo", done.stderr
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
