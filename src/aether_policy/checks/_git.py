"""The few git questions change control asks, each answered without letting a revision be read as an option.

Every call passes revisions after `--end-of-options` (or as `<sha>:<path>` once resolved to a full SHA), so a
`--base` of `--output=x` is a revision git cannot find, never an option git obeys.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


class GitError(Exception):
    """git is missing, the folder is not a repository, or it refused; the message says which."""


@dataclass(frozen=True)
class Repository:
    root: Path

    @classmethod
    def containing(cls, path: Path) -> Repository:
        folder = path.resolve().parent
        top = _run(["rev-parse", "--show-toplevel"], folder)
        return cls(Path(top.decode("utf-8", "replace").strip()).resolve())

    def relative(self, path: Path) -> str:
        """`path` as git names it: relative to the repository's top folder, with forward slashes."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            raise GitError(f"{path} is outside the git repository at {self.root}") from None

    def commit(self, revision: str) -> str:
        """The full SHA of the commit `revision` names; GitError if it names none."""
        try:
            out = _run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"], self.root)
        except GitError:
            raise GitError(
                f"'{revision}' is not a commit in this repository; pass a branch, tag or SHA "
                "(in CI, fetch it too: actions/checkout with `fetch-depth: 0`)"
            ) from None
        return out.decode("ascii").strip()

    def read(self, commit: str, path: str) -> bytes | None:
        """The blob at `commit:path`, or None when no such file exists there."""
        listed = _run(["ls-tree", "-z", "--full-tree", commit, "--", path], self.root)
        entries = [e for e in listed.split(b"\0") if e]
        if not entries or not entries[0].split(b" ", 2)[1] == b"blob":
            return None
        return _run(["cat-file", "blob", f"{commit}:{path}"], self.root)

    def files(self, commit: str, under: str) -> list[str]:
        """Every file path in `commit`'s tree under the folder `under` (relative to the top folder)."""
        out = _run(["ls-tree", "-r", "-z", "--name-only", "--full-tree", commit, "--", under], self.root)
        return [p.decode("utf-8", "replace") for p in out.split(b"\0") if p]

    def renames(self, commit: str) -> dict[str, str]:
        """Files renamed since `commit` (committed or not, as git's rename detection sees them): new -> old."""
        out = _run(
            ["diff", "--name-status", "-z", "-M", "--no-ext-diff", "--no-relative", "--no-color", commit, "--"],
            self.root,
        )
        fields = [f.decode("utf-8", "replace") for f in out.split(b"\0")]
        renamed: dict[str, str] = {}
        i = 0
        while i < len(fields) and fields[i]:
            status = fields[i]
            if status[:1] in ("R", "C"):
                renamed[fields[i + 2]] = fields[i + 1]
                i += 3
            else:
                i += 2
        return renamed


def _run(args: list[str], cwd: Path) -> bytes:
    try:
        # Paths are file names, never pathspec patterns: `policies/*.yaml` at the base is that one file.
        done = subprocess.run(["git", "--literal-pathspecs", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as error:
        raise GitError(f"cannot run git: {error}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(lines[-1] if lines else f"git {args[0]} failed")
    return done.stdout
