"""What each example added to each sink, and only that: so a run scans kilobytes per example, not the database.

- Files under the watched trees: a new file is read whole; a file that grew is read from where it stood
  (appended to: a log file that existed before the request), its seam with what preceded it; a file rewritten
  in place, or written in pages (SQLite's database and WAL), is compared with its last contents in 4 KiB blocks
  and only the changed blocks are read, minus what the file already held (a new page copies older rows).
- Tables, every table the database has (not only ours): rows whose integer key is above the last one seen,
  and, for tables without one, rows not seen before (an UPDATE shows up as a new row).
- Lines appended to a text file (the log tap, stdout, stderr) since the mark.
- The lines of a `/metrics` scrape that are new or changed since the scrape at the mark (a new series, or a
  counter that moved): the whole exposition is a few kilobytes, so it is scraped whole both times.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, Integer, MetaData, Table, inspect, select

BLOCK = 4096
OVERLAP = 256  # bytes read before a changed region: more than a 16-character fragment in any encoding


@dataclass
class Region:
    path: Path
    how: str  # "created", "appended" or "rewritten"
    data: bytes
    before: bytes = b""  # what the file held before the request, where that matters
    pages: bool = False  # a database file, scanned raw: what it stores is scanned decoded as table rows

    def texts(self) -> list[str]:
        """The bytes as UTF-8, and as UTF-16 (SQLite may store text that way), both leniently."""
        return _texts(self.data)

    def texts_before(self) -> list[str]:
        return _texts(self.before)


def _texts(data: bytes) -> list[str]:
    return [data.decode("utf-8", "replace"), data.decode("utf-16-le", "replace")]


class FileWatch:
    def __init__(self, roots: list[Path], skip: set[Path] | None = None) -> None:
        self.roots, self.skip = roots, skip or set()
        self.seen: dict[Path, bytes] = {}

    def _files(self) -> list[Path]:
        return [p for root in self.roots for p in root.rglob("*") if p.is_file() and p not in self.skip]

    def mark(self) -> None:
        self.seen = {}
        for path in self._files():
            try:
                self.seen[path] = path.read_bytes()
            except OSError:  # gone between listing and reading
                pass

    def added(self) -> list[Region]:
        regions = []
        for path in self._files():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            old = self.seen.get(path)
            if old is None:
                regions.append(Region(path, "created", data, pages=_is_pages(path, data)))
            elif _is_pages(path, old):
                # A database file or its WAL is written in pages: a new page (or WAL frame) also copies rows
                # older than the request, so what it held before is subtracted.
                regions += [Region(path, "rewritten", chunk, old, pages=True) for chunk in _changed(old, data)]
            elif data[: len(old)] == old:
                if len(data) > len(old):
                    # Appended text is new whatever it repeats; the seam is read with what preceded it.
                    seam = data[max(0, len(old) - OVERLAP) : len(old) + OVERLAP]
                    regions.append(Region(path, "appended", data[len(old) :]))
                    regions.append(Region(path, "appended", seam, old[-OVERLAP:]))
            else:
                regions += [Region(path, "rewritten", chunk, old) for chunk in _changed(old, data)]
        return regions


SQLITE_MAGIC = (b"SQLite format 3\x00", b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def _is_pages(path: Path, old: bytes) -> bool:
    """SQLite's database, WAL and shared-memory index, by name or by their magic numbers."""
    return path.name.endswith(("-wal", "-shm", "-journal")) or old.startswith(SQLITE_MAGIC)


def _changed(old: bytes, new: bytes) -> list[bytes]:
    """The regions of `new` that differ from `old`, block by block, adjacent blocks merged."""
    spans: list[list[int]] = []
    for start in range(0, len(new), BLOCK):
        if new[start : start + BLOCK] != old[start : start + BLOCK]:
            if spans and spans[-1][1] == start:
                spans[-1][1] = start + BLOCK
            else:
                spans.append([start, start + BLOCK])
    return [new[max(0, a - OVERLAP) : b + OVERLAP] for a, b in spans]


class TableWatch:
    """New rows of every table in the database the engine points at."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.last_id: dict[str, int] = {}
        self.hashes: dict[str, set[bytes]] = {}
        self.metadata = MetaData()
        self.reflected: dict[str, Table] = {}

    def _tables(self) -> list[Table]:
        """Every table there is now; a table created since the last look is reflected too."""
        names = inspect(self.engine).get_table_names()
        for name in names:
            if name not in self.reflected:
                self.reflected[name] = Table(name, self.metadata, autoload_with=self.engine)
        return [self.reflected[name] for name in names]

    def _rows(self, table: Table) -> tuple[list[dict[str, Any]], int | None]:
        keys = list(table.primary_key.columns)
        integer_key = keys[0] if len(keys) == 1 and isinstance(keys[0].type, Integer) else None
        query = select(table)
        if integer_key is not None:
            query = query.where(integer_key > self.last_id.get(table.name, 0)).order_by(integer_key)
        with self.engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        top = max((row[integer_key.name] for row in rows), default=None) if integer_key is not None else None
        return rows, top

    def mark(self) -> None:
        for table in self._tables():
            rows, top = self._rows(table)
            if top is not None:
                self.last_id[table.name] = top
            elif not any(isinstance(c.type, Integer) and c.primary_key for c in table.columns):
                self.hashes[table.name] = {_digest(row) for row in rows}

    def added(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for table in self._tables():
            rows, _ = self._rows(table)
            if table.name not in self.last_id and table.name in self.hashes:
                rows = [row for row in rows if _digest(row) not in self.hashes[table.name]]
            if rows:
                found[table.name] = rows
        return found


def _digest(row: dict[str, Any]) -> bytes:
    return hashlib.sha256(repr(sorted(row.items(), key=lambda kv: kv[0])).encode()).digest()


class TextWatch:
    """Lines appended to one text file (stdout, stderr, the log tap) since the mark."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def added(self) -> str:
        if not self.path.exists():
            return ""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            return handle.read().decode("utf-8", "replace")


class MetricsWatch:
    """The lines of the gateway's Prometheus exposition that a request added or changed.

    A scrape that fails fails the example: a sink that cannot be read must not pass for an empty one."""

    def __init__(self, client: httpx.Client, token: str) -> None:
        # The harness's client: building one per scrape would cost more than the scrape (its TLS set-up).
        self.client, self.headers = client, {"authorization": f"Bearer {token}"}
        self.seen: set[str] = set()

    def scrape(self) -> str:
        try:
            response = self.client.get("/metrics", headers=self.headers)
        except httpx.HTTPError as error:
            raise AssertionError(f"GET /metrics failed: {type(error).__name__}: {error}") from error
        if response.status_code != 200:
            raise AssertionError(f"GET /metrics answered {response.status_code}: {response.text[:200]!r}")
        return response.text

    def mark(self) -> None:
        self.seen = set(self.scrape().splitlines())

    def added(self) -> str:
        return "\n".join(line for line in self.scrape().splitlines() if line not in self.seen)
