"""Shared test helpers: the shipped policy compiled, and loopback servers that tests start themselves (in a
thread, or as `aether-policy serve` processes)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from aether_policy import LoadedPolicy, load_policy, load_policy_text
from aether_policy.crypto import Cipher
from aether_policy.plan import Plan, PromptGate, compile_policy
from aether_policy.types import ASGIApp
from tests.conftest import POLICY_FILE

TEST_KEY = bytes(range(32))
CLI = str(Path(sys.executable).with_name("aether-policy"))  # the console script installed beside this Python


@cache
def shipped() -> LoadedPolicy:
    return load_policy(POLICY_FILE)


@cache
def shipped_plan() -> Plan:
    return compile_policy(shipped().policy)


def loopback_policy_text() -> str:
    """The shipped policy plus an OpenAI-compatible and an Anthropic stand-in on 127.0.0.1, for tests."""
    text = POLICY_FILE.read_text(encoding="utf-8")
    return text.replace("      hosts: [api.openai.com]", "      hosts: [api.openai.com, 127.0.0.1]").replace(
        "      hosts: [api.anthropic.com]", "      hosts: [api.anthropic.com, 127.0.0.1]"
    )


@cache
def loopback_plan() -> Plan:
    return compile_policy(load_policy_text(loopback_policy_text()).policy)


def gate_for(plan: Plan) -> PromptGate:
    return PromptGate(plan.storage_windows, Cipher(TEST_KEY))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: ASGIApp, lifespan: str = "auto", **options: object) -> Iterator[str]:
    """Run an ASGI app under uvicorn on 127.0.0.1 and an ephemeral port, in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan, **options)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def serve_files(folder: Path, upstream: str) -> tuple[Path, Path]:
    """What a `serve` process reads, written in `folder`: the loopback policy, and a gateway.yaml that routes
    gpt-* to the OpenAI stand-in at `upstream` with the provider key from `STANDIN_OPENAI_KEY`."""
    policy = folder / "policy.yaml"
    policy.write_text(loopback_policy_text())
    config = folder / "gateway.yaml"
    config.write_text(
        f"providers:\n  openai:\n    api: openai\n    base_url: {upstream}/v1\n"
        "    api_key_env: STANDIN_OPENAI_KEY\n    models: [gpt-*]\n"
    )
    return policy, config


def wait_healthy(base: str, process: subprocess.Popen[Any] | None = None, seconds: float = 30) -> None:
    """Until the gateway at `base` answers /healthz with 200; RuntimeError if `process` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or (process is not None and process.poll() is not None):
            raise RuntimeError(f"the gateway at {base} did not start")
        time.sleep(0.1)
