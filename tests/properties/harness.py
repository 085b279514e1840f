"""The real gateway, its middleware and a real SQLite file, with every sink watched.

One harness serves a whole test module (starting servers per example would dominate the run): each
example notes where every sink stands before its request and scans only what was added after it.
Set AETHER_PROPERTY_LEAK=1 to wire in a store that leaks the prompt, and watch the properties fail.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from aether_policy import load_policy_text
from aether_policy._context import inflight_content
from aether_policy.crypto import Cipher
from aether_policy.gateway import GatewayConfig, ProviderConfig, create_app
from aether_policy.gateway.metrics import GatewayMetrics
from aether_policy.plan import Plan, PromptGate, compile_policy
from aether_policy.store import Store, tables
from tests.conftest import reset_postgres
from tests.helpers import TEST_KEY, loopback_policy_text, serve
from tests.sinks import database_dump, fragments, raw_files
from tests.standins import StandIn

UPSTREAM_TIMEOUT = 0.5
LEAK = os.environ.get("AETHER_PROPERTY_LEAK") == "1"
METRICS_TOKEN = "property-metrics-token-0123456789"


def property_policy_text() -> str:
    """The shipped policy, on loopback hosts, minus IP addresses: so a stored IP would break property 4."""
    text = loopback_policy_text().replace("      ip_address: {title: IP address}\n", "")
    return text.replace(
        "receives: [account, payment, contact, api_usage, device, logs]",
        "receives: [account, payment, contact, api_usage, device.browser, logs]",
    )


class LeakyStore(Store):
    """A deliberately broken store: it writes the request body into the usage table, past the plan."""

    def record_usage(self, event: Any) -> None:
        inflight = inflight_content.get()
        leaked = inflight.body.decode("utf-8", "replace")[:500] if inflight is not None else None
        super().record_usage({**event, "endpoint": leaked})


class Recorder(logging.Handler):
    """Keeps every formatted record from every logger, DEBUG and up."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.lines.append(f"unformattable record from {record.name}")


@dataclass
class Mark:
    """Where each sink stood before one example's request."""

    received: int
    quarantined: int
    usage: int
    logs: int
    files: set[Path]


class Harness:
    """Not a dataclass on purpose: hypothesis prints dataclasses field by field in a failing example."""

    def __init__(
        self,
        base: str,
        store: Store,
        standin: StandIn,
        plan: Plan,
        db_file: Path,
        folder: Path,
        recorder: Recorder,
        keys: dict[str, str],
    ) -> None:
        self.base, self.store, self.standin, self.plan = base, store, standin, plan
        self.db_file, self.folder, self.recorder, self.keys = db_file, folder, recorder, keys
        self.ambient = ""

    def __repr__(self) -> str:
        return f"Harness({self.base})"

    def files(self) -> set[Path]:
        roots = [self.folder, Path(tempfile.gettempdir())]
        found: set[Path] = set()
        for root in roots:
            for path in root.glob("*") if root != self.folder else root.rglob("*"):
                if path.is_file() and not path.name.startswith("aether.db"):
                    found.add(path)
        return found

    def mark(self) -> Mark:
        return Mark(
            len(self.standin.received),
            len(self.store.list_quarantine()),
            self.store.usage_count(),
            len(self.recorder.lines),
            self.files(),
        )

    def settle(self, mark: Mark) -> None:
        """Wait for this example's usage event: it is the last thing the middleware records."""
        deadline = time.monotonic() + 10
        while self.store.usage_count() <= mark.usage and time.monotonic() < deadline:
            self.store.flush()
            time.sleep(0.005)
        self.store.flush()

    def metrics_text(self) -> str:
        """What a Prometheus scrape of the gateway shows now."""
        return httpx.get(f"{self.base}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}).text

    def tables_text(self) -> str:
        if self.store.backend == "sqlite":
            return database_dump(self.db_file)
        with self.store.begin() as conn:
            return "\n".join(
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for table in tables.metadata.sorted_tables
                for row in conn.execute(select(table))
                for v in row
            )

    def leaks(self, secret: str, mark: Mark, other_responses: list[str]) -> list[str]:
        """Sinks holding any 16-character fragment of `secret` that is not ambient text of every run."""
        pieces = {p for p in fragments(secret) if p not in self.ambient}
        if not pieces:
            return []
        sinks = {
            "database tables": self.tables_text(),
            "database file bytes": raw_files([self.db_file, self.db_file.with_name("aether.db-wal")]),
            "logs": "\n".join(self.recorder.lines[mark.logs :]),
            "files": raw_files(self.files() - mark.files),
            "other clients' responses": "\n".join(other_responses),
            "metrics": self.metrics_text(),
        }
        return [name for name, text in sinks.items() if any(piece in text for piece in pieces)]


@contextmanager
def running_gateway(
    clock: Callable[[], datetime] | None = None, *, leaky: bool = LEAK, database_url: str | None = None
) -> Iterator[Harness]:
    """The gateway on a fresh database: a SQLite file by default, or the PostgreSQL `database_url` (emptied)."""
    with ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="aether-props-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        previous_cwd = os.getcwd()
        os.chdir(folder)
        stack.callback(os.chdir, previous_cwd)
        os.environ.update(
            STANDIN_OPENAI_KEY="sk-provider-openai-0001", STANDIN_ANTHROPIC_KEY="sk-provider-anthropic-0002"
        )
        recorder = Recorder()
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(recorder)
        root.setLevel(logging.DEBUG)
        stack.callback(root.setLevel, old_level)
        stack.callback(root.removeHandler, recorder)

        standin = StandIn(slow_seconds=UPSTREAM_TIMEOUT * 2)
        upstream = stack.enter_context(serve(standin.app()))
        plan = compile_policy(load_policy_text(property_policy_text()).policy)
        db_file = folder / "aether.db"
        if database_url is not None:
            reset_postgres(database_url)
            stack.callback(reset_postgres, database_url)
        url = database_url or f"sqlite:///{db_file}"
        store = (LeakyStore if leaky else Store)(url, flush_interval=0.005)
        store.migrate()
        stack.callback(store.close)
        keys = {name: store.create_key(name)[1] for name in ("clean", "marked", "other")}
        store.mark_account("marked", "property test")
        config = GatewayConfig(
            providers={
                "openai": ProviderConfig(
                    api="openai",
                    base_url=f"{upstream}/v1",
                    api_key_env="STANDIN_OPENAI_KEY",
                    models=("gpt-*",),
                    timeout=UPSTREAM_TIMEOUT,
                ),
                "anthropic": ProviderConfig(
                    api="anthropic",
                    base_url=upstream,
                    api_key_env="STANDIN_ANTHROPIC_KEY",
                    models=("claude-*",),
                    timeout=UPSTREAM_TIMEOUT,
                ),
            }
        )
        metrics = GatewayMetrics(METRICS_TOKEN, digest=plan.digest, version=plan.version)
        gate = PromptGate(plan.storage_windows, Cipher(TEST_KEY))
        app = create_app(plan, store, config, gate, clock=clock, metrics=metrics)
        base = stack.enter_context(serve(app))
        harness = Harness(base, store, standin, plan, db_file, folder, recorder, keys)
        yield harness
