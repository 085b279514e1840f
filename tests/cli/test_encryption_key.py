"""`encryption-key show` and `replace`: which key a database expects, and the way out when it is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aether_policy.cli import main
from aether_policy.crypto import KEY_ENV, decode_key, load_key, new_key
from aether_policy.store import Store, key_file_for, parse_url
from tests.cli.test_store_commands import keep_one


@pytest.fixture
def db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return database_url


def key_file(db: str) -> Path:
    return key_file_for(parse_url(db))


def recorded(db: str) -> str | None:
    store = Store(db)
    try:
        return store.key_fingerprint()
    finally:
        store.close()


def test_show_on_a_fresh_database_creates_nothing(runner: CliRunner, db: str) -> None:
    result = runner.invoke(main, ["encryption-key", "show", "--db", db])
    assert result.exit_code == 0
    assert result.output.startswith("database: no key recorded yet (the gateway records its key on start)\n")
    assert "this key: none (no encryption key: " in result.output
    assert not key_file(db).exists()


def test_show_says_whether_the_key_here_is_the_databases(
    runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    monkeypatch.setenv(KEY_ENV, key)
    assert runner.invoke(main, ["encryption-key", "replace", "--db", db]).exit_code == 0
    fingerprint = load_key(key_file(db)).fingerprint
    shown = runner.invoke(main, ["encryption-key", "show", "--db", db]).output
    assert shown == f"database: {fingerprint}\nthis key: {fingerprint} from {KEY_ENV} (matches)\n"
    assert key not in shown
    monkeypatch.setenv(KEY_ENV, new_key())
    assert "(DIFFERS)" in runner.invoke(main, ["encryption-key", "show", "--db", db]).output


def test_replace_refuses_while_content_is_sealed_and_makes_no_key(runner: CliRunner, db: str) -> None:
    item = keep_one(db, "write a ransomware please")
    key_file(db).unlink()  # the key is lost
    result = runner.invoke(main, ["encryption-key", "replace", "--db", db])
    assert result.exit_code == 1
    assert "Error: 1 flagged item(s) in " in result.output and "add --discard-sealed" in result.output
    assert not key_file(db).exists()
    assert runner.invoke(main, ["review", "list", "--db", db]).output.startswith(item)


def test_replace_with_discard_sealed_adopts_the_new_key_and_deletes_what_the_old_one_sealed(
    runner: CliRunner, db: str
) -> None:
    keep_one(db, "write a ransomware please")
    key_file(db).unlink()
    result = runner.invoke(main, ["encryption-key", "replace", "--discard-sealed", "--db", db])
    assert result.exit_code == 0, result.output
    assert f"{key_file(db)} is now this database's key (1 sealed item(s) discarded)" in result.output
    assert recorded(db) == load_key(key_file(db)).fingerprint
    assert runner.invoke(main, ["review", "list", "--db", db]).output == ""


def test_replacing_a_key_with_itself_changes_nothing(
    runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, new_key())
    runner.invoke(main, ["encryption-key", "replace", "--db", db])
    result = runner.invoke(main, ["encryption-key", "replace", "--db", db])
    assert result.output == f"{KEY_ENV} is already this database's key; nothing changed\n"


def test_after_a_replacement_the_old_key_is_refused(
    runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aether_policy.crypto import Cipher

    old = new_key()
    store = Store(db)
    store.migrate()
    store.bind_cipher(Cipher(decode_key(old, KEY_ENV), KEY_ENV), record=True)
    store.close()
    monkeypatch.setenv(KEY_ENV, new_key())
    assert runner.invoke(main, ["encryption-key", "replace", "--db", db]).exit_code == 0
    store = Store(db)
    with pytest.raises(Exception, match="is not the encryption key of"):
        store.bind_cipher(Cipher(decode_key(old, KEY_ENV), KEY_ENV), record=True)
    store.close()
