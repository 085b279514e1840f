"""Run the CLI on hostile input in a child process with a memory and time limit, as a careful CI would.

The limit is set inside the child before anything is imported (no `preexec_fn`, which is unsafe in a
threaded test runner), so an input that makes aether-policy allocate gigabytes fails fast with MemoryError
instead of swapping the machine, and one that makes it spin is killed by the timeout. Either way the test
that sent it fails, which is the point: a bounded loader answers well inside both limits.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MEMORY_LIMIT = 1024 * 1024 * 1024
"""Address space for the child: the CLI with every dependency loaded uses about a quarter of it."""

TIME_LIMIT = 60.0
"""Seconds; a bounded loader answers in about one, even on a busy CI machine."""

_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from aether_policy.cli import main
sys.argv = ["aether-policy", *sys.argv[1:]]
main()
"""


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_cli_limited(*args: str, cwd: str | None = None) -> Outcome:
    """`aether-policy ARGS` under MEMORY_LIMIT and TIME_LIMIT; a timeout fails the calling test."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD.format(limit=MEMORY_LIMIT), *args],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        cwd=cwd,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


def validate_limited(tmp_path: Path, text: str) -> list[str]:
    """`aether-policy validate` on the text in a bounded child: the problems it printed, one per line."""
    policy = tmp_path / "p.yaml"
    policy.write_text(text, encoding="utf-8")
    outcome = run_cli_limited("validate", str(policy))
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.code == 1, outcome
    return [line.removeprefix(f"Error: {policy}:") for line in outcome.stderr.splitlines()]
