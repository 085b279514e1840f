"""Where one request's time goes in `aether-policy serve` under load: py-spy samples the real server process
while wrk keeps 16 connections busy against it (in front of bench/_upstream.py), and the samples are summed
into the stages of a request.

    .venv/bin/pip install py-spy   # a sampling profiler; needs ptrace (root, or CAP_SYS_PTRACE)
    .venv/bin/python bench/profile_gateway.py [--seconds 10] [--rate 250] [--out bench/profile.txt]

It prints the share of the server's busy samples in each stage of a request, and that share of the server's
CPU time per request (read from /proc over the same window). py-spy pauses the server for each sample, so every
stack is whole (without pausing, a sample could mix frames of two coroutines); that slows the server, and the
shares, not the absolute numbers, are what to compare.
`--out` keeps the collapsed stacks for a flame graph (`flamegraph.pl`, speedscope).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import (
    BENCH_ENV,
    ROOT,
    bench_files,
    cpu_seconds,
    free_port,
    latencies,
    new_key,
    process,
    wait_for,
    wrk_counts,
    wrk_start,
)

# (stage, pattern on a frame "Class.function (path:line)"). Each sample goes to one stage: walking from the
# running frame outwards, the first frame that matches any pattern names it, so a helper's time (json, hashlib)
# counts for whichever stage called it, and the shares add up to 100%.
STAGES = [
    ("strict JSON: parse and check (request and response)", r"gateway/strict_json\.py"),
    ("egress guard (EgressGuard, GuardedTransport)", r"plan/(guard|transport)\.py"),
    (
        "upstream client: aiohttp (gateway/outbound.py's wire)",
        r"(aiohttp|yarl|multidict|aiohappyeyeballs)/|gateway/outbound\.py",
    ),
    ("upstream client: httpx (client, request, response, headers)", r"httpx/"),
    ("Upstream.open: serialise the payload, retries", r"gateway/upstream\.py"),
    ("per-key limits", r"gateway/limits\.py"),
    ("authentication (key hash, cache)", r"(_authenticate|credentials\.py|store/store\.py:4[0-2]\d)"),
    ("usage event: derive, select, fit, queue", r"(_record \(|store/|plan/usage|derive\.py|_useragent|sinks\.py)"),
    ("flagger and prompt gate", r"(_judge_content|flagger|plan/gate)"),
    ("inflight content: secrets, log-redaction registration", r"(_context\.py|_content_index|redaction\.py)"),
    ("gateway endpoint and protocol module (app.py, protocols/)", r"gateway/(app\.py|protocols/)"),
    ("policy middleware (the rest)", r"aether_policy/middleware\.py"),
    ("metrics", r"(gateway/metrics\.py|prometheus_client)"),
    ("starlette (router, Request, Response)", r"starlette/"),
    ("HTTP server: uvicorn + httptools", r"(uvicorn|httptools)/"),
    ("asyncio event loop (scheduling, epoll, transports)", r"asyncio/"),
]


def summarise(collapsed: str) -> tuple[int, list[tuple[str, int]]]:
    """(busy samples of the server's main thread, samples per stage, largest first)."""
    stages: collections.Counter[str] = collections.Counter()
    total = 0
    compiled = [(label, re.compile(p)) for label, p in STAGES]
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or "MainThread" not in stack.split(";", 1)[0]:
            continue  # the usage writer's thread runs beside the event loop, not in a request's path
        count = int(count_text)
        total += count
        stage = "other"
        for frame in reversed(stack.split(";")[1:]):
            stage = next((label for label, pattern in compiled if pattern.search(frame)), "")
            if stage:
                break
        stages[stage or "other"] += count
    return total, stages.most_common()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", default=None, help="Keep the collapsed stacks here.")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists() or shutil.which("wrk") is None:
        sys.exit("bench/profile_gateway.py needs py-spy (pip install py-spy) and wrk (apt-get install wrk)")
    exe = str(Path(sys.executable).with_name("aether-policy"))
    with tempfile.TemporaryDirectory() as folder:
        upstream_port, port = free_port(), free_port()
        policy, config, db = bench_files(folder, upstream_port)
        env = BENCH_ENV
        key = new_key(db)
        upstream = [sys.executable, "-m", "uvicorn", "bench._upstream:app", "--port", str(upstream_port)]
        upstream += ["--log-level", "warning", "--no-access-log", "--http", "httptools"]
        serve = [exe, "serve", "--policy", str(policy), "--config", str(config), "--db", db, "--port", str(port)]
        stacks = Path(folder) / "stacks.txt"
        with process(upstream, upstream_port, {"PYTHONPATH": str(ROOT)}):
            proc = subprocess.Popen(
                [*serve, "--no-access-log"],
                cwd=ROOT,
                env={**os.environ, **env},
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for(port)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                latencies(url, {"authorization": f"Bearer {key}"}, 300)  # warm up
                before = cpu_seconds(proc.pid)
                load = wrk_start(url, key, args.seconds + 2)
                subprocess.run(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(proc.pid),
                        "--format",
                        "raw",
                        "--threads",
                        "--rate",
                        str(args.rate),
                        "--duration",
                        str(args.seconds),
                        "--output",
                        str(stacks),
                    ],
                    check=True,
                    capture_output=True,
                )
                rate, done = wrk_counts(load)
                per_request = (cpu_seconds(proc.pid) - before) / max(done, 1) * 1e6
            finally:
                proc.terminate()
                proc.wait(30)
        collapsed = stacks.read_text()
    if args.out:
        Path(args.out).write_text(collapsed)
    total, stages = summarise(collapsed)
    print(
        f"{rate:,.0f} req/s under py-spy, {per_request:.0f} µs of server CPU per request; {total} busy samples of "
        f"the server's main thread at {args.rate} Hz"
    )
    print(f"{'stage':<64}share   µs/request")
    for label, count in stages:
        print(f"{label:<64}{count / total:6.1%}  {count / total * per_request:8.0f}")


if __name__ == "__main__":
    main()
