"""What the gateway adds, against a local stand-in upstream, beside the floor a bare Python proxy sets, in one run:
sequential latency (p50, p99) over calling the upstream directly (the two in turn, request by request, so that
the machine's drift moves both alike), throughput at 16 concurrent connections (wrk),
and time to first byte for streaming; then the gateway's ratios to the bare proxy.

    .venv/bin/python bench/gateway.py [--requests 2000] [--seconds 8] [--rounds 1] [--db postgresql://…]
                                      [--replicas 1|2] [--workers] [--controls] [--portkey]

The bare proxy (`bench/_proxy.py`) is raw ASGI on the same uvicorn+httptools, forwarding the body as bytes over
one aiohttp session, with no authentication and no policy. Each round starts every server side by side and
measures them in the same moments: sequential latency request by request in turn (with the upstream called
directly), throughput in one-second wrk slices taken in turn (`--seconds` slices each). Measured one after the
other, a server's minute and the next one's differed by more on this shared machine than the servers did.
With `--rounds N` each line is the median of the rounds.

--controls runs the gateway once more per round with /metrics on and a key with requests- and tokens-per-minute
limits (high enough never to refuse), and compares p50 and throughput with the plain run: the cost of a per-key
limit is one UPSERT per request, of metrics a few counter increments.

--workers runs `serve --workers 2` too and compares its throughput (32 connections) with one worker's at 32.

--portkey measures Portkey's open-source gateway (Node) in each round too, in front of the same stand-in (its
`x-portkey-custom-host`), with no policy of its own; npm installs it once under ~/.cache/aether-policy-bench.

Each server is its own process (uvicorn); wrk, from Debian, generates the concurrent load.
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in French."}]}
PATH = "/v1/chat/completions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


BENCH_ENV = {"BENCH_PROVIDER_KEY": "sk-bench", "AETHER_ENCRYPTION_KEY": "A" * 43 + "="}
"""What `serve` needs in its environment: the stand-in's provider key and a gateway encryption key."""


def loopback_policy() -> str:
    """The shipped policy with its OpenAI recipient declared on loopback, where the stand-in upstream runs."""
    return (ROOT / "policies" / "aetherapi.yaml").read_text().replace("hosts: [api.openai.com]", "hosts: [127.0.0.1]")


def bench_files(
    folder: str, upstream_port: int, policy_text: str | None = None, db: str | None = None
) -> tuple[Path, Path, str]:
    """(policy file, gateway config routing `gpt-*` to the stand-in upstream, database URL) in `folder`."""
    policy = Path(folder) / "policy.yaml"
    policy.write_text(policy_text if policy_text is not None else loopback_policy())
    config = Path(folder) / "gateway.yaml"
    config.write_text(
        f"providers:\n  openai:\n    api: openai\n    base_url: http://127.0.0.1:{upstream_port}/v1\n"
        "    api_key_env: BENCH_PROVIDER_KEY\n    models: [gpt-*]\n"
    )
    return policy, config, db or f"sqlite:///{folder}/bench.db"


def new_key(db: str, *limits: str) -> str:
    """A new API key of the account `bench` (with `--rpm`/`--tpm` limits if given)."""
    exe = str(Path(sys.executable).with_name("aether-policy"))
    command = [exe, "keys", "create", "--account", "bench", *limits, "--db", db]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


PORTKEY = "@portkey-ai/gateway@1.15.2"
PORTKEY_DIR = Path.home() / ".cache" / "aether-policy-bench" / "portkey"


def portkey_server() -> str | None:
    """The path of Portkey's gateway server script, installed with npm on first use; None (said why) if not."""
    script = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if script.exists():
        return str(script)
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("Portkey not measured: node and npm are not installed", file=sys.stderr)
        return None
    PORTKEY_DIR.mkdir(parents=True, exist_ok=True)
    command = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(PORTKEY_DIR), PORTKEY]
    if subprocess.run(command, capture_output=True, text=True).returncode != 0 or not script.exists():
        print(f"Portkey not measured: npm could not install {PORTKEY}", file=sys.stderr)
        return None
    return str(script)


@contextmanager
def process(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    quiet = subprocess.DEVNULL  # Portkey draws a spinner on stdout
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=quiet, stderr=quiet)
    try:
        wait_for(port)
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def latencies(url: str, headers: dict[str, str], count: int) -> list[float]:
    return interleaved_latencies([(url, headers)], count)[0]


def interleaved_latencies(targets: list[tuple[str, dict[str, str]]], count: int) -> list[list[float]]:
    """Sequential latencies through each target, request by request in turn (the upstream called directly,
    the proxy, the gateway...): all measured in the same moments, so what the machine does meanwhile moves
    them alike and their differences are what each server in between adds."""
    timings: list[list[float]] = [[] for _ in targets]
    clients = [httpx.Client(headers=headers, timeout=10) for _, headers in targets]
    try:
        for _ in range(50):
            for client, (url, _) in zip(clients, targets, strict=True):
                client.post(url, json=BODY)
        turns = list(zip(clients, targets, timings, strict=True))
        for i in range(count):
            # Each target goes first as often as last: which one follows which moves the numbers too.
            for client, (url, _), kept in turns if i % 2 == 0 else reversed(turns):
                start = time.perf_counter()
                response = client.post(url, json=BODY)
                kept.append(time.perf_counter() - start)
                response.raise_for_status()
    finally:
        for client in clients:
            client.close()
    return timings


def first_byte_added(url: str, headers: dict[str, str], count: int, direct: str) -> float:
    """Median time to the first streamed byte through `url`, less that of `direct` measured in turn (ms)."""
    timings: tuple[list[float], list[float]] = ([], [])
    body = {**BODY, "stream": True}
    with httpx.Client(headers=headers, timeout=10) as via, httpx.Client(headers=headers, timeout=10) as straight:
        turns = ((via, url, timings[0]), (straight, direct, timings[1]))
        for i in range(count + 20):
            for client, target, kept in turns if i % 2 == 0 else reversed(turns):  # each first as often
                start = time.perf_counter()
                with client.stream("POST", target, json=body) as response:
                    chunks = response.iter_raw()
                    next(chunks)
                    elapsed = time.perf_counter() - start
                    for _ in chunks:
                        pass
                if i >= 20:
                    kept.append(elapsed)
    return (statistics.median(timings[0]) - statistics.median(timings[1])) * 1000


def wrk_start(
    url: str, key: str, seconds: int, connections: int = 16, headers: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(BODY))}\n')
        script.write('wrk.headers["Content-Type"] = "application/json"\n')
        script.write(f'wrk.headers["Authorization"] = "Bearer {key}"\n')
        for name, value in (headers or {}).items():
            script.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True), script.name


def wrk_finish(run: tuple[subprocess.Popen[str], str]) -> float:
    return wrk_counts(run)[0]


def wrk_counts(run: tuple[subprocess.Popen[str], str]) -> tuple[float, int]:
    """(requests per second, requests completed)."""
    process, script = run
    out, _ = process.communicate()
    os.unlink(script)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed requests under load:\n{out}")
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), done  # type: ignore[union-attr]


def wrk_rate(url: str, key: str, seconds: int, connections: int = 16) -> float:
    return wrk_finish(wrk_start(url, key, seconds, connections))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p50_p99(timings: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(timings, n=100)
    return q[49] * 1000, q[98] * 1000


@dataclass
class Run:
    """One server measured once: sequential p50/p99 (ms) and what it adds to them over the upstream called
    directly in the same moments, streaming first byte added (ms), wrk req/s, and the server's CPU time per
    request under wrk (µs): on a shared machine the steadiest of them."""

    p50: float
    p99: float
    added_p50: float
    added_p99: float
    ttfb: float
    rate: float
    cpu: float


@dataclass
class Server:
    """One server of a round: where it listens, its process (for its CPU time), the key and extra headers
    its requests carry, and whether its streaming first byte is measured."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    key: str
    extra: dict[str, str]
    stream: bool = True

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}", **self.extra}


def start_server(
    running: ExitStack, servers: list[Server], name: str, command: list[str], port: int, **options: Any
) -> None:
    """Start a server for the rest of the round (`env`, then the `Server` fields: key, extra, stream)."""
    started = running.enter_context(process(command, port, options.pop("env", None)))
    servers.append(Server(name, f"http://127.0.0.1:{port}{PATH}", started, **options))


def measure_together(servers: list[Server], direct: str, args: argparse.Namespace) -> dict[str, Run]:
    """Every server of a round measured in the same moments, so that their ratios are not the machine's drift:
    sequential latency request by request in turn with the upstream called directly, then throughput in
    one-second wrk slices taken in turn, summed per server (requests and CPU time alike)."""
    targets = [(direct, servers[0].headers)] + [(s.url, s.headers) for s in servers]
    straight, *via = interleaved_latencies(targets, args.requests)
    base50, base99 = p50_p99(straight)
    ttfb = {
        s.name: first_byte_added(s.url, s.headers, args.requests // 4, direct) if s.stream else 0.0 for s in servers
    }
    done = dict.fromkeys((s.name for s in servers), 0)
    elapsed = dict.fromkeys((s.name for s in servers), 0.0)
    cpu = dict.fromkeys((s.name for s in servers), 0.0)
    for i in range(args.seconds):
        for server in servers if i % 2 == 0 else reversed(servers):  # each first as often as last
            before = cpu_seconds(server.process.pid)
            rate, count = wrk_counts(wrk_start(server.url, server.key, 1, headers=server.extra))
            cpu[server.name] += cpu_seconds(server.process.pid) - before
            done[server.name] += count
            elapsed[server.name] += count / rate if rate else 0.0
    runs = {}
    for server, timings in zip(servers, via, strict=True):
        p50, p99 = p50_p99(timings)
        rate = done[server.name] / max(elapsed[server.name], 1e-9)
        cpu_per = cpu[server.name] / max(done[server.name], 1) * 1e6
        runs[server.name] = Run(p50, p99, p50 - base50, p99 - base99, ttfb[server.name], rate, cpu_per)
    return runs


def measure_alone(url: str, key: str, server: subprocess.Popen[bytes], args: argparse.Namespace) -> Run:
    """One server by itself (the stand-in upstream called directly)."""
    (timings,) = interleaved_latencies([(url, {"authorization": f"Bearer {key}"})], args.requests)
    p50, p99 = p50_p99(timings)
    before = cpu_seconds(server.pid)
    rate, done = wrk_counts(wrk_start(url, key, args.seconds))
    return Run(p50, p99, 0.0, 0.0, 0.0, rate, (cpu_seconds(server.pid) - before) / max(done, 1) * 1e6)


def median_run(runs: list[Run]) -> Run:
    fields = ("p50", "p99", "added_p50", "added_p99", "ttfb", "rate", "cpu")
    return Run(*(statistics.median(getattr(r, f) for r in runs) for f in fields))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=8, help="One-second wrk slices per server per round.")
    parser.add_argument("--rounds", type=int, default=1, help="Measure every server side by side N times.")
    parser.add_argument("--db", default=None, help="Database URL for the gateway (default: a temporary SQLite file)")
    parser.add_argument("--replicas", type=int, default=1, choices=[1, 2])
    parser.add_argument("--workers", action="store_true", help="Also measure `serve --workers 2` against one.")
    parser.add_argument("--controls", action="store_true", help="Also measure with metrics on and a limited key.")
    parser.add_argument(
        "--portkey", action="store_true", help=f"Also measure Portkey's gateway (npm installs {PORTKEY} once)."
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/gateway.py needs wrk: apt-get install wrk")
    exe = str(Path(sys.executable).with_name("aether-policy"))
    results: dict[str, list[Run]] = {"direct": [], "proxy": [], "gateway": [], "controls": [], "portkey": []}
    portkey = portkey_server() if args.portkey else None
    workers_rates: list[tuple[float, float]] = []
    together = 0.0
    with tempfile.TemporaryDirectory() as folder:
        upstream_port = free_port()
        policy, config, db = bench_files(folder, upstream_port, db=args.db)
        env = BENCH_ENV

        key = new_key(db)
        limited = new_key(db, "--rpm", "2000000000", "--tpm", "2000000000") if args.controls else ""
        uv = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log", "--http", "httptools"]
        upstream = [*uv, "bench._upstream:app", "--port", str(upstream_port)]

        def serve(port: int, *extra: str) -> list[str]:
            paths = ["--policy", str(policy), "--config", str(config), "--db", db]
            return [exe, "serve", *paths, "--port", str(port), "--no-access-log", *extra]

        with process(upstream, upstream_port, {"PYTHONPATH": str(ROOT)}) as up:
            direct = f"http://127.0.0.1:{upstream_port}{PATH}"
            results["direct"].append(measure_alone(direct, key, up, args))
            for _ in range(args.rounds):
                with ExitStack() as running:
                    servers: list[Server] = []
                    start = partial(start_server, running, servers)
                    port = free_port()
                    proxy_env = {"PYTHONPATH": str(ROOT), "BENCH_UPSTREAM": f"http://127.0.0.1:{upstream_port}"}
                    start(
                        "proxy", [*uv, "bench._proxy:app", "--port", str(port)], port, env=proxy_env, key=key, extra={}
                    )
                    if portkey is not None:
                        port = free_port()
                        routing = {
                            "x-portkey-provider": "openai",
                            "x-portkey-custom-host": f"http://127.0.0.1:{upstream_port}/v1",
                        }
                        start(
                            "portkey", ["node", portkey, f"--port={port}", "--headless"], port, key=key, extra=routing
                        )
                    port = free_port()
                    start("gateway", serve(port), port, env=env, key=key, extra={})
                    if args.controls:
                        second = free_port()
                        metrics = ("--metrics-token", "b" * 32)
                        start("controls", serve(second, *metrics), second, env=env, key=limited, extra={}, stream=False)
                    for name, run in measure_together(servers, direct, args).items():
                        results[name].append(run)
                    if args.controls:
                        scrape = httpx.get(
                            f"http://127.0.0.1:{second}/metrics", headers={"authorization": "Bearer " + "b" * 32}
                        )
                        scrape.raise_for_status()
                    if args.replicas == 2:
                        second = free_port()
                        with process(serve(second), second, env):
                            runs = [
                                wrk_start(f"http://127.0.0.1:{p}{PATH}", key, args.seconds, connections=8)
                                for p in (port, second)
                            ]
                            together = sum(wrk_finish(run) for run in runs)
                if args.workers:
                    rates = []
                    for count in (1, 2):
                        port = free_port()
                        with process(serve(port, "--workers", str(count)), port, env):
                            time.sleep(1.0)  # every worker up, not only the first to bind
                            via = f"http://127.0.0.1:{port}{PATH}"
                            latencies(via, {"authorization": f"Bearer {key}"}, 200)  # warm every worker
                            rates.append(wrk_rate(via, key, args.seconds, connections=32))
                    workers_rates.append((rates[0], rates[1]))

    direct, proxy, gateway = (median_run(results[name]) for name in ("direct", "proxy", "gateway"))
    rounds = f" (median of {args.rounds} rounds)" if args.rounds > 1 else ""
    print(
        f"stand-in upstream called directly: p50 {direct.p50:.2f} ms  p99 {direct.p99:.2f} ms  "
        f"{direct.rate:,.0f} req/s{rounds}"
    )
    runs = [("bare proxy", proxy), ("gateway", gateway)]
    if results["portkey"]:
        runs.append(("portkey", median_run(results["portkey"])))
    for name, run in runs:
        print(
            f"{name:<11} added p50 {run.added_p50:.2f} ms  p99 {run.added_p99:.2f} ms   "
            f"16 concurrent (wrk) {run.rate:,.0f} req/s, {run.cpu:.0f} µs CPU/request   "
            f"streaming first byte added {run.ttfb:.2f} ms"
        )
    for i, (p, g) in enumerate(zip(results["proxy"], results["gateway"], strict=True)):
        print(
            f"  round {i + 1}: added p50 proxy {p.added_p50:.2f} ms, gateway {g.added_p50:.2f} ms; "
            f"req/s proxy {p.rate:,.0f}, gateway {g.rate:,.0f} ({g.rate / p.rate:.0%}); "
            f"CPU/request proxy {p.cpu:.0f} µs, gateway {g.cpu:.0f} µs"
        )
    # Each round's ratio, then their median: within a round proxy and gateway were measured in the same moments.
    pairs = list(zip(results["proxy"], results["gateway"], strict=True))

    def ratio(of: Callable[[Run], float]) -> float:
        return statistics.median(of(g) / max(of(p), 1e-6) for p, g in pairs)

    print(
        f"gateway / bare proxy (median of the rounds' ratios): throughput {ratio(lambda r: r.rate):.0%} "
        f"(target >= 50%), added p50 {ratio(lambda r: r.added_p50):.2f}x (target <= 2x), "
        f"CPU per request {ratio(lambda r: r.cpu):.2f}x"
    )
    if args.controls:
        c = median_run(results["controls"])
        print(
            f"metrics + per-key limit   p50 {c.p50:.2f} ms ({(c.p50 - gateway.p50) / gateway.p50:+.1%} vs gateway)   "
            f"{c.rate:,.0f} req/s ({(c.rate - gateway.rate) / gateway.rate:+.1%})   "
            f"{c.cpu:.0f} µs CPU/request ({(c.cpu - gateway.cpu) / gateway.cpu:+.1%})"
        )
    if workers_rates:
        one = statistics.median(r[0] for r in workers_rates)
        two = statistics.median(r[1] for r in workers_rates)
        print(f"serve --workers 1: {one:,.0f} req/s   --workers 2: {two:,.0f} req/s ({two / one:.2f}x; 32 connections)")
    if args.replicas == 2:
        print(
            f"one database ({db.split(':')[0]}): one replica {gateway.rate:,.0f} req/s, two replicas together "
            f"{together:,.0f} req/s (8 connections each, same 2-core machine as the load generator)"
        )


if __name__ == "__main__":
    main()
