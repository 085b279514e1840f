"""What log redaction costs per request size, and whether large unauthenticated bodies stall the gateway.

    .venv/bin/python bench/redaction.py [--seconds 10] [--skip-server]

1. For 64 KiB, 1 MiB and 8 MiB chat bodies (JSON with `\\u` escapes, so they are decoded before indexing):
   the time to register and index the body, the longest the event loop is blocked while the middleware does
   so, the time to check three kinds of log record against it, and the peak memory (tracemalloc) of it all.
   For comparison, the previous scheme (the set of every 16-character substring) up to 1 MiB.
2. `/healthz` latency against a real `aether-policy serve` on loopback (access log on) while 4 clients keep
   unauthenticated 8 MiB requests in flight, then 4 authenticated ones (whose bodies the gateway reads,
   so they are indexed, and forwards to a stand-in upstream); each with the shipped policy and with its
   content patterns removed, which separates what redaction costs from what the flagger's scan costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import string
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import httpx

from aether_policy._context import Inflight, inflight_content
from aether_policy.redaction import leaks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import BENCH_ENV, ROOT, bench_files, free_port, loopback_policy, new_key, process

SIZES = {"64 KiB": 64 * 1024, "1 MiB": 1024 * 1024, "8 MiB": 8 * 1024 * 1024}


def chat_body(size: int, seed: int = 7) -> tuple[bytes, str]:
    """A chat request of about `size` bytes, and its prompt: words, some accented, JSON-escaped as SDKs may."""
    rng = random.Random(seed)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9))) for _ in range(4000)]
    words += ["été", "forêt", "Genève", "naïve", "über"]
    parts: list[str] = []
    length = 0
    while length < size * 0.9:
        word = rng.choice(words)
        parts.append(word)
        length += len(word) + 1 + (5 if not word.isascii() else 0)
    prompt = " ".join(parts)
    return json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}).encode(), prompt


def old_pieces(body: bytes) -> frozenset[str]:
    """The previous scheme: every 16-character piece of the body text and of its decoded strings."""
    text = body.decode()
    found: set[str] = set()
    for item in (text, json.loads(text)["messages"][0]["content"]):
        found.update(item[i : i + 16] for i in range(len(item) - 15))
    return frozenset(found)


async def loop_stall(body: bytes) -> float:
    """The longest gap between 1 ms ticks of the event loop while the middleware registers the body."""
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last - 0.001)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await Inflight(body).expose_body()
    done = True
    await task
    return max(gaps)


def per_size(label: str, size: int) -> str:
    body, prompt = chat_body(size)
    records = {
        "access line": '127.0.0.1:50123 - "POST /v1/chat/completions HTTP/1.1" 401',
        "quoting 64 chars": f"upstream said: {prompt[size // 3 : size // 3 + 64]}",
        "4 KiB unrelated": " ".join(f"worker {i} handled job {i * 7919 % 10007} in {i % 97} ms" for i in range(120)),
    }
    start = time.perf_counter()
    inflight = Inflight(body)
    inflight.expose_body_now()
    indexed = time.perf_counter() - start
    token = inflight_content.set(inflight)
    checks = {}
    try:
        for name, text in records.items():
            start = time.perf_counter()
            for _ in range(20):
                found = leaks(text)
            checks[name] = ((time.perf_counter() - start) / 20, found)
    finally:
        inflight_content.reset(token)
    del inflight
    tracemalloc.start()  # a second pass for memory: tracing slows everything it measures
    inflight = Inflight(body)
    inflight.expose_body_now()
    token = inflight_content.set(inflight)
    try:
        for text in records.values():
            leaks(text)
    finally:
        inflight_content.reset(token)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    stall = asyncio.run(loop_stall(body))
    verdicts = [f"{name} {t * 1e6:6.0f} µs ({'leak' if found else 'clean'})" for name, (t, found) in checks.items()]
    line = (
        f"{label:>7}  index {indexed * 1000:7.1f} ms  loop blocked ≤ {stall * 1000:5.1f} ms  "
        f"peak {peak / 2**20:6.1f} MiB  " + "  ".join(verdicts)
    )
    if size <= 1024 * 1024:
        start = time.perf_counter()
        old_pieces(body)
        old = time.perf_counter() - start
        tracemalloc.start()
        old_pieces(body)
        old_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        line += f"\n{'':>7}  previous scheme: {old * 1000:7.1f} ms, peak {old_peak / 2**20:6.1f} MiB"
    return line


def healthz_under_load(seconds: float, authenticated: bool, patterns: bool) -> str:
    """/healthz latencies while 4 clients keep 8 MiB requests in flight against a real gateway process.

    Without `patterns`, the policy's content patterns are removed: the flagger's regular expressions then
    do not scan the body, which isolates what redaction costs from what judging the content costs."""
    exe = str(Path(sys.executable).with_name("aether-policy"))
    body, _ = chat_body(8 * 1024 * 1024 - 4096)
    with tempfile.TemporaryDirectory() as folder:
        upstream_port, port = free_port(), free_port()
        text = loopback_policy()
        if not patterns:
            text = text.replace("detectors: [pattern, upstream_moderation]", "detectors: [upstream_moderation]")
            text = "\n".join(line for line in text.splitlines() if not line.startswith(" " * 12) or ": '" not in line)
            text = text.replace("          patterns:\n", "")
        policy, config, db = bench_files(folder, upstream_port, text)
        env = BENCH_ENV
        key = new_key(db)
        headers = {"authorization": f"Bearer {key}"} if authenticated else {}
        upstream = [sys.executable, "-m", "uvicorn", "bench._upstream:app", "--port", str(upstream_port)]
        upstream += ["--log-level", "warning", "--no-access-log"]
        server = [exe, "serve", "--policy", str(policy), "--config", str(config), "--db", db, "--port", str(port)]
        with process(upstream, upstream_port, {"PYTHONPATH": str(ROOT)}), process(server, port, env):
            base = f"http://127.0.0.1:{port}"
            stop = threading.Event()
            statuses: list[int] = []

            def flood() -> None:
                with httpx.Client(timeout=120) as client:
                    while not stop.is_set():
                        response = client.post(f"{base}/v1/chat/completions", content=body, headers=headers)
                        statuses.append(response.status_code)

            floods = [threading.Thread(target=flood) for _ in range(4)]
            for thread in floods:
                thread.start()
            time.sleep(1.0)  # let the four get going
            timings: list[float] = []
            with httpx.Client(timeout=120) as client:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    start = time.perf_counter()
                    client.get(f"{base}/healthz").raise_for_status()
                    timings.append(time.perf_counter() - start)
                    time.sleep(0.02)
            stop.set()
            for thread in floods:
                thread.join()
    timings.sort()
    p50, p99 = statistics.median(timings), timings[int(len(timings) * 0.99)]
    kind = "authenticated (read, indexed, forwarded)" if authenticated else "unauthenticated (401)"
    kind += ", shipped policy" if patterns else ", no content patterns"
    return (
        f"4 × 8 MiB {kind}: /healthz p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms  max {timings[-1] * 1000:.1f} ms"
        f"  over {len(timings)} probes; {len(statuses)} large requests answered ({sorted(set(statuses))})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    for label, size in SIZES.items():
        print(per_size(label, size), flush=True)
    if not args.skip_server:
        for authenticated in (False, True):
            for patterns in (True, False):
                print(healthz_under_load(args.seconds, authenticated, patterns), flush=True)


if __name__ == "__main__":
    main()
