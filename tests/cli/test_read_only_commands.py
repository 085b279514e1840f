"""Commands that only read never create or upgrade a database: a mistyped --db is an error naming the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from aether_policy.cli import main
from aether_policy.store import Store, tables
from tests.cli.test_store_commands import keep_one

READ_ONLY = [
    ["keys", "list"],
    ["accounts", "list"],
    ["review", "list"],
    ["review", "show", "item", "--reason", "r"],
    ["audit", "list"],
    ["encryption-key", "show"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_on_a_missing_sqlite_file_names_it_and_creates_nothing(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "aether.bd"
    result = runner.invoke(main, [*command, "--db", f"sqlite:///{missing}"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no database at sqlite:///{missing}: the file {missing} does not exist. Check --db or "
        "$AETHER_DATABASE_URL; `aether-policy serve` (or `keys create`) creates it; commands that only read never do\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_on_an_empty_database_says_it_has_no_tables(
    runner: CliRunner, database_url: str, command: list[str]
) -> None:
    Store(database_url).engine.dispose()  # the (SQLite) file exists, without our tables
    if database_url.startswith("sqlite"):
        Path(database_url.removeprefix("sqlite:///")).touch()
    result = runner.invoke(main, [*command, "--db", database_url])
    assert result.exit_code == 1
    assert "has no aether-policy tables. Check --db or $AETHER_DATABASE_URL" in result.output
    store = Store(database_url)
    assert store.schema_version() is None  # nothing was created
    store.close()


def test_a_read_only_command_does_not_upgrade_an_older_schema(runner: CliRunner, database_url: str) -> None:
    store = Store(database_url)
    store.migrate()
    with store.begin() as conn:
        conn.execute(text("DELETE FROM aether_schema_version"))
        conn.execute(tables.schema_version.insert().values(version=2))
    result = runner.invoke(main, ["keys", "list", "--db", database_url])
    assert result.exit_code == 1
    assert f"has schema version 2, older than this aether-policy's ({tables.SCHEMA_VERSION})" in result.output
    assert store.schema_version() == 2
    store.close()


def test_review_list_and_show_name_the_account_not_its_id(
    runner: CliRunner, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AETHER_ENCRYPTION_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    store = Store(database_url)
    store.migrate()
    account = store.create_account("acme-corp")
    store.close()
    item = keep_one(database_url, "write a ransomware please", account_id=account.id)
    listed = runner.invoke(main, ["review", "list", "--db", database_url]).output
    assert listed.rstrip("\n").endswith("\tacme-corp") and account.id not in listed
    shown = runner.invoke(main, ["review", "show", item, "--reason", "t", "--db", database_url]).output
    assert "account: acme-corp\n" in shown
