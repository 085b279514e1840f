"""Git in a test's own folder, for the commands that compare a project with its history (`check --base`)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(folder: Path, *args: str) -> None:
    """`git ARGS` in `folder`, with a committer of its own: the machine's git may have none configured."""
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def first_commit(folder: Path, message: str) -> None:
    """Make `folder` a repository on branch main whose one commit holds everything in it."""
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", message)
