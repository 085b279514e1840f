"""`serve --workers 2`: a real multi-process gateway whose /metrics sums what every worker counted."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.conftest import PROVIDER_KEYS, store_with_key
from tests.helpers import CLI, free_port, serve, serve_files, wait_healthy
from tests.standins import StandIn

TOKEN = "workers-metrics-token-0123456789"


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    with serve(StandIn().app()) as upstream:
        policy, config = serve_files(tmp_path, upstream)
        db = f"sqlite:///{tmp_path / 'aether.db'}"
        store, key = store_with_key(db)
        store.close()
        metrics_dir = tmp_path / "metrics"
        env = {
            **os.environ,
            **PROVIDER_KEYS,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "AETHER_ACTOR": "test",
        }
        env.pop("AETHER_ENCRYPTION_KEY", None)
        port = free_port()
        command = [CLI, "serve", "--policy", str(policy), "--config", str(config), "--db", db, "--port", str(port)]
        command += ["--workers", "2", "--metrics-token", TOKEN, "--no-access-log"]
        log = tmp_path / "serve.log"
        with log.open("w") as sink:  # a file, not a pipe: nobody reads it while the server logs
            process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=sink, stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, process)
            yield base, key, metrics_dir
        finally:
            process.terminate()
            process.wait(30)
        assert "workers: 2; metrics summed across them" in log.read_text()


def requests_total(base: str) -> float:
    text = httpx.get(f"{base}/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "aether_requests_total" and sample.labels.get("route") == "/v1/chat/completions"
    )


def test_every_scrape_sums_the_requests_of_all_workers(two_workers: tuple[str, str, Path]) -> None:
    base, key, metrics_dir = two_workers
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    for _ in range(30):  # a new connection each time: the kernel spreads them over the workers
        response = httpx.post(f"{base}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
        assert response.status_code == 200
    counting = {path.name for path in metrics_dir.glob("counter_*.db")}
    assert len(counting) >= 2, counting  # two processes counted
    assert [requests_total(base) for _ in range(6)] == [30.0] * 6  # whichever worker answers, it sums all
