"""Scan every place a prompt must never reach: database file and WAL, table dumps, logs, files written."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

FRAGMENT = 16


def fragments(secret: str) -> set[str]:
    """Every 16-character piece of `secret`: any one found is a leak.

    A secret shorter than 16 characters has no such piece. Searching sinks for "?" or "hi" would find them
    in any database file, so the promise (and the proof) is about fragments of 16 characters or more.
    """
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}


def _contains(haystack: str, pieces: set[str]) -> bool:
    return any(piece in haystack for piece in pieces)


def database_dump(db_file: Path) -> str:
    """Every value of every table, as text (BLOBs decoded leniently)."""
    connection = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        parts = []
        for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                parts += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
        return "\n".join(parts)
    finally:
        connection.close()


def raw_files(paths: Iterable[Path]) -> str:
    texts = []
    for path in paths:
        if path.is_file():
            data = path.read_bytes()
            texts += [data.decode("utf-8", "replace"), data.decode("utf-16-le", "replace")]
    return "\n".join(texts)


def leaks(
    secret: str, *, db_file: Path | None = None, logs: str = "", files: Iterable[Path] = (), texts: Iterable[str] = ()
) -> list[str]:
    """The names of the sinks in which any 16-character fragment of `secret` appears."""
    pieces = fragments(secret)
    if not pieces:
        return []
    found = []
    if db_file is not None:
        if _contains(database_dump(db_file), pieces):
            found.append("database tables")
        siblings = [db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")]
        if _contains(raw_files(siblings), pieces):
            found.append("database file bytes")
    if _contains(logs, pieces):
        found.append("logs")
    if _contains(raw_files(files), pieces):
        found.append("files")
    if any(_contains(text, pieces) for text in texts):
        found.append("responses")
    return found
