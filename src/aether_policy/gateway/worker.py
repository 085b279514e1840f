"""`serve --workers N`: each uvicorn worker process rebuilds the gateway from what `serve` already checked.

`serve` validates the policy and config, migrates the database, binds the encryption key, records its start
in the audit trail and runs the retention schedule, once, in the supervising process; it hands the workers
the paths and settings in `AETHER_SERVE_WORKER` (the metrics token travels as `AETHER_METRICS_TOKEN`, as an
operator would set it). Workers count their metrics in `PROMETHEUS_MULTIPROC_DIR`, which `serve` prepares
before any worker, or itself, imports prometheus-client; every scrape sums all workers.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aether_policy.types import ASGIApp

WORKER_ENV = "AETHER_SERVE_WORKER"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TOKEN_ENV = "AETHER_METRICS_TOKEN"


def worker_options(
    policy: str,
    config: Path | None,
    db_url: str,
    max_body_bytes: int,
    forwarded_allow_ips: str,
    body_timeout: float,
    access_log: bool,
    header_timeout: float,
) -> str:
    return json.dumps(
        {
            "policy": str(Path(policy).resolve()),
            "config": str(config.resolve()) if config is not None else None,
            "db": db_url,
            "max_body_bytes": max_body_bytes,
            "forwarded_allow_ips": forwarded_allow_ips,
            "body_timeout": body_timeout,
            "access_log": access_log,
            "header_timeout": header_timeout,
        }
    )


PROTOCOL = "aether_policy.gateway.worker:HeaderDeadlineProtocol"
"""uvicorn's `http` setting for workers: an import path, since a spawned worker cannot unpickle a class made
at run time; the worker builds it on import, from the header deadline `serve` handed over."""


def __getattr__(name: str) -> Any:
    if name == "HeaderDeadlineProtocol":
        from aether_policy.gateway.server import protocol_class

        options: dict[str, Any] = json.loads(os.environ.get(WORKER_ENV, "{}"))
        return protocol_class(float(options.get("header_timeout", 10.0)))
    raise AttributeError(name)


def prepare_multiprocess_metrics() -> Path:
    """The directory the workers' metrics live in, emptied of an earlier run's files (or a new private one).

    Only prometheus-client's own `*.db` files are removed from a directory the operator chose.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return folder
    folder = Path(tempfile.mkdtemp(prefix="aether-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def create_worker_app() -> ASGIApp:
    """The app of one worker (uvicorn's factory); never records a key or migrates: `serve` has done both."""
    from aether_policy.crypto import load_key
    from aether_policy.gateway.app import create_app
    from aether_policy.gateway.config import load_config
    from aether_policy.loader import load_policy
    from aether_policy.plan import PromptGate, compile_policy
    from aether_policy.store import Store, key_file_for, parse_url

    options: dict[str, Any] = json.loads(os.environ[WORKER_ENV])
    plan = compile_policy(load_policy(Path(options["policy"])).policy)
    config, _, _ = load_config(Path(options["config"]) if options["config"] else None)
    store = Store(options["db"])
    cipher = load_key(key_file_for(parse_url(options["db"])))
    store.bind_cipher(cipher, record=False)
    metrics = None
    token = os.environ.get(TOKEN_ENV)
    if token:
        from aether_policy.gateway.metrics import GatewayMetrics

        metrics = GatewayMetrics(token, digest=plan.digest, version=plan.version)
    return create_app(
        plan,
        store,
        config,
        PromptGate(plan.storage_windows, cipher),
        max_body_bytes=int(options["max_body_bytes"]),
        on_shutdown=store.close,  # drains this worker's queued usage events
        forwarded_allow_ips=str(options["forwarded_allow_ips"]),
        body_timeout=float(options["body_timeout"]),
        access_log=bool(options["access_log"]),
        metrics=metrics,
    )
