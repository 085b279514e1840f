"""Database files are private, the key file is created once however many processes start, and a database
refuses a key other than the one its flagged content is sealed with."""

from __future__ import annotations

import errno
import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from aether_policy.crypto import KEY_ENV, Cipher, load_key, load_or_create_key, new_key
from aether_policy.exceptions import EncryptionKeyError
from aether_policy.store import Store, tables
from tests.retention.fixtures import T0, usage_row


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which SQLite and open() alone would create files 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_database_and_its_wal_and_shm_files_are_created_0600(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "aether.db"
    store = Store(f"sqlite:///{db}")
    store.migrate()
    store.record_usage(usage_row(T0))
    store.flush()
    files = {p.name: mode(p) for p in tmp_path.iterdir()}
    store.close()
    assert files == {"aether.db": 0o600, "aether.db-wal": 0o600, "aether.db-shm": 0o600}


def test_an_existing_database_file_keeps_the_mode_its_operator_chose(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "aether.db"
    db.touch(mode=0o640)
    db.chmod(0o640)
    store = Store(f"sqlite:///{db}")
    store.migrate()
    store.close()
    assert mode(db) == 0o640


def test_a_database_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"^cannot create the database file .*/nope/aether.db: the folder .*/nope "):
        Store(f"sqlite:///{tmp_path / 'nope' / 'aether.db'}")


def _create_at_once(key_file: str, barrier: Any) -> tuple[str, bool] | str:
    barrier.wait()
    try:
        cipher, notice = load_or_create_key(Path(key_file))
    except Exception as error:  # reported to the parent: a crash here is the defect under test
        return f"{type(error).__name__}: {error}"
    return cipher.fingerprint, notice is not None


def test_processes_creating_the_key_file_at_once_all_use_the_one_key_created(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    processes = 6
    with context.Pool(processes) as pool, context.Manager() as manager:
        for round_ in range(10):  # the old check-then-create lost this race in about half the rounds
            key_file = tmp_path / f"round{round_}" / "aether.db.key"
            barrier = manager.Barrier(processes)
            results = pool.starmap(_create_at_once, [(str(key_file), barrier)] * processes)
            assert all(isinstance(r, tuple) for r in results), results
            assert {r[0] for r in results if isinstance(r, tuple)} == {load_key(key_file).fingerprint}
            assert sum(1 for r in results if isinstance(r, tuple) and r[1]) == 1  # one says it created the key
            assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
            assert [p.name for p in key_file.parent.iterdir()] == ["aether.db.key"]  # no temporary files left


def _start_at_once(url: str, barrier: Any) -> str:
    """What `serve` does before it listens: migrate, load or create the key, bind it."""
    from aether_policy.store import key_file_for, parse_url

    barrier.wait()
    try:
        store = Store(url)
        store.migrate()
        cipher, _ = load_or_create_key(key_file_for(parse_url(url)))
        store.bind_cipher(cipher, record=True)
        store.close()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return cipher.fingerprint


def test_gateways_starting_at_once_on_a_new_sqlite_database_agree_on_schema_and_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    processes = 4
    with context.Pool(processes) as pool, context.Manager() as manager:
        for round_ in range(3):
            url = f"sqlite:///{tmp_path / f'round{round_}.db'}"
            results = pool.starmap(_start_at_once, [(url, manager.Barrier(processes))] * processes)
            assert len(set(results)) == 1 and len(results[0]) == 64, results
            store = Store(url)
            assert store.key_fingerprint() == results[0]
            store.close()


def test_on_a_file_system_without_hard_links_the_key_file_is_created_exclusively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    key_file = tmp_path / "aether.db.key"
    cipher, notice = load_or_create_key(key_file)
    assert notice is not None and mode(key_file) == 0o600
    assert load_or_create_key(key_file)[0].fingerprint == cipher.fingerprint
    assert [p.name for p in tmp_path.iterdir()] == ["aether.db.key"]


def test_a_key_file_still_being_written_is_waited_for(tmp_path: Path) -> None:
    key_file = tmp_path / "aether.db.key"
    key = new_key()
    key_file.write_text(key[:10])  # another process is midway through writing it
    finisher = threading.Timer(0.3, lambda: key_file.write_text(key + "\n"))
    finisher.start()
    try:
        assert load_key(key_file).fingerprint == cipher(key).fingerprint
    finally:
        finisher.join()


def test_loading_a_key_never_creates_one(tmp_path: Path) -> None:
    key_file = tmp_path / "aether.db.key"
    with pytest.raises(EncryptionKeyError, match=rf"^no encryption key: {KEY_ENV} is not set and .* does not exist"):
        load_key(key_file)
    assert not key_file.exists()


def test_the_fingerprint_identifies_a_key_without_containing_it() -> None:
    key = bytes(range(32))
    fingerprint = Cipher(key).fingerprint
    assert fingerprint == Cipher(bytes(range(32))).fingerprint != Cipher(bytes(32)).fingerprint
    assert key.hex() not in fingerprint and len(fingerprint) == 64


def cipher(text: str | None = None) -> Cipher:
    from aether_policy.crypto import decode_key

    return Cipher(decode_key(text or new_key(), KEY_ENV), KEY_ENV)


def test_the_first_key_bound_with_record_is_recorded_and_accepted_again(store: Store) -> None:
    first = cipher()
    store.bind_cipher(first, record=True)
    store.bind_cipher(first, record=False)
    store.bind_cipher(first, record=True)
    assert store.key_fingerprint() == first.fingerprint


def test_a_different_key_is_refused_saying_what_to_do(store: Store) -> None:
    store.bind_cipher(cipher(), record=True)
    other = cipher()
    for record in (True, False):
        with pytest.raises(EncryptionKeyError) as refused:
            store.bind_cipher(other, record=record)
        message = str(refused.value)
        assert message.startswith(f"{KEY_ENV} is not the encryption key of ")
        assert f"this key's starts {other.fingerprint[:12]}" in message
        assert "Use the original key" in message


def test_binding_without_record_leaves_a_fresh_database_unbound(store: Store) -> None:
    store.bind_cipher(cipher(), record=False)
    assert store.key_fingerprint() is None


def test_a_database_from_before_fingerprints_is_upgraded_and_then_records_one(store: Store) -> None:
    tables.store_metadata.drop(store.engine)
    with store.begin() as conn:
        conn.execute(delete(tables.schema_version))
        conn.execute(insert(tables.schema_version).values(version=1))
    store.migrate()
    key = cipher()
    store.bind_cipher(key, record=True)
    assert store.key_fingerprint() == key.fingerprint


def test_a_database_newer_than_this_version_is_refused(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(update(tables.schema_version).values(version=tables.SCHEMA_VERSION + 1))
    with pytest.raises(Exception, match="newer than this aether-policy"):
        store.migrate()


def test_a_database_with_content_but_no_fingerprint_adopts_only_the_key_that_opens_it(store: Store) -> None:
    from aether_policy.plan import PromptGate, Verdict
    from tests.helpers import shipped_plan

    sealer = cipher()
    gate = PromptGate(shipped_plan().storage_windows, sealer)
    record = gate.admit(Verdict("flagged", ("pattern:x",)), account_id=None, request="q", response="r", now=T0)
    assert record is not None
    store.quarantine(record)
    store.flush()
    with pytest.raises(EncryptionKeyError, match=r"does not open the flagged content already in .*: use the key"):
        store.bind_cipher(cipher(), record=True)
    assert store.key_fingerprint() is None
    store.bind_cipher(sealer, record=True)
    assert store.key_fingerprint() == sealer.fingerprint
