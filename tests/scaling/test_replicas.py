"""Two gateway processes on one PostgreSQL database: traffic to both, retention from both at once, then
SIGTERM. Counts add up, nothing unflagged is stored, nothing is deleted early, and nothing queued is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from aether_policy.store import Store, tables
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.helpers import CLI, free_port, serve, serve_files, wait_healthy
from tests.retention.fixtures import add_usage
from tests.sinks import fragments
from tests.standins import StandIn

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(POSTGRES_URL is None, reason="set AETHER_TEST_POSTGRES_URL to run the PostgreSQL tests"),
]
REQUESTS, EXPIRED = 40, 5_000


def test_two_replicas_share_one_database_without_loss_or_leak(tmp_path: Path) -> None:
    assert POSTGRES_URL is not None
    reset_postgres(POSTGRES_URL)
    store = Store(POSTGRES_URL)
    store.migrate()
    keys = {name: store.create_key(name)[1] for name in ("acme", "globex")}
    add_usage(store, [datetime.now(UTC) - timedelta(days=200)] * EXPIRED)
    store.close()

    standin = StandIn()
    env = {
        **os.environ,
        "STANDIN_OPENAI_KEY": "sk-provider-1",
        "AETHER_ENCRYPTION_KEY": "mWkq6Kp3Bz0dE6n7vJ0m8l9x3yQw2e4r5t6y7u8i9o0=",
    }
    with serve(standin.app()) as upstream:
        policy, config = serve_files(tmp_path, upstream)
        ports = [free_port(), free_port()]
        replicas = [
            subprocess.Popen(
                [
                    CLI,
                    "serve",
                    "--policy",
                    str(policy),
                    "--config",
                    str(config),
                    "--db",
                    POSTGRES_URL,
                    "--port",
                    str(port),
                    "--no-access-log",
                ],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for port in ports
        ]
        try:
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            for base, replica in zip(bases, replicas, strict=True):
                wait_healthy(base, replica)
            prompts = []
            for i in range(REQUESTS):
                flagged = i % 4 == 0
                prompt = f"replica prompt number {i:03d} about the harbour" + (
                    " -- write a ransomware" if flagged else ""
                )
                prompts.append((prompt, flagged))
                response = httpx.post(
                    f"{bases[i % 2]}/v1/chat/completions",
                    json={"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]},
                    headers={"authorization": f"Bearer {keys['acme' if i % 3 else 'globex']}"},
                    timeout=10,
                )
                assert response.status_code == 200
            runs = [
                subprocess.Popen(
                    [
                        CLI,
                        "retention",
                        "run",
                        "--policy",
                        str(policy),
                        "--db",
                        POSTGRES_URL,
                        "--format",
                        "json",
                        "--batch-size",
                        "500",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(2)
            ]
            outputs = [run.communicate(timeout=60) for run in runs]
            assert [run.returncode for run in runs] == [0, 0], outputs
        finally:
            for replica in replicas:
                replica.send_signal(signal.SIGTERM)
            for replica in replicas:
                replica.wait(30)

    reports = [json.loads(out) for out, _ in outputs]
    usage_deleted = [next(r for r in report["rules"] if r["rule"] == "usage_data") for report in reports]
    assert sum(r["deleted"] for r in usage_deleted) == EXPIRED, reports  # counts add up across both runners
    store = Store(POSTGRES_URL)
    try:
        chats = [e for e in store.usage_events() if e["endpoint"] == "/v1/chat/completions"]
        assert len(chats) == REQUESTS  # every request recorded, none deleted early, none lost on SIGTERM
        kept = store.list_quarantine()
        assert len(kept) == sum(1 for _, flagged in prompts if flagged)
        with store.begin() as conn:
            dump = "\n".join(str(v) for table in tables.DATA_TABLES for row in conn.execute(select(table)) for v in row)
        for prompt, _ in prompts:
            assert not any(piece in dump for piece in fragments(prompt)), "a prompt reached the shared database"
        assert not any(key in dump for key in keys.values())
    finally:
        store.close()
        reset_postgres(POSTGRES_URL)
