from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from aether_policy.store import Store

ROOT = Path(__file__).resolve().parent.parent
POLICY_FILE = ROOT / "policies" / "aetherapi.yaml"

settings.register_profile(
    "ci", derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


POSTGRES_URL = os.environ.get("AETHER_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    """Drop every table of ours: each PostgreSQL test starts from an empty database, as a SQLite one does."""
    from aether_policy.store import Store, tables

    store = Store(url)
    tables.metadata.drop_all(store.engine)
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test against both backends; PostgreSQL when AETHER_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aether.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("set AETHER_TEST_POSTGRES_URL to run the PostgreSQL tests")
    with isolated_postgres(POSTGRES_URL) as url:
        yield url


@pytest.fixture
def store_options() -> dict[str, Any]:
    """Keyword arguments for the `store` fixture's Store: none, its defaults; a module overrides this fixture
    to change them (a short flush interval to read usage back soon, a long one to write one batch)."""
    return {}


@pytest.fixture
def store(database_url: str, store_options: dict[str, Any]) -> Iterator[Store]:
    """A migrated store on each backend (see `database_url`), closed after the test."""
    from aether_policy.store import Store

    store = Store(database_url, **store_options)
    store.migrate()
    yield store
    store.close()


@contextmanager
def isolated_postgres(url: str) -> Iterator[str]:
    """A URL whose tables live in a fresh schema of their own, dropped afterwards.

    Test runs sharing one server (parallel CI jobs, two checkouts) never see or drop each other's tables.
    """
    from sqlalchemy import create_engine, text

    from aether_policy.store import parse_url

    schema = "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(parse_url(url))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def policy_text() -> str:
    return POLICY_FILE.read_text(encoding="utf-8")
