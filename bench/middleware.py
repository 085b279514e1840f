"""Per-request cost of PolicyMiddleware around a trivial ASGI app, bare and wrapped, in one run.

Calls the ASGI app directly (no sockets), so the numbers are the middleware's own cost: reading and
replaying the body, the usage event through the plan's schema, the flagger, headers and context.

    .venv/bin/python bench/middleware.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aether_policy import load_policy
from aether_policy.crypto import Cipher
from aether_policy.middleware import PolicyMiddleware, facts_of
from aether_policy.plan import PromptGate, compile_policy
from aether_policy.sinks import MemorySink

BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in French."}]}).encode()
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "client": ("127.0.0.1", 50000),
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
        (b"user-agent", b"OpenAI/Python 1.51.0"),
        (b"authorization", b"Bearer aether-sk-benchmark-key"),
    ],
}


async def trivial(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"choices":[{"finish_reason":"stop"}]}'})


async def accepting(scope: Any, receive: Any, send: Any) -> None:
    """The trivial app, telling the middleware what the gateway tells it for an authenticated chat request, so
    the flagger and the gate run as they do in production."""
    facts = facts_of(scope)
    facts.account_id, facts.model, facts.authenticated_content = "acct_bench", "gpt-4o-mini", True
    await trivial(scope, receive, send)


async def measure(app: Any, count: int) -> list[float]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    timings = []
    for _ in range(count):
        scope = dict(SCOPE)
        start = time.perf_counter()
        await app(scope, receive, send)
        timings.append(time.perf_counter() - start)
    return timings


def http_rate(app: str, seconds: int) -> tuple[float, str]:
    """Requests/s and latency line from wrk (16 connections) against uvicorn serving `bench._apps:<app>`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            f"bench._apps:{app}",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            body = BODY.decode().replace('"', '\\"')
            script.write(f'wrk.method = "POST"\nwrk.body = "{body}"\n')
            script.write('wrk.headers["Content-Type"] = "application/json"\n')
            script.write('wrk.headers["Authorization"] = "Bearer aether-sk-benchmark-key"\n')
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        subprocess.run(["wrk", "-t1", "-c16", "-d2s", "-s", script.name, url], capture_output=True, check=True)
        out = subprocess.run(
            ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        os.unlink(script.name)
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = re.search(r"50%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        p99 = re.search(r"99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        return rate, f"p50 {p50}, p99 {p99}"
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per app for the HTTP comparison")
    args = parser.parse_args()
    plan = compile_policy(load_policy("policies/aetherapi.yaml").policy)
    sink = MemorySink()
    wrapped = PolicyMiddleware(accepting, plan, sink, gate=PromptGate(plan.storage_windows, Cipher(bytes(32))))

    async def run() -> tuple[list[float], list[float]]:
        await measure(trivial, 2000)
        await measure(wrapped, 2000)  # warm up both
        bare, policy = [], []
        for _ in range(5):  # interleave so drift hits both alike
            bare += await measure(trivial, args.requests // 5)
            policy += await measure(wrapped, args.requests // 5)
            sink.events.clear()
        return bare, policy

    bare, policy = asyncio.run(run())

    def describe(name: str, timings: list[float]) -> float:
        rate = len(timings) / sum(timings)
        q = statistics.quantiles(timings, n=100)
        print(f"{name:8} {rate:>10,.0f} req/s   p50 {q[49] * 1e6:6.1f} µs   p99 {q[98] * 1e6:6.1f} µs")
        return rate

    bare_rate = describe("bare", bare)
    policy_rate = describe("wrapped", policy)
    added = statistics.median(policy) - statistics.median(bare)
    print(f"in-process: wrapped/bare throughput {policy_rate / bare_rate:.1%}; added at p50: {added * 1e6:.1f} µs")
    if shutil.which("wrk") is None:
        print("HTTP comparison skipped: install wrk (apt-get install wrk)")
        return
    for bare_app, wrapped_app in (("bare", "wrapped"), ("starlette_bare", "starlette_wrapped")):
        rates: dict[str, list[float]] = {}
        for app in (bare_app, wrapped_app, bare_app, wrapped_app):
            rate, latency = http_rate(app, args.seconds)
            rates.setdefault(app, []).append(rate)
            print(f"uvicorn+httptools, wrk 16 connections, {app:18} {rate:>8,.0f} req/s   {latency}")
        ratio = max(rates[wrapped_app]) / max(rates[bare_app])
        print(f"over HTTP: {wrapped_app}/{bare_app} throughput {ratio:.1%}")


if __name__ == "__main__":
    main()
