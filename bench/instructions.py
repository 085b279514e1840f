"""Machine instructions per request, counted by valgrind: what the gateway executes beside the bare proxy,
much the same on any machine and under any load.

    .venv/bin/python bench/instructions.py [--requests 768] [--without usage,writer,judging,registration,middleware]

`bench/gateway.py` measures time, which on a shared 2-core machine moves by more from minute to minute than a
small change does (about ±40 µs per request, ±10%). A count of instructions moves far less: runs of the same
code agree within about 2% (the writer thread's turns and the garbage collector's fall a little differently
each time), so a change worth 5% shows, one worth 1% needs several runs. It is not time (a cache miss costs
more than an instruction, and more code in between makes the same code run slower, which the timed benchmark
sees and this one does not), so it says which change does less work, and `bench/gateway.py` what it costs.

Each server's ASGI app is called directly in one process (16 callers at once, the stand-in upstream over
loopback, no HTTP server in front) under `valgrind --tool=callgrind`, twice with different numbers of requests;
the difference of the two totals over the difference of the counts is what one request costs, start-up and
imports cancelled out. Every thread counts, so the usage writer's rows do too: in batches of 500 as under load
(valgrind runs the process about fifty times slower, and the writer's 0.2 s interval would make its batches fifty
times smaller), the rest written when the requests are done. `--without` counts the gateway again with parts of
the policy's work switched off, to say what each costs. Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gateway import BENCH_ENV, ROOT, bench_files, free_port, new_key, process

BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in French."}]}'
WARM_UP = 160
CALLERS = 16
PARTS = ("usage", "writer", "judging", "registration", "middleware")
"""What `--without` can switch off: recording usage (the event built, fitted and queued, and written), only its
writing (the writer thread never starts; rows stay queued), judging content, registering it for log redaction,
the policy middleware as a whole (the gateway app alone, which then records and judges nothing)."""


def gateway_app(folder: str, upstream_port: int, without: set[str]) -> tuple[Any, str, Any]:
    """The gateway app as `serve` builds it, routed to the stand-in, a key of its database, and its store."""
    from aether_policy import load_policy
    from aether_policy.cli._encryption_key import open_gateway_key
    from aether_policy.gateway import create_app, load_config
    from aether_policy.plan import PromptGate, compile_policy
    from aether_policy.store import Store, key_file_for, parse_url

    os.environ.update(BENCH_ENV)
    policy_file, config_file, db = bench_files(folder, upstream_port)
    key = new_key(db)
    plan = compile_policy(load_policy(policy_file).policy)
    config, _, _ = load_config(config_file)
    store = Store(db, batch_size=500, flush_interval=3600)  # batches by size, not time (see the docstring)
    store.migrate()
    cipher, _ = open_gateway_key(store, key_file_for(parse_url(db)))
    if "writer" in without:
        store._ensure_writer = lambda: None  # type: ignore[method-assign]
    if "usage" in without:
        store.record_usage = lambda event: None  # type: ignore[method-assign]
    app = create_app(plan, store, config, PromptGate(plan.storage_windows, cipher))
    if "judging" in without:
        app._judge = False  # type: ignore[attr-defined]
    if "registration" in without:
        from aether_policy._context import Inflight

        async def nothing(*args: Any, **kwargs: Any) -> None:
            return None

        Inflight.expose = nothing  # type: ignore[assignment,method-assign]
        Inflight.expose_body = nothing  # type: ignore[assignment,method-assign]
    if "middleware" in without:
        app = app.app  # type: ignore[attr-defined]
    return app, key, store


def proxy_app(upstream_port: int) -> Any:
    os.environ["BENCH_UPSTREAM"] = f"http://127.0.0.1:{upstream_port}"
    from bench._proxy import app

    return app


async def call(app: Any, key: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "state": {},
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + key),
            (b"content-length", str(len(BODY)).encode()),
            (b"user-agent", b"OpenAI/Python 1.50.0"),
        ],
    }
    delivered = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # the caller never leaves
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"the server answered {sent[0]['status']}: {sent[1:]}")


async def serve_requests(app: Any, key: str, count: int) -> None:
    """Start the app's lifespan, then `count` requests by CALLERS callers at once (count a multiple of them)."""
    started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, started.put)
    )
    await started.get()

    async def caller(requests: int) -> None:
        for _ in range(requests):
            await call(app, key.encode())

    await asyncio.gather(*(caller(count // CALLERS) for _ in range(CALLERS)))
    lifespan.cancel()


def child(server: str, count: int, upstream_port: int, without: set[str]) -> None:
    """One counted run (under valgrind): the warm-up and `count` requests."""
    import uvloop

    with tempfile.TemporaryDirectory() as folder:
        store = None
        if server == "gateway":
            app, key, store = gateway_app(folder, upstream_port, without)
        else:
            app, key = proxy_app(upstream_port), "sk-bench"
        uvloop.run(serve_requests(app, key, WARM_UP + count))
        if store is not None and "writer" not in without:
            store.flush()  # every request's row written, so that each run counts one per request
    os._exit(0)  # nothing after the requests is counted (the store's writer is a daemon thread)


def instructions(server: str, count: int, upstream_port: int, without: Collection[str]) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        server,
        "--requests",
        str(count),
        "--upstream-port",
        str(upstream_port),
        "--without",
        ",".join(sorted(without)),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict and set layouts in every run
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"the counted run failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def per_request(server: str, count: int, upstream_port: int, without: Collection[str] = ()) -> float:
    with ThreadPoolExecutor(2) as runs:  # the two counted runs side by side: counts do not depend on load
        short, long = runs.map(lambda n: instructions(server, n, upstream_port, without), (count // 4, count))
    return (long - short) / (count - count // 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=768, help="Requests in the longer run (a multiple of 64).")
    parser.add_argument("--without", default="", help=f"Also count the gateway without: {', '.join(PARTS)}.")
    parser.add_argument("--child", choices=["gateway", "proxy"], help=argparse.SUPPRESS)
    parser.add_argument("--upstream-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    without = {part for part in args.without.split(",") if part}
    if unknown := without - set(PARTS):
        parser.error(f"--without takes {', '.join(PARTS)}; not {', '.join(sorted(unknown))}")
    if args.child:
        child(args.child, args.requests, args.upstream_port, without)
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench/instructions.py needs valgrind: apt-get install valgrind")
    if args.requests % (4 * CALLERS) or args.requests < 4 * CALLERS:
        parser.error(f"--requests must be a multiple of {4 * CALLERS}")
    port = free_port()
    upstream = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log", "bench._upstream:app"]
    with process([*upstream, "--port", str(port)], port, {"PYTHONPATH": str(ROOT)}):
        proxy = per_request("proxy", args.requests, port)
        gateway = per_request("gateway", args.requests, port)
        print(f"bare proxy  {proxy:>12,.0f} instructions per request")
        print(f"gateway     {gateway:>12,.0f} instructions per request  ({gateway / proxy:.2f}x the proxy)")
        for part in sorted(without, key=PARTS.index):
            alone = per_request("gateway", args.requests, port, {part})
            print(f"  without {part:<13} {alone:>10,.0f}  ({part} costs {gateway - alone:,.0f})")


if __name__ == "__main__":
    main()
