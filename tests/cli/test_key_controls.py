"""keys create/update with expiry, models and limits, as an operator types them; and the schema upgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, insert, inspect, select

from aether_policy.cli import main
from aether_policy.store import Store, tables
from aether_policy.store import audit as trail
from aether_policy.store.key_controls import controls_by_id


@pytest.fixture
def db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHER_ACTOR", "ops")
    return database_url


def created(runner: CliRunner, db: str, *options: str) -> str:
    result = runner.invoke(main, ["keys", "create", "--account", "acme", *options, "--db", db])
    assert result.exit_code == 0, result.output
    return runner.invoke(main, ["keys", "list", "--db", db]).output.split("\t")[0]


def controls(db: str, key_id: str) -> object:
    store = Store(db)
    try:
        return controls_by_id(store, key_id)
    finally:
        store.close()


def test_keys_create_sets_expiry_models_and_limits(runner: CliRunner, db: str) -> None:
    key_id = created(
        runner,
        db,
        "--expires",
        "30 days",
        "--model",
        "gpt-4o*",
        "--model",
        "claude-*",
        "--rpm",
        "60",
        "--tpm",
        "100000",
    )
    found = controls(db, key_id)
    assert found.models == ("gpt-4o*", "claude-*") and (found.rpm, found.tpm) == (60, 100000)  # type: ignore[attr-defined]
    assert abs(found.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)  # type: ignore[attr-defined]
    listed = runner.invoke(main, ["keys", "list", "--db", db]).output
    assert "; models gpt-4o*, claude-*; 60 rpm; 100000 tpm" in listed


def test_keys_update_changes_only_what_is_given_and_is_audited(runner: CliRunner, db: str) -> None:
    key_id = created(runner, db, "--rpm", "60", "--model", "gpt-*")
    result = runner.invoke(main, ["keys", "update", key_id, "--tpm", "5000", "--reason", "abuse", "--db", db])
    assert result.exit_code == 0, result.output
    assert result.output == f"updated {key_id}: no expiry; models gpt-*; 60 rpm; 5000 tpm\n"
    cleared = runner.invoke(main, ["keys", "update", key_id, "--rpm", "none", "--all-models", "--db", db])
    assert cleared.output == f"updated {key_id}: no expiry; all models; no rpm limit; 5000 tpm\n"
    store = Store(db)
    updates = [(e.action, e.target, e.reason) for e in trail.events(store) if e.action == "key.update"]
    store.close()
    assert updates == [("key.update", key_id, "abuse"), ("key.update", key_id, None)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rpm", "0"], "'0' is not a whole number from 1 to 2147483647, or 'none'"),
        (["--rpm", "ten"], "'ten' is not a whole number"),
        (["--tpm", "99999999999"], "is not a whole number from 1 to 2147483647"),
        (["--expires", "next week"], "is neither a duration (30 days, 12h) nor an ISO-8601 date or time"),
    ],
)
def test_bad_control_values_are_refused_before_a_key_is_made(
    runner: CliRunner, db: str, options: list[str], message: str
) -> None:
    result = runner.invoke(main, ["keys", "create", "--account", "acme", *options, "--db", db])
    assert result.exit_code == 2 and message in result.output
    assert not Path(db.removeprefix("sqlite:///")).exists() or "aether-sk-" not in result.output


def test_a_model_pattern_with_a_separator_is_refused_and_leaves_no_key(runner: CliRunner, db: str) -> None:
    result = runner.invoke(main, ["keys", "create", "--account", "acme", "--model", "gpt-*,o3*", "--db", db])
    assert result.exit_code == 1 and "contains a comma, tab or line break" in result.output
    store = Store(db)
    assert store.list_keys() == []
    store.close()


def test_keys_update_with_nothing_to_change_says_what_it_takes(runner: CliRunner, db: str) -> None:
    key_id = created(runner, db)
    result = runner.invoke(main, ["keys", "update", key_id, "--db", db])
    assert result.exit_code == 2 and "nothing to change" in result.output


def test_keys_update_of_a_revoked_key_is_refused(runner: CliRunner, db: str) -> None:
    key_id = created(runner, db)
    runner.invoke(main, ["keys", "revoke", key_id, "--db", db])
    result = runner.invoke(main, ["keys", "update", key_id, "--rpm", "5", "--db", db])
    assert result.exit_code == 1 and f"no live key with id '{key_id}'" in result.output


def test_a_version_3_database_gains_the_key_and_token_columns_and_keeps_its_rows(database_url: str) -> None:
    old = MetaData()
    added = {(table.name, name) for columns in tables.ADDED_COLUMNS.values() for table, name in columns}
    for table in tables.metadata.sorted_tables:
        if table.name == "rate_windows":
            continue
        copy = table.to_metadata(old)
        for column in list(copy.columns):
            if (table.name, column.name) in added:
                copy._columns.remove(column)
    store = Store(database_url)
    old.create_all(store.engine)
    now = datetime.now(UTC)
    with store.begin() as conn:
        conn.execute(insert(old.tables["aether_schema_version"]).values(version=3))
        conn.execute(insert(old.tables["accounts"]).values(id="a1", name="acme", created_at=now))
        conn.execute(
            insert(old.tables["api_keys"]).values(
                id="k1", account_id="a1", key_hash="h" * 64, prefix="aether-sk-abcd", created_at=now
            )
        )
    with store.begin() as conn:
        assert "rpm" not in {c["name"] for c in inspect(conn).get_columns("api_keys")}
    store.migrate()
    with store.begin() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("api_keys")}
        version = conn.execute(
            select(tables.schema_version.c.version).order_by(tables.schema_version.c.version.desc())
        ).scalar()
    assert {"expires_at", "models", "rpm", "tpm"} <= columns and version == tables.SCHEMA_VERSION
    assert controls_by_id(store, "k1").rpm is None
    store.migrate()  # a second start finds nothing to add
    store.close()
