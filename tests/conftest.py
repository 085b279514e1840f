from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

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
    reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL
    reset_postgres(POSTGRES_URL)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def policy_text() -> str:
    return POLICY_FILE.read_text(encoding="utf-8")
