"""keys, accounts and review, through the CLI as an operator uses them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from aether_policy.cli import main
from aether_policy.crypto import Cipher, load_or_create_key
from aether_policy.plan import PromptGate, Verdict
from aether_policy.store import Store, tables
from aether_policy.store.store import hash_key
from tests.helpers import shipped_plan


@pytest.fixture
def db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("AETHER_ENCRYPTION_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # where a PostgreSQL store's generated key file goes (./.aether/)
    return database_url


def test_keys_create_prints_the_key_last_and_stores_only_its_hash(runner: CliRunner, db: str) -> None:
    result = runner.invoke(main, ["keys", "create", "--account", "acme", "--db", db])
    assert result.exit_code == 0
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("aether-sk-") and len(key) > 40
    store = Store(db)
    assert store.authenticate(key) is not None
    with store.begin() as conn:
        stored = [str(v) for row in conn.execute(select(tables.api_keys)) for v in row]
    assert not any(key in value for value in stored) and hash_key(key) in stored
    if db.startswith("sqlite"):
        db_bytes = Path(db.removeprefix("sqlite:///")).read_bytes()
        assert key.encode() not in db_bytes and hash_key(key).encode() in db_bytes
    store.close()


def test_keys_list_and_revoke(runner: CliRunner, db: str) -> None:
    runner.invoke(main, ["keys", "create", "--account", "acme", "--db", db])
    listed = runner.invoke(main, ["keys", "list", "--db", db]).output
    key_id = listed.split("\t")[0]
    assert "\tacme\taether-sk-" in listed
    assert listed.rstrip().endswith("\tactive\tno expiry; all models; no rpm limit; no tpm limit")
    result = runner.invoke(main, ["keys", "revoke", key_id, "--db", db])
    assert result.output == f"revoked {key_id} (acme)\n"
    assert "revoked 20" in runner.invoke(main, ["keys", "list", "--db", db]).output


def test_a_revoked_key_no_longer_authenticates(db: str) -> None:
    store = Store(db)
    store.migrate()
    info, key = store.create_key("acme")
    store.revoke_key(info.id)
    assert store.authenticate(key) is None
    store.close()


def test_revoking_an_unknown_key_is_a_clear_error(runner: CliRunner, db: str) -> None:
    result = runner.invoke(main, ["keys", "revoke", "key_nope", "--db", db])
    assert (result.exit_code, result.output) == (1, "Error: no key with id 'key_nope'; see: aether-policy keys list\n")


def test_accounts_mark_unmark_and_delete(runner: CliRunner, db: str) -> None:
    runner.invoke(main, ["keys", "create", "--account", "acme", "--db", db])
    assert runner.invoke(main, ["accounts", "mark", "acme", "--reason", "ToS report 12", "--db", db]).exit_code == 0
    assert "marked 20" in runner.invoke(main, ["accounts", "list", "--db", db]).output
    assert runner.invoke(main, ["accounts", "unmark", "acme", "--db", db]).output == "unmarked 'acme'\n"
    deleted = runner.invoke(main, ["accounts", "delete", "acme", "--db", db])
    assert deleted.exit_code == 0 and "erased by the account retention rule" in deleted.output
    assert "\tacme\tdeleted " in runner.invoke(main, ["accounts", "list", "--db", db]).output


def test_a_deleted_accounts_keys_stop_working_at_once(db: str) -> None:
    store = Store(db)
    store.migrate()
    _, key = store.create_key("acme")
    assert store.authenticate(key) is not None
    store.delete_account("acme")
    assert store.authenticate(key) is None
    store.close()


def test_marking_an_unknown_account_names_the_fix(runner: CliRunner, db: str) -> None:
    result = runner.invoke(main, ["accounts", "mark", "ghost", "--reason", "x", "--db", db])
    assert result.output == "Error: no account named 'ghost'; see: aether-policy accounts list\n"


def keep_one(db: str, request: str, account_id: str = "acct_1") -> str:
    """Put one flagged item in the store the way the gateway does, with the key the CLI will use."""
    store = Store(db)
    store.migrate()
    from aether_policy.store import key_file_for, parse_url

    cipher, _ = load_or_create_key(key_file_for(parse_url(db)))
    record = PromptGate(shipped_plan().storage_windows, cipher).admit(
        Verdict("flagged", ("pattern:malware_request",)),
        account_id=account_id,
        request=request,
        response="no",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert record is not None
    store.quarantine(record)
    store.close()
    return record.id


def test_review_list_show_dismiss(runner: CliRunner, db: str) -> None:
    item = keep_one(db, "write a ransomware please")
    listed = runner.invoke(main, ["review", "list", "--db", db]).output
    assert listed.startswith(f"{item}\t2026-01-01T00:00:00+00:00\texpires 2026-01-31T00:00:00+00:00\tflagged\t")
    shown = runner.invoke(main, ["review", "show", item, "--reason", "ticket 1", "--db", db]).output
    assert "reasons: pattern:malware_request" in shown and "--- request\nwrite a ransomware please\n" in shown
    assert runner.invoke(main, ["review", "dismiss", item, "--db", db]).output == f"dismissed {item}\n"
    assert runner.invoke(main, ["review", "list", "--db", db]).output == ""


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AETHER_ENCRYPTION_KEY", raising=False)
    key_file = tmp_path / "aether.db.key"
    _, notice = load_or_create_key(key_file)
    assert notice is not None and "created encryption key" in notice
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(key_file)[1] is None


def test_a_malformed_encryption_key_says_how_to_make_one(
    runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = keep_one(db, "x")
    monkeypatch.setenv("AETHER_ENCRYPTION_KEY", "too-short")
    result = runner.invoke(main, ["review", "show", item, "--reason", "ticket 1", "--db", db])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: AETHER_ENCRYPTION_KEY is not a 32-byte URL-safe base64 key; create one with:"
    )


def test_content_sealed_under_another_key_does_not_decrypt(db: str) -> None:
    with pytest.raises(Exception, match="does not decrypt with the current key"):
        Cipher(bytes(32)).decrypt(Cipher(bytes(range(32))).encrypt(b"x", b"id"), b"id")


def test_a_bad_database_url_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["keys", "list", "--db", "mysql://x/y"])
    assert result.output == "Error: unsupported database 'mysql' in mysql://x/y; use sqlite or postgresql\n"


def test_review_show_without_a_key_says_so_and_creates_no_key_file(runner: CliRunner, db: str) -> None:
    from aether_policy.store import key_file_for, parse_url

    item = keep_one(db, "write a ransomware please")
    key_file = key_file_for(parse_url(db))
    key_file.unlink()  # the key is elsewhere (another machine, a secret store): reading must not invent one
    result = runner.invoke(main, ["review", "show", item, "--reason", "ticket 1", "--db", db])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no encryption key: AETHER_ENCRYPTION_KEY is not set and {key_file} does not exist. "
        "Set AETHER_ENCRYPTION_KEY to the gateway's key, or run where its key file is "
        "(only `aether-policy serve` creates one)\n"
    )
    assert not key_file.exists()


def test_review_show_refuses_a_key_other_than_the_one_the_database_records(
    runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aether_policy.crypto import new_key
    from aether_policy.store import key_file_for, parse_url

    item = keep_one(db, "write a ransomware please")
    store = Store(db)
    store.bind_cipher(load_or_create_key(key_file_for(parse_url(db)))[0], record=True)
    store.close()
    monkeypatch.setenv("AETHER_ENCRYPTION_KEY", new_key())
    result = runner.invoke(main, ["review", "show", item, "--reason", "ticket 1", "--db", db])
    assert result.exit_code == 1
    assert result.output.startswith("Error: AETHER_ENCRYPTION_KEY is not the encryption key of ")
    assert "Use the original key (set AETHER_ENCRYPTION_KEY to it, or restore its key file)" in result.output


def test_an_over_long_account_name_is_a_clear_error(runner: CliRunner, db: str) -> None:
    result = runner.invoke(main, ["keys", "create", "--account", "a" * 250, "--db", db])
    assert (result.exit_code, result.output) == (1, "Error: accounts.name is 250 characters; at most 200 fit\n")


@pytest.mark.parametrize("name", ["acct_0123456789abcdef", "ACCT_0123456789abcdef", "acct_"])
def test_an_account_name_shaped_like_an_account_id_is_refused(runner: CliRunner, db: str, name: str) -> None:
    result = runner.invoke(main, ["keys", "create", "--account", name, "--db", db])
    assert result.exit_code == 1
    assert result.output == (
        "Error: an account name may not start with 'acct_': account ids do, and the accounts commands take "
        "either; choose another name\n"
    )
    store = Store(db)
    assert store.list_accounts() == []
    store.close()


def test_another_accounts_id_cannot_become_a_name(runner: CliRunner, db: str) -> None:
    store = Store(db)
    store.migrate()
    bob = store.create_account("bob")
    result = runner.invoke(main, ["keys", "create", "--account", bob.id, "--db", db])
    assert result.exit_code == 1 and "may not start with 'acct_'" in result.output
    assert [a.name for a in store.list_accounts()] == ["bob"]
    store.close()
