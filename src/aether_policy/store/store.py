"""The one storage module: every query the gateway, the CLI and retention make is here.

SQLAlchemy Core over one database URL: SQLite (WAL) by default, PostgreSQL for many replicas. Usage events
and quarantine records are written by a background writer in batches, off the request path.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import QueuePool, StaticPool

from aether_policy.crypto import KEY_ENV, Cipher
from aether_policy.exceptions import EncryptionKeyError, StorageError
from aether_policy.plan.gate import QuarantineInfo, QuarantineRecord
from aether_policy.plan.usage import ALL_COLUMNS
from aether_policy.store import tables
from aether_policy.store._bounds import OutOfBounds, fit_row
from aether_policy.store._bulk import insert_rows
from aether_policy.store._files import create_private, readable_by_others, sqlite_files
from aether_policy.store._migrations import add_missing_columns, add_missing_indexes
from aether_policy.store._urls import parse_url

log = logging.getLogger("aether_policy.store")
_FINGERPRINT = "encryption_key_fingerprint"
KEY_PREFIX = "aether-sk-"
# Keys are listed by a short prefix; it stays under 16 characters so no stored text is a usable part of a key.
DISPLAY_PREFIX = len(KEY_PREFIX) + 4
ACCOUNT_ID_PREFIX = "acct_"
"""What every account id starts with; the commands that take an account also take its id, so no name may."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def hash_key(plaintext: str) -> str:
    """API keys are 256-bit random tokens: a fast hash is enough; brute force is not a concern."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    created_at: datetime
    marked_at: datetime | None
    mark_reason: str | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class KeyInfo:
    id: str
    account_name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url_text: str) -> Engine:
    url = parse_url(url_text)
    if url.get_backend_name() == "sqlite":
        memory = url.database in (None, "", ":memory:")
        if not memory and url.database and not url.database.startswith("file:"):
            create_private(Path(url.database))
        # A pooled connection keeps SQLite's page cache warm between batches; each is used by one thread
        # at a time, so sharing across threads is safe.
        engine = create_engine(
            url,
            poolclass=StaticPool if memory else QueuePool,
            connect_args={"check_same_thread": False, "timeout": 10},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)
    except ModuleNotFoundError:
        raise StorageError("PostgreSQL needs psycopg 3: pip install 'aether-policy[postgres]'") from None


class Store:
    def __init__(self, url: str, *, batch_size: int = 500, flush_interval: float = 0.2, cache_ttl: float = 2.0) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.backend = self.engine.dialect.name
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.cache_ttl = cache_ttl
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        # Set when the writer should stop waiting for its batch to fill: a flush, a stop, or a full batch.
        self._hurry = threading.Event()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._keys: dict[str, tuple[str | None, float]] = {}
        self._marks: tuple[frozenset[str], float] = (frozenset(), 0.0)
        # Rows lost, per kind ("usage", "quarantine"): refused by the bounds or by the database, or written
        # while it stayed unreachable. `truncated` counts rows kept with a value cut or cleared to fit.
        self.dropped: dict[str, int] = {"usage": 0, "quarantine": 0}
        self.truncated: dict[str, int] = {"usage": 0, "quarantine": 0}
        self.written: dict[str, int] = {"usage": 0, "quarantine": 0}  # rows the database accepted
        # Called with ("dropped" | "truncated" | "written", kind, rows) as each count moves, e.g. by metrics.
        self.on_count: Callable[[str, str, int], None] | None = None
        self._counts_lock = threading.Lock()  # request threads and the writer both count

    # -- schema -----------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema if missing; safe when several replicas start at once."""
        attempts = 5
        for attempt in range(attempts):
            try:
                self._migrate()
                return
            except (IntegrityError, OperationalError) as error:
                # SQLite has no advisory lock: another process may create a table or record the version
                # between our check and our write (or commit first, making our read stale: "locked"). It
                # did the same work; another pass finds it done.
                message = str(error.orig)
                raced = isinstance(error, IntegrityError) or "already exists" in message or "locked" in message
                if self.backend == "sqlite" and raced and attempt < attempts - 1:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                if isinstance(error, OperationalError):
                    raise StorageError(f"cannot open the database {self._safe_url()}: {error.orig}") from None
                raise

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7357001)"))
            tables.metadata.create_all(conn, checkfirst=True)
            version = conn.execute(select(func.max(tables.schema_version.c.version))).scalar()
            if version is None or version < tables.SCHEMA_VERSION:
                # New tables create_all has just made; columns and indexes added to older tables need DDL.
                if version is not None:
                    add_missing_columns(conn, version)
                    add_missing_indexes(conn)
                conn.execute(insert(tables.schema_version).values(version=tables.SCHEMA_VERSION))
            elif version > tables.SCHEMA_VERSION:
                raise StorageError(
                    f"the database schema is version {version}, newer than this aether-policy "
                    f"({tables.SCHEMA_VERSION}); upgrade aether-policy"
                )

    def schema_version(self) -> int | None:
        """The recorded schema version, or None for a database without our tables; reads only."""
        try:
            with self.begin() as conn:
                return conn.execute(select(func.max(tables.schema_version.c.version))).scalar()
        except OperationalError as error:
            if "no such table" in str(error.orig) or "does not exist" in str(error.orig):
                return None
            raise StorageError(f"cannot open the database {self._safe_url()}: {error.orig}") from None
        except Exception as error:  # PostgreSQL: UndefinedTable is a ProgrammingError
            if "does not exist" in str(getattr(error, "orig", error)):
                return None
            raise

    def loose_files(self) -> list[str]:
        """Warnings for this database's files that other users can open (a SQLite file from before 0600)."""
        url = parse_url(self.url)
        if self.backend != "sqlite" or url.database in (None, "", ":memory:") or url.database.startswith("file:"):
            return []
        return readable_by_others(sqlite_files(Path(url.database)))

    def safe_url(self) -> str:
        """The URL as it may be printed: any password hidden."""
        return self._safe_url()

    def _safe_url(self) -> str:
        return parse_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- the encryption key ------------------------------------------------------------------------------------

    def bind_cipher(self, cipher: Cipher, *, record: bool) -> None:
        """Refuse a key other than the one this database's flagged content is sealed with.

        The database keeps the key's fingerprint (an HMAC under the key, never the key). With `record`
        (the gateway starting) a database without one adopts this key's; replicas racing to record
        different keys end with one recorded and the others refused.
        """
        stored = self.key_fingerprint()
        if stored is None and record:
            self._check_opens_existing(cipher)
            try:
                with self.begin() as conn:
                    conn.execute(insert(tables.store_metadata).values(name=_FINGERPRINT, value=cipher.fingerprint))
                return
            except IntegrityError:  # another process recorded its key first: compare with that one
                stored = self.key_fingerprint()
        if stored is not None and not hmac.compare_digest(stored, cipher.fingerprint):
            raise EncryptionKeyError(
                f"{cipher.source} is not the encryption key of {self._safe_url()}: its flagged content is sealed "
                f"with the key whose fingerprint starts {stored[:12]}, this key's starts {cipher.fingerprint[:12]}. "
                f"Use the original key (set {KEY_ENV} to it, or restore its key file); every process on one "
                "database needs the same key. If it is lost: aether-policy encryption-key replace --discard-sealed"
            )

    def replace_cipher(self, cipher: Cipher, *, discard_sealed: bool) -> int:
        """Make `cipher` this database's key; returns how many sealed items were discarded with the old one.

        Sealed content cannot be re-encrypted without the old key, so replacing a key that still seals
        content needs `discard_sealed`, which deletes it (as `review dismiss` would) in the same transaction.
        """
        with self.begin() as conn:
            if self.backend == "postgresql":  # two replacements at once would each count, then both delete
                conn.execute(text("SELECT pg_advisory_xact_lock(7357002)"))
            sealed = self._sealed(conn)
            if sealed and not discard_sealed:
                raise self._still_sealed(sealed)
            conn.execute(delete(tables.quarantine))
            conn.execute(delete(tables.store_metadata).where(tables.store_metadata.c.name == _FINGERPRINT))
            conn.execute(insert(tables.store_metadata).values(name=_FINGERPRINT, value=cipher.fingerprint))
        return sealed

    def refuse_if_sealed(self) -> None:
        """Raise while flagged content is sealed: replacing the key now would leave it unreadable."""
        with self.begin() as conn:
            sealed = self._sealed(conn)
        if sealed:
            raise self._still_sealed(sealed)

    @staticmethod
    def _sealed(conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(tables.quarantine)).scalar() or 0)

    def _still_sealed(self, count: int) -> StorageError:
        return StorageError(
            f"{count} flagged item(s) in {self._safe_url()} are sealed with the current key and cannot be opened "
            "with another; review them first (aether-policy review list), then add --discard-sealed to delete "
            "them and replace the key"
        )

    def _check_opens_existing(self, cipher: Cipher) -> None:
        """Before a database adopts a key, the content it already holds (sealed before it recorded
        fingerprints) must open with that key; otherwise the key would be recorded as the wrong one."""
        q = tables.quarantine.c
        with self.begin() as conn:
            row = conn.execute(select(q.id, q.sealed).order_by(q.created_at.desc()).limit(1)).first()
        if row is None:
            return
        try:
            cipher.decrypt(bytes(row.sealed), row.id.encode())
        except EncryptionKeyError:
            raise EncryptionKeyError(
                f"{cipher.source} does not open the flagged content already in {self._safe_url()}: use the key "
                f"that sealed it (set {KEY_ENV} to it, or restore its key file). If it is lost: "
                "aether-policy encryption-key replace --discard-sealed"
            ) from None

    def key_fingerprint(self) -> str | None:
        """The fingerprint of the key this database's content is sealed with, if one was recorded."""
        with self.begin() as conn:
            value = conn.execute(
                select(tables.store_metadata.c.value).where(tables.store_metadata.c.name == _FINGERPRINT)
            ).scalar()
        return None if value is None else str(value)

    # -- accounts ---------------------------------------------------------------------------------------------

    def create_account(self, name: str, now: datetime | None = None) -> Account:
        if name.lower().startswith(ACCOUNT_ID_PREFIX):
            # `accounts export/erase acct_…` would otherwise reach whichever of the two the lookup tries first.
            raise StorageError(
                f"an account name may not start with '{ACCOUNT_ID_PREFIX}': account ids do, and the accounts "
                "commands take either; choose another name"
            )
        existing = self.get_account(name)
        if existing is not None:
            return existing
        values = _checked(
            tables.accounts,
            {"id": ACCOUNT_ID_PREFIX + uuid.uuid4().hex[:16], "name": name, "created_at": now or utcnow()},
        )
        try:
            with self.begin() as conn:
                conn.execute(insert(tables.accounts).values(**values))
        except IntegrityError:  # created by another process in between
            pass
        account = self.get_account(name)
        assert account is not None
        return account

    def get_account(self, name: str) -> Account | None:
        with self.begin() as conn:
            row = conn.execute(select(tables.accounts).where(tables.accounts.c.name == name)).first()
        return Account(**row._mapping) if row else None

    def list_accounts(self) -> list[Account]:
        with self.begin() as conn:
            rows = conn.execute(select(tables.accounts).order_by(tables.accounts.c.name)).all()
        return [Account(**row._mapping) for row in rows]

    def _require_account(self, name: str) -> Account:
        account = self.get_account(name)
        if account is None:
            raise StorageError(f"no account named '{name}'; see: aether-policy accounts list")
        return account

    def mark_account(self, name: str, reason: str, now: datetime | None = None) -> Account:
        account = self._require_account(name)
        with self.begin() as conn:
            conn.execute(
                update(tables.accounts)
                .where(tables.accounts.c.id == account.id)
                .values(**_checked(tables.accounts, {"marked_at": now or utcnow(), "mark_reason": reason}))
            )
        self._marks = (frozenset(), 0.0)
        return self._require_account(name)

    def unmark_account(self, name: str) -> Account:
        account = self._require_account(name)
        with self.begin() as conn:
            conn.execute(
                update(tables.accounts)
                .where(tables.accounts.c.id == account.id)
                .values(marked_at=None, mark_reason=None)
            )
        self._marks = (frozenset(), 0.0)
        return self._require_account(name)

    def delete_account(self, name: str, now: datetime | None = None) -> Account:
        """Mark deleted now: keys stop working at once; the retention rule erases the rest later."""
        account = self._require_account(name)
        when = now or utcnow()
        with self.begin() as conn:
            conn.execute(
                update(tables.accounts)
                .where(tables.accounts.c.id == account.id, tables.accounts.c.deleted_at.is_(None))
                .values(deleted_at=when)
            )
            conn.execute(
                update(tables.api_keys)
                .where(tables.api_keys.c.account_id == account.id, tables.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=when)
            )
        self._keys.clear()
        return self._require_account(name)

    def is_marked(self, account_id: str) -> bool:
        marked, fetched = self._marks
        if time.monotonic() - fetched > self.cache_ttl:
            with self.begin() as conn:
                rows = conn.execute(select(tables.accounts.c.id).where(tables.accounts.c.marked_at.is_not(None)))
                marked = frozenset(row[0] for row in rows)
            self._marks = (marked, time.monotonic())
        return account_id in marked

    # -- API keys ---------------------------------------------------------------------------------------------

    def create_key(self, account_name: str, now: datetime | None = None) -> tuple[KeyInfo, str]:
        """A new key for the account (created if needed); the plaintext is returned once and never stored."""
        account = self.create_account(account_name, now)
        if account.deleted_at is not None:
            raise StorageError(f"account '{account_name}' is deleted; it cannot get new keys")
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        info = KeyInfo("key_" + uuid.uuid4().hex[:16], account.name, plaintext[:DISPLAY_PREFIX], now or utcnow(), None)
        with self.begin() as conn:
            conn.execute(
                insert(tables.api_keys).values(
                    id=info.id,
                    account_id=account.id,
                    key_hash=hash_key(plaintext),
                    prefix=info.prefix,
                    created_at=info.created_at,
                )
            )
        return info, plaintext

    def authenticate(self, plaintext: str) -> str | None:
        """The account id a live key belongs to, or None. Cached briefly: this is on every request's path."""
        return self.account_of_key_hash(hash_key(plaintext))

    def account_of_key_hash(self, digest: str) -> str | None:
        """`authenticate` for a caller that has already hashed the key (`hash_key`), for its own use too."""
        cached = self._keys.get(digest)
        if cached is not None and time.monotonic() - cached[1] < self.cache_ttl:
            return cached[0]
        with self.begin() as conn:
            row = conn.execute(
                select(tables.api_keys.c.key_hash, tables.api_keys.c.account_id)
                .join(tables.accounts, tables.accounts.c.id == tables.api_keys.c.account_id)
                .where(
                    tables.api_keys.c.key_hash == digest,
                    tables.api_keys.c.revoked_at.is_(None),
                    tables.accounts.c.deleted_at.is_(None),
                    # An expired key opens no route (within the cache's seconds; the limiter checks exactly).
                    or_(tables.api_keys.c.expires_at.is_(None), tables.api_keys.c.expires_at > utcnow()),
                )
            ).first()
        account_id = row.account_id if row is not None and hmac.compare_digest(row.key_hash, digest) else None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = (account_id, time.monotonic())
        return account_id

    def list_keys(self, account_name: str | None = None) -> list[KeyInfo]:
        query = (
            select(tables.api_keys, tables.accounts.c.name)
            .join(tables.accounts, tables.accounts.c.id == tables.api_keys.c.account_id)
            .order_by(tables.api_keys.c.created_at)
        )
        if account_name is not None:
            query = query.where(tables.accounts.c.name == account_name)
        with self.begin() as conn:
            rows = conn.execute(query).all()
        return [KeyInfo(r.id, r.name, r.prefix, r.created_at, r.revoked_at) for r in rows]

    def revoke_key(self, key_id: str, now: datetime | None = None) -> KeyInfo:
        """Revoke a key now; revoking a revoked key keeps its first revocation time."""
        with self.begin() as conn:
            conn.execute(
                update(tables.api_keys)
                .where(tables.api_keys.c.id == key_id, tables.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now or utcnow())
            )
        self._keys.clear()
        for key in self.list_keys():
            if key.id == key_id:
                return key
        raise StorageError(f"no key with id '{key_id}'; see: aether-policy keys list")

    # -- usage and quarantine (batched, off the request path) -------------------------------------------------

    def record_usage(self, event: Mapping[str, Any]) -> None:
        row = self._fit("usage", tables.usage_events, {c: event.get(c) for c in ALL_COLUMNS})
        if row is not None:
            self._ensure_writer()
            self._queue.put(("usage", row))
            if self._queue.qsize() >= self.batch_size:
                self._hurry.set()

    def quarantine(self, record: QuarantineRecord) -> None:
        if not isinstance(record, QuarantineRecord):
            raise TypeError("only the prompt gate's records can be quarantined")
        row = self._fit("quarantine", tables.quarantine, _record_values(record))
        if row is not None:
            self._ensure_writer()
            self._queue.put(("quarantine", row))
            self._hurry.set()  # flagged content is written at once, not at the end of the interval

    def _fit(self, kind: str, table: Table, values: dict[str, Any]) -> dict[str, Any] | None:
        """Bound the row now, on the caller's thread: the queue never holds an oversized value, and a row
        that cannot be fitted is dropped alone instead of failing the batch it would have joined."""
        try:
            fitted = fit_row(table, values)
        except OutOfBounds as error:
            self._count(self.dropped, kind, 1)
            log.error("dropped one %s row: %s", kind, error)
            return None
        if fitted.altered:
            self._count(self.truncated, kind, 1)
        return fitted.values

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written."""
        if self._writer is None:
            return
        done = threading.Event()
        self._queue.put(("flush", done))
        self._hurry.set()
        if not done.wait(timeout):
            raise StorageError("the usage writer did not flush in time")

    def close(self) -> None:
        """Drain the queue (a clean shutdown loses nothing), stop the writer, release connections."""
        if self._writer is not None:
            self._queue.put(("stop", None))
            self._hurry.set()
            self._writer.join(30)
            self._writer = None
        self.engine.dispose()

    def _ensure_writer(self) -> None:
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write_loop, name="aether-writer", daemon=True)
                    self._writer.start()

    def _write_loop(self) -> None:
        """Write what is queued in batches: after the first row of a batch, sleep out the flush interval
        (unless a flush, a stop, a full batch or flagged content cuts it short), then take everything queued.

        Waiting on the queue item by item would wake this thread, and make it take the GIL from the event
        loop, once per request; this way it wakes once per batch.
        """
        while True:
            kind, item = self._queue.get()
            batch: list[tuple[str, Any]] = [(kind, item)]
            if kind not in ("flush", "stop"):
                self._hurry.wait(self.flush_interval)
            # Cleared before the queue is drained: a flush queued after the drain sets it again, and the next
            # batch then does not wait.
            self._hurry.clear()
            while kind not in ("flush", "stop") and len(batch) < self.batch_size:
                try:
                    kind, item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append((kind, item))
            if len(batch) >= self.batch_size:
                self._hurry.set()  # a full batch: more may be queued (a backlog, a flush or stop behind it)
            # Flagged content first and on its own: no usage event, good or bad, shares its transaction.
            for wanted, table in (("quarantine", tables.quarantine), ("usage", tables.usage_events)):
                rows = [i for k, i in batch if k == wanted]
                try:
                    self._write_rows(wanted, table, rows)
                except Exception as error:  # never let the writer die: flush() would wait for it forever
                    self._count(self.dropped, wanted, len(rows))
                    log.error("write of %d %s rows failed: %s", len(rows), wanted, type(error).__name__)
            for k, i in batch:
                if k == "flush":
                    i.set()
            if any(k == "stop" for k, _ in batch):
                return

    def _count(self, counter: dict[str, int], kind: str, n: int) -> None:
        with self._counts_lock:
            counter[kind] += n
        if self.on_count is not None and n:
            name = "dropped" if counter is self.dropped else "truncated" if counter is self.truncated else "written"
            try:
                self.on_count(name, kind, n)
            except Exception as error:  # an observer must never cost a row
                log.error("store count observer failed: %s", type(error).__name__)

    def _write_rows(self, kind: str, table: Table, rows: list[dict[str, Any]]) -> None:
        """One transaction for the batch; if the database refuses a row in it, each row in its own.

        An unreachable or busy database (OperationalError) is retried as a whole; anything else is about a
        row, so the batch is replayed row by row and only the rows refused are dropped and counted. Logs say
        what failed, never what was in it.
        """
        if not rows:
            return
        for attempt in range(3):
            try:
                with self.begin() as conn:
                    insert_rows(conn, table, rows)
                self._count(self.written, kind, len(rows))
                return
            except OperationalError as error:
                log.error("write of %d %s rows failed (attempt %d): %s", len(rows), kind, attempt + 1, _name(error))
                time.sleep(0.1 * (attempt + 1))
            except Exception as error:
                log.warning("write of %d %s rows refused (%s); writing them one by one", len(rows), kind, _name(error))
                break
        else:
            self._count(self.dropped, kind, len(rows))
            return
        refused: dict[str, int] = {}
        for row in rows:
            try:
                with self.begin() as conn:
                    conn.execute(insert(table), [row])
            except Exception as error:
                refused[_name(error)] = refused.get(_name(error), 0) + 1
        self._count(self.written, kind, len(rows) - sum(refused.values()))
        if refused:  # one line per batch, however many rows: a broken table must not flood the log
            self._count(self.dropped, kind, sum(refused.values()))
            reasons = ", ".join(f"{n} {name}" for name, n in refused.items())
            log.error(
                "dropped %d of %d %s rows the database refused: %s", sum(refused.values()), len(rows), kind, reasons
            )

    def usage_count(self) -> int:
        with self.begin() as conn:
            return int(conn.execute(select(func.count()).select_from(tables.usage_events)).scalar() or 0)

    def usage_events(self) -> list[dict[str, Any]]:
        with self.begin() as conn:
            return [
                dict(r._mapping) for r in conn.execute(select(tables.usage_events).order_by(tables.usage_events.c.id))
            ]

    # -- review -----------------------------------------------------------------------------------------------

    def list_quarantine(self) -> list[QuarantineInfo]:
        q = tables.quarantine.c
        with self.begin() as conn:
            rows = conn.execute(
                select(q.id, q.account_id, q.trigger, q.reasons, q.created_at, q.expires_at).order_by(q.created_at)
            ).all()
        return [QuarantineInfo(**r._mapping) for r in rows]

    def get_quarantine(self, record_id: str) -> tuple[QuarantineInfo, bytes]:
        q = tables.quarantine.c
        with self.begin() as conn:
            row = conn.execute(select(tables.quarantine).where(q.id == record_id)).first()
        if row is None:
            raise StorageError(f"no review item '{record_id}'; see: aether-policy review list")
        values = dict(row._mapping)
        sealed = values.pop("sealed")
        return QuarantineInfo(**values), bytes(sealed)

    def dismiss(self, record_id: str) -> None:
        with self.begin() as conn:
            deleted = conn.execute(delete(tables.quarantine).where(tables.quarantine.c.id == record_id)).rowcount
        if not deleted:
            raise StorageError(f"no review item '{record_id}'; see: aether-policy review list")


def _checked(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Operator input is refused, not cut, when it does not fit: they can correct it."""
    try:
        return fit_row(table, values, alter=False).values
    except OutOfBounds as error:
        raise StorageError(str(error)) from None


def _name(error: BaseException) -> str:
    """The error's class and the driver's, never its message: messages can quote the refused value."""
    orig = getattr(error, "orig", None)
    return f"{type(error).__name__} ({type(orig).__name__})" if orig is not None else type(error).__name__


def _record_values(record: QuarantineRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "account_id": record.account_id,
        "trigger": record.trigger,
        "reasons": record.reasons,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "sealed": record.sealed,
    }
