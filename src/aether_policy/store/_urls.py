"""One database URL selects the backend: `sqlite:///path` (the embedded default) or `postgresql://…`."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from aether_policy.exceptions import StorageError

DEFAULT_URL = "sqlite:///aether.db"
URL_ENV = "AETHER_DATABASE_URL"


def database_url(given: str | None = None) -> str:
    return given or os.environ.get(URL_ENV) or DEFAULT_URL


def parse_url(text: str) -> URL:
    try:
        url = make_url(text)
    except ArgumentError:
        raise StorageError(
            f"'{text}' is not a database URL; use sqlite:///path/to/aether.db or postgresql://user@host/db"
        ) from None
    if url.get_backend_name() == "sqlite":
        return url
    if url.get_backend_name() == "postgresql":
        # psycopg 3 is the driver we test; 'postgresql://' alone would ask for psycopg2.
        return url.set(drivername="postgresql+psycopg")
    raise StorageError(f"unsupported database '{url.get_backend_name()}' in {text}; use sqlite or postgresql")


def key_file_for(url: URL) -> Path:
    """Where a generated encryption key lives: beside a SQLite file, else in ./.aether/."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / (Path(url.database).name + ".key")
    return Path(".aether") / "encryption.key"
