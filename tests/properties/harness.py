"""The real gateway, its middleware and a real database, with every sink watched.

`running_server` runs the gateway as a server process of its own, the way `aether-policy serve` runs it, so
its stdout and stderr are real sinks and uvicorn's loggers are configured as in production. One server serves a
whole test module (starting one per example would dominate the run): each example marks where every sink
stands before its request and scans only what was added after it (see `watch.py`).

`running_gateway` runs it in this process, for the state machine, which moves the gateway's clock.

Set AETHER_PROPERTY_LEAK=1 to wire in a store that leaks the prompt, and watch the properties fail.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from aether_policy import load_policy_text
from aether_policy.crypto import Cipher
from aether_policy.gateway import GatewayConfig, ProviderConfig, create_app
from aether_policy.plan import Plan, PromptGate, compile_policy
from aether_policy.store import Store
from tests.conftest import ROOT, isolated_postgres
from tests.gateway.conftest import PROVIDER_KEYS
from tests.helpers import TEST_KEY, free_port, loopback_policy_text, serve
from tests.properties.strategies import ROUTING_PATTERNS, SERVED_MODELS
from tests.properties.watch import FileWatch, MetricsWatch, Region, TableWatch, TextWatch
from tests.standins import StandIn

UPSTREAM_TIMEOUT = 0.5
LEAK = "store" if os.environ.get("AETHER_PROPERTY_LEAK") == "1" else None
METRICS_TOKEN = "property-metrics-token-0123456789"


def property_policy_text() -> str:
    """The shipped policy, on loopback hosts, minus IP addresses: so a stored IP would break property 4."""
    text = loopback_policy_text().replace("      ip_address: {title: IP address}\n", "")
    return text.replace(
        "receives: [account, payment, contact, api_usage, device, logs]",
        "receives: [account, payment, contact, api_usage, device.browser, logs]",
    )


@dataclass
class Mark:
    """Where the counters stood before one example's request (the sinks mark themselves)."""

    received: int
    quarantined: int
    usage: int


@dataclass
class Added:
    """What one example added to each sink."""

    logs: list[dict[str, Any]]  # the tap's records, whole
    stdout: str
    stderr: str
    files: list[Region]
    rows: dict[str, list[dict[str, Any]]]
    metrics: str  # the /metrics lines that are new or changed since the last scrape

    def texts(self) -> list[tuple[str, str, str, bool]]:
        """Each text sink: its name, what the request added, what it held before where that matters (a
        database page), and whether to decode escapes (not in a database's raw pages: its rows are decoded).
        A log stream spelled out one record at a time is also reassembled."""
        found = [
            ("logs", "\n".join(json.dumps(r, ensure_ascii=False) for r in self.logs), "", True),
            ("logs reassembled", "\n".join(_reassembled(self.logs)), "", True),
            ("stdout", self.stdout, "", True),
            ("stderr", self.stderr, "", True),
            ("metrics", self.metrics, "", True),
        ]
        for region in self.files:
            name = f"file {region.path.name} ({region.how})"
            found.append((name, "\n".join(region.texts()), "\n".join(region.texts_before()), not region.pages))
        return found


def _reassembled(records: list[dict[str, Any]]) -> list[str]:
    """The arguments of records that share one logger and message template, joined in order: a stream logged
    token by token holds no 16-character fragment in any one record, but spells the text out across them."""
    streams: dict[tuple[str, str], list[str]] = {}
    for record in records:
        streams.setdefault((record["logger"], record["msg"]), []).append("".join(record["args"]))
    return ["".join(parts) for parts in streams.values() if len(parts) > 1]


class Harness:
    """Not a dataclass on purpose: hypothesis prints dataclasses field by field in a failing example."""

    def __init__(
        self, base: str, store: Store, standin: StandIn, plan: Plan, keys: dict[str, str], io: Path, roots: list[Path]
    ) -> None:
        self.base, self.store, self.standin, self.plan, self.keys = base, store, standin, plan, keys
        self.stdout, self.stderr, self.tap = TextWatch(io / "stdout"), TextWatch(io / "stderr"), TextWatch(io / "tap")
        self.files = FileWatch(roots)
        self.tables = TableWatch(store.engine)
        self.ambient = ""
        self.vocabulary: set[str] = set()
        self.unmatched_endpoints: set[str] = set()  # every value an unmatched path was recorded as
        self.other_methods: set[str] = set()  # every value a method outside HTTP's own was recorded as
        # One client for the run (building one costs 50 ms of TLS set-up); a fresh connection per request, so
        # an odd request cannot leave a connection in a state the next one inherits.
        self.client = httpx.Client(base_url=base, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
        self.metrics = MetricsWatch(self.client, METRICS_TOKEN)

    def __repr__(self) -> str:
        return f"Harness({self.base})"

    def mark(self) -> Mark:
        # The scrape first, and last in `added`: its own access-log record then falls outside every example.
        for watch in (self.metrics, self.stdout, self.stderr, self.tap, self.files, self.tables):
            watch.mark()
        return Mark(len(self.standin.received), len(self.store.list_quarantine()), self.store.usage_count())

    def settle(self, usage: int, timeout: float = 10.0) -> bool:
        """Wait until `usage` usage events are stored: the usage event is the last thing a request records."""
        deadline = time.monotonic() + timeout
        while self.store.usage_count() < usage:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def added(self) -> Added:
        records = []
        for line in self.tap.added().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"logger": "?", "msg": line, "args": [], "message": line})
        stdout, stderr, files, rows = self.stdout.added(), self.stderr.added(), self.files.added(), self.tables.added()
        return Added(records, stdout, stderr, files, rows, self.metrics.added())


@contextmanager
def running_server(*, leak: str | None = LEAK, database_url: str | None = None) -> Iterator[Harness]:
    """The gateway as its own process on a fresh database: a SQLite file in its working directory by default,
    or a schema of its own on the PostgreSQL server at `database_url`."""
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="aether-props-"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        work, tmp, io = root / "work", root / "tmp", root / "io"
        for folder in (work, tmp, io):
            folder.mkdir()
        url = stack.enter_context(isolated_postgres(database_url)) if database_url else f"sqlite:///{work}/aether.db"
        standin = StandIn(slow_seconds=UPSTREAM_TIMEOUT * 2, models=SERVED_MODELS)
        os.environ.update(PROVIDER_KEYS)
        upstream = stack.enter_context(serve(standin.app()))
        policy = root / "policy.yaml"
        policy.write_text(property_policy_text(), encoding="utf-8")
        plan = compile_policy(load_policy_text(policy.read_text(encoding="utf-8")).policy)

        store = Store(url)
        store.migrate()
        stack.callback(store.close)
        keys = {name: store.create_key(name)[1] for name in ("clean", "marked", "other")}
        revoked_info, keys["revoked"] = store.create_key("clean")
        store.revoke_key(revoked_info.id)
        keys["unknown"] = "aether-sk-" + secrets.token_urlsafe(32)
        store.mark_account("marked", "property test")
        if database_url is None:
            # This process also reads the SQLite files raw. Closing any descriptor of a file drops every POSIX
            # lock this process holds on it, pooled connections' included; the server would then take itself
            # for the database's only user, reset the -shm this process has mapped, and a pooled connection
            # would die of SIGBUS. Without a pool no connection outlives its query.
            store.engine.dispose()
            store.engine = create_engine(url, poolclass=NullPool)

        port = free_port()
        spec = {
            "work": str(work),
            "tap": str(io / "tap"),
            "policy": str(policy),
            "db": url,
            "upstream": upstream,
            "upstream_timeout": UPSTREAM_TIMEOUT,
            "port": port,
            "leak": leak,
            "metrics_token": METRICS_TOKEN,
        }
        (io / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        env = {
            **os.environ,
            **PROVIDER_KEYS,
            "AETHER_ENCRYPTION_KEY": base64.urlsafe_b64encode(TEST_KEY).decode(),
            "TMPDIR": str(tmp),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        with (io / "stdout").open("wb") as out, (io / "stderr").open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.properties.server", str(io / "spec.json")],
                cwd=work,
                env=env,
                stdout=out,
                stderr=err,
            )
        stack.callback(_stop, process)
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, process, io / "stderr")
        harness = Harness(base, store, standin, plan, keys, io, [work, tmp])
        stack.callback(harness.client.close)
        yield harness


def _wait_until_up(base: str, process: subprocess.Popen[bytes], stderr: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway process exited: {stderr.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("the gateway process did not start in 30 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a supervisor stops it (uvicorn drains, the store flushes); SIGKILL if it hangs."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class InProcess:
    base: str
    store: Store
    plan: Plan
    keys: dict[str, str]


@contextmanager
def running_gateway(clock: Callable[[], datetime] | None = None) -> Iterator[InProcess]:
    """The gateway in this process on a fresh SQLite file, its clock under the test's control."""
    with ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="aether-props-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        os.environ.update(PROVIDER_KEYS)
        standin = StandIn(slow_seconds=UPSTREAM_TIMEOUT * 2)
        upstream = stack.enter_context(serve(standin.app()))
        plan = compile_policy(load_policy_text(property_policy_text()).policy)
        store = Store(f"sqlite:///{folder / 'aether.db'}", flush_interval=0.005)
        store.migrate()
        stack.callback(store.close)
        keys = {name: store.create_key(name)[1] for name in ("clean", "marked", "other")}
        store.mark_account("marked", "property test")
        providers = {
            name: ProviderConfig(
                api=name,
                base_url=f"{upstream}/v1" if name == "openai" else upstream,
                api_key_env=f"STANDIN_{name.upper()}_KEY",
                models=ROUTING_PATTERNS[name],
                timeout=UPSTREAM_TIMEOUT,
            )
            for name in ("openai", "anthropic")
        }
        gate = PromptGate(plan.storage_windows, Cipher(TEST_KEY))
        app = create_app(plan, store, GatewayConfig(providers=providers), gate, clock=clock)
        yield InProcess(stack.enter_context(serve(app)), store, plan, keys)
