"""`aether-policy serve` as operators run it: a real process on loopback, its stdout and its database.

uvicorn's defaults are what this guards against: it trusts X-Forwarded-For from 127.0.0.1, logs the raw
path and query string, and has no deadline for a request's headers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from aether_policy.cli import main
from aether_policy.store import Store
from tests.conftest import POLICY_FILE
from tests.gateway.conftest import store_with_key
from tests.helpers import CLI, free_port, serve, serve_files, wait_healthy
from tests.standins import StandIn

KEY = "mWkq6Kp3Bz0dE6n7vJ0m8l9x3yQw2e4r5t6y7u8i9o0="


@dataclass
class Served:
    base: str
    port: int
    key: str
    db_url: str
    process: subprocess.Popen[str]

    def stop(self) -> str:
        """SIGTERM (a clean shutdown drains the usage queue); the process's stdout and stderr."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=20)
        return out

    def events(self) -> list[dict[str, object]]:
        store = Store(self.db_url)
        try:
            return store.usage_events()
        finally:
            store.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(StandIn().app()) as base:
        yield base


def start(tmp_path: Path, upstream: str, *options: str) -> Served:
    policy, config = serve_files(tmp_path, upstream)
    db_url = f"sqlite:///{tmp_path / 'aether.db'}"
    store, key = store_with_key(db_url)
    store.close()
    port = free_port()
    env = {**os.environ, "STANDIN_OPENAI_KEY": "sk-provider-1", "AETHER_ENCRYPTION_KEY": KEY}
    env.pop("FORWARDED_ALLOW_IPS", None)
    args = ["serve", "--policy", str(policy), "--config", str(config), "--db", db_url, "--port", str(port)]
    process = subprocess.Popen(
        [CLI, *args, *options],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
    except RuntimeError:
        process.kill()
        raise
    return Served(base, port, key, db_url, process)


def test_the_access_log_shows_route_and_status_never_the_path_or_query(tmp_path: Path, upstream: str) -> None:
    served = start(tmp_path, upstream)
    try:
        secret = "sk-live-0123456789abcdef"
        httpx.get(f"{served.base}/v1/models?api_key={secret}")
        httpx.get(f"{served.base}/v1/alice-private-notes?api_key={secret}")
        httpx.post(
            f"{served.base}/v1/chat/completions?api_key={secret}",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {served.key}"},
        )
        upgrade = {"connection": "upgrade", "upgrade": "websocket", "sec-websocket-version": "13"}
        upgrade["sec-websocket-key"] = "dGhlIHNhbXBsZSBub25jZQ=="
        httpx.get(f"{served.base}/v1/alice-private-notes?api_key={secret}", headers=upgrade)
    finally:
        out = served.stop()
    assert secret not in out and "alice-private-notes" not in out and "?" not in out
    lines = [line.split(" - ", 1)[1] for line in out.splitlines() if " - " in line]
    assert lines[-4:] == [
        '"GET /v1/models HTTP/1.1" 401 Unauthorized',
        '"GET (unmatched) HTTP/1.1" 404 Not Found',
        '"POST /v1/chat/completions HTTP/1.1" 200 OK',
        '"GET (unmatched) HTTP/1.1" 404 Not Found',
    ]


def test_x_forwarded_for_from_loopback_is_not_stored_unless_the_proxy_is_named(tmp_path: Path, upstream: str) -> None:
    recorded = []
    for name, options in (("default", ()), ("named", ("--forwarded-allow-ips", "127.0.0.1"))):
        (tmp_path / name).mkdir()
        served = start(tmp_path / name, upstream, *options)
        try:
            httpx.get(f"{served.base}/healthz", headers={"x-forwarded-for": "203.0.113.9"})
            httpx.get(f"{served.base}/healthz", headers={"x-forwarded-for": "not-an-ip-<script>"})
        finally:
            served.stop()
        recorded.append([e["ip_address"] for e in served.events() if e["endpoint"] == "/healthz"][-2:])
    assert recorded == [["127.0.0.1", "127.0.0.1"], ["203.0.113.9", None]]


def test_a_client_that_trickles_its_headers_gets_408_and_is_disconnected(tmp_path: Path, upstream: str) -> None:
    served = start(tmp_path, upstream, "--header-timeout", "0.5")
    try:
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            for _ in range(3):  # one header every 0.3 s: each byte used to cancel uvicorn's only timer
                time.sleep(0.3)
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    break
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
            elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert elapsed < 3
        assert httpx.get(f"{served.base}/healthz").status_code == 200  # others are still served
    finally:
        served.stop()


def test_a_client_that_trickles_its_body_gets_408(tmp_path: Path, upstream: str) -> None:
    served = start(tmp_path, upstream, "--body-timeout", "0.5")
    try:
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 1000\r\n\r\n{"
            )
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408 ")
    finally:
        served.stop()
    assert [(e["endpoint"], e["response_code"], e["error_class"]) for e in served.events()][-1:] == [
        ("/v1/chat/completions", 408, "BodyReadTimeout")
    ]


def test_serve_refuses_a_proxy_list_that_does_not_parse(runner: CliRunner) -> None:
    result = runner.invoke(main, ["serve", "--policy", str(POLICY_FILE), "--forwarded-allow-ips", "10.0.0.0/33"])
    assert result.exit_code == 2
    assert (
        "Invalid value for '--forwarded-allow-ips': '10.0.0.0/33' is not an IP address or network; "
        "name proxies like 10.0.0.1, 10.0.0.0/8 or ::1" in result.output
    )


def test_a_usage_event_queued_when_sigterm_arrives_is_written(tmp_path: Path, upstream: str) -> None:
    """uvicorn re-raises SIGTERM after its shutdown: the queue must be drained before that, in the lifespan."""
    served = start(tmp_path, upstream)
    try:
        response = httpx.post(
            f"{served.base}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {served.key}"},
        )
        assert response.status_code == 200
    finally:
        served.stop()  # at once: the writer batches for a while before it writes
    assert [(e["endpoint"], e["response_code"], e["model"]) for e in served.events()][-1:] == [
        ("/v1/chat/completions", 200, "gpt-*")
    ]
