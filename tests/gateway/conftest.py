from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aether_policy.gateway import GatewayConfig, ProviderConfig, create_app
from aether_policy.store import Store
from aether_policy.types import ASGIApp
from tests.helpers import gate_for, loopback_plan, serve
from tests.standins import StandIn

PROVIDER_KEYS = {"STANDIN_OPENAI_KEY": "sk-provider-openai-0001", "STANDIN_ANTHROPIC_KEY": "sk-provider-anthropic-0002"}


@dataclass
class Running:
    base: str
    store: Store
    standin: StandIn
    key: str
    db_file: Path
    app: ASGIApp

    def settle(self, requests: int = 1) -> None:
        """Wait until the middleware has recorded `requests` usage events: it records after the client has
        its response, and writes in batches off the request path."""
        deadline = time.monotonic() + 10
        while True:
            self.store.flush()
            if self.store.usage_count() >= requests or time.monotonic() > deadline:
                return
            time.sleep(0.02)


@pytest.fixture
def provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in providers' keys in the environment, where `config_for`'s `api_key_env` names them."""
    for name, value in PROVIDER_KEYS.items():
        monkeypatch.setenv(name, value)


def store_with_key(url: str, flush_interval: float = 0.05) -> tuple[Store, str]:
    """A migrated store holding one API key, for tenant 'acme', and that key; the caller closes the store.

    A short flush interval, so a test waits little for the usage it reads back.
    """
    store = Store(url, flush_interval=flush_interval)
    store.migrate()
    _, key = store.create_key("acme")
    return store, key


@pytest.fixture(scope="module")
def standin_server() -> Iterator[tuple[str, StandIn]]:
    standin = StandIn(slow_seconds=3.0)
    with serve(standin.app()) as base:
        yield base, standin


def config_for(upstream: str, timeout: float = 1.5) -> GatewayConfig:
    return GatewayConfig(
        providers={
            "openai": ProviderConfig(
                api="openai",
                base_url=f"{upstream}/v1",
                api_key_env="STANDIN_OPENAI_KEY",
                models=("gpt-*", "o3*", "text-embedding-*"),
                timeout=timeout,
            ),
            "anthropic": ProviderConfig(
                api="anthropic",
                base_url=upstream,
                api_key_env="STANDIN_ANTHROPIC_KEY",
                models=("claude-*", "claude-3-5-haiku-latest"),
                timeout=timeout,
            ),
        }
    )


@pytest.fixture
def gateway(tmp_path: Path, standin_server: tuple[str, StandIn], provider_keys: None) -> Iterator[Running]:
    upstream, standin = standin_server
    standin.received.clear()
    db_file = tmp_path / "aether.db"
    store, key = store_with_key(f"sqlite:///{db_file}")
    plan = loopback_plan()
    app = create_app(plan, store, config_for(upstream), gate_for(plan))
    with serve(app) as base:
        yield Running(base, store, standin, key, db_file, app)
    store.close()


@pytest.fixture
def server_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog
