"""Change control: every policy file changed since a base commit moves `last_updated` forward and logs why.

It cannot be side-stepped by renaming the file (git's rename detection, then the vanished base policy for the
same service or with the most similar text), by a second policy file (every `*.yaml`/`*.yml` under `policies/`
is covered), by a base revision that looks like an option (resolved to a commit first), or by a base that cannot
be read (that fails the check). A `material: true` entry acknowledges the material changes its `details` name
(all of them when it has none), so `--fail-on-warn` passes once a material change is properly logged.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from pathlib import Path

from aether_policy.checks._git import GitError, Repository
from aether_policy.checks.findings import Finding, guarded
from aether_policy.diff import Change, rules_changed, semantic_diff
from aether_policy.exceptions import PolicyLoadError
from aether_policy.loader import DEFAULT_POLICY_DIR, LoadedPolicy, load_policy, load_policy_text
from aether_policy.model import ChangeEntry, Policy

CHECK = "change-control"
MAX_CANDIDATES = 50
"""Vanished base files considered as the predecessor of a policy that is new at its path; bounds the work."""
SIMILAR_ENOUGH = 0.5
"""Like git's default rename threshold: a vanished base file at least this similar is the same policy."""


@guarded("change-control")
def change_control(loaded: LoadedPolicy, policy_path: Path, base: str) -> list[Finding]:
    """Findings for the given policy and every other policy file under `policies/`."""
    try:
        repo = Repository.containing(policy_path)
        commit = repo.commit(base)
    except GitError as error:
        return [Finding(CHECK, "error", loaded.file, 1, 1, f"cannot compare with --base: {error}")]
    findings: list[Finding] = []
    for path in _policy_files(policy_path):
        current = loaded if path is policy_path else _load(path, findings)
        if current is not None:
            findings += _file(repo, commit, base, path, current)
    return findings


def _policy_files(policy_path: Path) -> list[Path]:
    """The policy being checked, then every other policy file under `policies/`, subfolders included.

    `policies/` is the folder of that name holding the policy (wherever CI runs from), else `./policies`.
    """
    folder = next((p for p in policy_path.resolve().parents if p.name == DEFAULT_POLICY_DIR.name), None)
    folder = folder or DEFAULT_POLICY_DIR.resolve()
    others: set[Path] = set()
    if folder.is_dir():
        for pattern in ("**/*.yaml", "**/*.yml"):
            others.update(p for p in folder.glob(pattern) if p.is_file())
    chosen = policy_path.resolve()
    return [policy_path, *sorted(_shown(p) for p in others if p != chosen)]


def _shown(path: Path) -> Path:
    """A path relative to the working folder, as findings name files (`../policies/x.yaml` from a subfolder)."""
    try:
        return Path(os.path.relpath(path, Path.cwd()))
    except ValueError:  # another drive on Windows
        return path


def _load(path: Path, findings: list[Finding]) -> LoadedPolicy | None:
    try:
        return load_policy(path)
    except PolicyLoadError as error:
        for p in error.problems:
            message = f"{p.path}: {p.message}" if p.path else p.message
            findings.append(Finding(CHECK, "error", p.file, p.line, p.column, f"policy file does not load: {message}"))
        return None


def _file(repo: Repository, commit: str, base: str, path: Path, loaded: LoadedPolicy) -> list[Finding]:
    try:
        relative = repo.relative(path)
        found = _base_version(repo, commit, relative, loaded.policy)
    except GitError as error:
        return [Finding(CHECK, "error", loaded.file, 1, 1, f"cannot read the policy at {base}: {error}")]
    if found is None:
        return []  # a new policy: nothing to compare with
    old_path, old_text = found
    label = f"{base}:{old_path}"
    try:
        old = load_policy_text(old_text, label).policy
    except PolicyLoadError as error:
        first = error.problems[0]
        return [
            Finding(
                CHECK,
                "error",
                loaded.file,
                1,
                1,
                f"the policy at {label} does not load ({first}), so changes cannot be judged; "
                "fix the base or compare with another --base",
            )
        ]
    renamed = f" (was {old_path} at {base})" if old_path != relative else ""
    return list(_compare(loaded, old, base + renamed))


def _base_version(repo: Repository, commit: str, relative: str, policy: Policy) -> tuple[str, str] | None:
    """The same policy at `commit`: same path, else renamed from, else a vanished base policy like it."""
    blob = repo.read(commit, relative)
    if blob is not None:
        return relative, _text(blob, relative)
    renamed_from = repo.renames(commit).get(relative)
    if renamed_from is not None and (blob := repo.read(commit, renamed_from)) is not None:
        return renamed_from, _text(blob, renamed_from)
    return _vanished_predecessor(repo, commit, relative, policy)


def _vanished_predecessor(repo: Repository, commit: str, relative: str, policy: Policy) -> tuple[str, str] | None:
    """A base policy file under `policies/` that no longer exists, for the same service or with similar text.

    Git only detects renames of tracked files with similar text; an untracked copy, or a file reformatted
    while moved, is found here instead, so moving the file never turns a change into a "new" policy.
    """
    try:
        folder = repo.relative(DEFAULT_POLICY_DIR)
    except GitError:
        return None  # no policies folder inside this repository: nothing can have moved out of it
    current = (repo.root / relative).read_text(encoding="utf-8", errors="replace")
    best: tuple[float, str, str] | None = None
    vanished = [c for c in repo.files(commit, folder) if c.endswith((".yaml", ".yml")) and not (repo.root / c).exists()]
    for candidate in vanished[:MAX_CANDIDATES]:
        blob = repo.read(commit, candidate)
        if blob is None:
            continue
        text = blob.decode("utf-8", "replace")
        try:
            old = load_policy_text(text, candidate).policy
        except PolicyLoadError:
            continue  # not a policy, or not one we could compare with anyway
        same_service = old.service.name == policy.service.name or old.service.url == policy.service.url
        score = 1.0 if same_service else difflib.SequenceMatcher(None, text, current).quick_ratio()
        if score >= SIMILAR_ENOUGH and (best is None or score > best[0]):
            best = (score, candidate, text)
    return (best[1], best[2]) if best else None


def _text(blob: bytes, path: str) -> str:
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError as error:
        raise GitError(f"{path} is not UTF-8 text: {error}") from None


def _compare(loaded: LoadedPolicy, old: Policy, base: str) -> Iterator[Finding]:
    new = loaded.policy
    if new.last_updated < old.last_updated:
        yield _at(
            loaded,
            ("last_updated",),
            f"last_updated moved backwards: {old.last_updated} at {base}, now {new.last_updated}; "
            "it must be the date of the latest change",
        )
    yield from _rewritten_history(loaded, old, base)
    if not rules_changed(old, new):
        return
    if new.last_updated == old.last_updated:
        yield _at(
            loaded,
            ("last_updated",),
            f"rules changed since {base} but last_updated is still {new.last_updated}; move it forward",
        )
    logged = [e for e in new.changes.log if e.date > old.last_updated]
    if not logged:
        yield _at(
            loaded,
            ("changes", "log"),
            f"rules changed since {base} but the change log has no entry after {old.last_updated}; add one "
            "(`aether-policy diff` drafts it)",
        )
    material = [c for c in semantic_diff(old, new) if c.material]
    acknowledging = [e for e in logged if e.material]
    if material and logged and not acknowledging:
        yield _at(
            loaded,
            ("changes", "log"),
            "the changes include material ones but no new change-log entry says `material: true`",
        )
    for change in material:
        if not _acknowledged(change, acknowledging):
            hint = "; list it under `details` of a `material: true` entry" if acknowledging else ""
            yield _at(loaded, change.path, f"material change: {change.description}{hint}", "warning")


def _rewritten_history(loaded: LoadedPolicy, old: Policy, base: str) -> Iterator[Finding]:
    """The change log is what users were told: entries already published stay as they were."""
    kept = list(loaded.policy.changes.log)
    for entry in old.changes.log:
        if entry in kept:
            kept.remove(entry)
            continue
        yield _at(
            loaded,
            ("changes", "log"),
            f"the change-log entry of {entry.date} at {base} was removed or edited; the log is append-only: "
            "restore it and add a new entry that corrects it",
        )


def _acknowledged(change: Change, entries: list[ChangeEntry]) -> bool:
    """Whether a `material: true` entry covers this change: it has no details, or one of them names it."""
    wanted = " ".join(change.description.split())
    for entry in entries:
        if not entry.details or any(wanted in " ".join(detail.split()) for detail in entry.details):
            return True
    return False


def _at(loaded: LoadedPolicy, path: tuple[str | int, ...], message: str, severity: str = "error") -> Finding:
    line, column = loaded.located.position(path)
    return Finding(CHECK, severity, loaded.file, line, column, message)  # type: ignore[arg-type]
