"""The store's files are private: created 0600, and a file others can read is reported, not silently kept."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from aether_policy.exceptions import StorageError


def create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask, typically 0644).

    SQLite gives the -wal and -shm files it creates later the database file's own mode, so they are private
    too. An existing file keeps its mode: the operator may have chosen it (`readable_by_others` reports it).
    """
    if path.exists():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it in between, the same way
    except FileNotFoundError:
        raise StorageError(
            f"cannot create the database file {path}: the folder {path.parent} does not exist; create it, or "
            "choose another --db / AETHER_DATABASE_URL"
        ) from None
    except OSError as error:
        raise StorageError(f"cannot create the database file {path}: {error.strerror}") from None


def sqlite_files(database: Path) -> list[Path]:
    """The database file and the -wal and -shm files beside it, those that exist."""
    return [p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if p.exists()]


def readable_by_others(paths: Iterable[Path]) -> list[str]:
    """A warning with the fix for each file that users other than its owner can read or write."""
    warnings = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            warnings.append(f"{path} is open to other users (mode {mode:04o}); restrict it: chmod 600 {path}")
    return warnings
