"""What the gateway adds, against a local stand-in upstream, in one run:
sequential latency (p50, p99) direct vs through the gateway, throughput at 16 concurrent connections (wrk),
and time to first byte for streaming.

    .venv/bin/python bench/gateway.py [--requests 2000] [--seconds 8] [--db postgresql://…] [--replicas 1|2]
                                      [--controls]

--controls runs the gateway once more with /metrics on and a key with requests- and tokens-per-minute limits
(high enough never to refuse), and compares p50 and throughput with the plain run: the cost of a per-key
limit is one UPSERT per request, of metrics a few counter increments.

Each server is its own process (uvicorn, one worker); wrk, from Debian, generates the concurrent load.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in French."}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


@contextmanager
def process(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        yield
    finally:
        proc.terminate()
        proc.wait(30)


def latencies(url: str, headers: dict[str, str], count: int) -> list[float]:
    timings = []
    with httpx.Client(headers=headers, timeout=10) as client:
        for _ in range(50):
            client.post(url, json=BODY)
        for _ in range(count):
            start = time.perf_counter()
            response = client.post(url, json=BODY)
            timings.append(time.perf_counter() - start)
            response.raise_for_status()
    return timings


def first_bytes(url: str, headers: dict[str, str], count: int) -> list[float]:
    timings = []
    body = {**BODY, "stream": True}
    with httpx.Client(headers=headers, timeout=10) as client:
        for i in range(count + 20):
            start = time.perf_counter()
            with client.stream("POST", url, json=body) as response:
                chunks = response.iter_raw()
                next(chunks)
                elapsed = time.perf_counter() - start
                for _ in chunks:
                    pass
            if i >= 20:
                timings.append(elapsed)
    return timings


def wrk_start(url: str, key: str, seconds: int, connections: int = 16) -> tuple[subprocess.Popen[str], str]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(BODY))}\n')
        script.write('wrk.headers["Content-Type"] = "application/json"\n')
        script.write(f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True), script.name


def wrk_finish(run: tuple[subprocess.Popen[str], str]) -> float:
    process, script = run
    out, _ = process.communicate()
    os.unlink(script)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed requests under load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def wrk_rate(url: str, key: str, seconds: int) -> float:
    return wrk_finish(wrk_start(url, key, seconds))


def quantiles(timings: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(timings, n=100)
    return q[49] * 1000, q[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--db", default=None, help="Database URL for the gateway (default: a temporary SQLite file)")
    parser.add_argument("--replicas", type=int, default=1, choices=[1, 2])
    parser.add_argument("--controls", action="store_true", help="Also measure with metrics on and a limited key.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/gateway.py needs wrk: apt-get install wrk")
    exe = str(Path(sys.executable).with_name("aether-policy"))
    with tempfile.TemporaryDirectory() as folder:
        upstream_port = free_port()
        policy = Path(folder) / "policy.yaml"
        policy.write_text(
            (ROOT / "policies" / "aetherapi.yaml").read_text().replace("hosts: [api.openai.com]", "hosts: [127.0.0.1]")
        )
        config = Path(folder) / "gateway.yaml"
        config.write_text(
            f"providers:\n  openai:\n    api: openai\n    base_url: http://127.0.0.1:{upstream_port}/v1\n"
            "    api_key_env: BENCH_PROVIDER_KEY\n    models: [gpt-*]\n"
        )
        db = args.db or f"sqlite:///{folder}/bench.db"
        env = {"BENCH_PROVIDER_KEY": "sk-bench", "AETHER_ENCRYPTION_KEY": "A" * 43 + "="}
        key = subprocess.run(
            [exe, "keys", "create", "--account", "bench", "--db", db], capture_output=True, text=True, check=True
        ).stdout.strip()
        headers = {"authorization": f"Bearer {key}"}
        upstream = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench._upstream:app",
            "--port",
            str(upstream_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        gateway_ports = [free_port() for _ in range(args.replicas)]
        with process(upstream, upstream_port, {"PYTHONPATH": str(ROOT)}):
            direct = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
            direct_lat = latencies(direct, headers, args.requests)
            direct_ttfb = first_bytes(direct, headers, args.requests // 4)
            direct_rate = wrk_rate(direct, key, args.seconds)
            servers = [
                [
                    exe,
                    "serve",
                    "--policy",
                    str(policy),
                    "--config",
                    str(config),
                    "--db",
                    db,
                    "--port",
                    str(port),
                    "--no-access-log",
                ]
                for port in gateway_ports
            ]
            with process(servers[0], gateway_ports[0], env):
                via = f"http://127.0.0.1:{gateway_ports[0]}/v1/chat/completions"
                gateway_lat = latencies(via, headers, args.requests)
                gateway_ttfb = first_bytes(via, headers, args.requests // 4)
                gateway_rate = wrk_rate(via, key, args.seconds)
                together = 0.0
                if args.replicas == 2:
                    with process(servers[1], gateway_ports[1], env):
                        runs = [
                            wrk_start(f"http://127.0.0.1:{p}/v1/chat/completions", key, args.seconds, connections=8)
                            for p in gateway_ports
                        ]
                        together = sum(wrk_finish(run) for run in runs)
            if args.controls:
                limited = subprocess.run(
                    [exe, "keys", "create", "--account", "bench", "--rpm", "2000000000", "--tpm", "2000000000"]
                    + ["--db", db],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                port = free_port()
                metered = [*servers[0][:-3], "--port", str(port), "--no-access-log", "--metrics-token", "b" * 32]
                with process(metered, port, env):
                    via = f"http://127.0.0.1:{port}/v1/chat/completions"
                    controlled_lat = latencies(via, {"authorization": f"Bearer {limited}"}, args.requests)
                    controlled_rate = wrk_rate(via, limited, args.seconds)
                    scrape = httpx.get(
                        f"http://127.0.0.1:{port}/metrics", headers={"authorization": "Bearer " + "b" * 32}
                    )
                    scrape.raise_for_status()

    (dp50, dp99), (gp50, gp99) = quantiles(direct_lat), quantiles(gateway_lat)
    (tp50, _), (gtp50, _) = quantiles(direct_ttfb), quantiles(gateway_ttfb)
    print(
        f"sequential, {args.requests} requests   direct p50 {dp50:.2f} ms  p99 {dp99:.2f} ms   "
        f"gateway p50 {gp50:.2f} ms  p99 {gp99:.2f} ms   added p50 {gp50 - dp50:.2f} ms  p99 {gp99 - dp99:.2f} ms"
    )
    print(f"16 concurrent (wrk)       direct {direct_rate:,.0f} req/s   gateway {gateway_rate:,.0f} req/s")
    print(
        f"streaming first byte      direct p50 {tp50:.2f} ms   gateway p50 {gtp50:.2f} ms   added {gtp50 - tp50:.2f} ms"
    )
    if args.controls:
        cp50, _ = quantiles(controlled_lat)
        print(
            f"metrics + per-key limit   p50 {cp50:.2f} ms ({(cp50 - gp50) / gp50:+.1%} vs gateway)   "
            f"{controlled_rate:,.0f} req/s ({(controlled_rate - gateway_rate) / gateway_rate:+.1%})"
        )
    if args.replicas == 2:
        print(
            f"one database ({db.split(':')[0]}): one replica {gateway_rate:,.0f} req/s, two replicas together "
            f"{together:,.0f} req/s (8 connections each, same 2-core machine as the load generator)"
        )


if __name__ == "__main__":
    main()
