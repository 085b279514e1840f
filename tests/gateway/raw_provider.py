"""A raw HTTP/1.1 provider whose answer bytes a test chooses (what no real SDK stand-in would send), and a
real gateway app (create_app under uvicorn) routed to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aether_policy.gateway import GatewayConfig, ProviderConfig, create_app
from aether_policy.gateway.errors import GatewayError
from aether_policy.gateway.upstream import Upstream
from aether_policy.store import Store
from tests.gateway.conftest import store_with_key
from tests.helpers import gate_for, loopback_plan, serve

Respond = Callable[[bytes, bytes], bytes | list[bytes]]
"""(request head, request body) -> the answer's bytes, or its pieces, written `pause` seconds apart."""


@dataclass
class RawProvider:
    respond: Respond
    port: int = 0
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    """The most connections the provider had open at once."""


@contextmanager
def raw_provider(respond: Respond, pause: float = 0.0, hang_up: bool = False) -> Iterator[RawProvider]:
    """A loopback server that records each request (head and body) and writes `respond(head, body)` raw
    (piece by piece, `pause` seconds apart, when it is a list: a provider dripping its answer), then closes the
    connection if `hang_up`, else waits for the next request on it."""
    provider = RawProvider(respond)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    holder: dict[str, asyncio.AbstractServer] = {}
    writers: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        provider.connections += 1
        provider.open_now += 1
        provider.most_open = max(provider.most_open, provider.open_now)
        writers.append(writer)
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length)
                provider.requests.append(head + body)
                answer = provider.respond(head, body)
                for number, piece in enumerate([answer] if isinstance(answer, bytes) else answer):
                    if number:
                        await asyncio.sleep(pause)
                    writer.write(piece)
                    await writer.drain()
                if hang_up:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            provider.open_now -= 1
            writer.close()

    async def start() -> None:
        holder["server"] = await asyncio.start_server(handle, "127.0.0.1", 0)
        provider.port = holder["server"].sockets[0].getsockname()[1]
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield provider
    finally:

        async def stop() -> None:
            holder["server"].close()
            for writer in writers:
                writer.close()
            for handler in handlers:  # one still dripping its answer (asleep in its `pause`) stops too
                handler.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await asyncio.sleep(0.05)
            await holder["server"].wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def answer(body: bytes, status: str = "200 OK", headers: bytes = b"content-type: application/json\r\n") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\n".encode() + headers + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


@dataclass
class Gateway:
    base: str
    store: Store
    key: str


@contextmanager
def gateway_to(
    base_url: str, *, anthropic_base: str | None = None, tmp: Path, timeout: float = 3, **options: Any
) -> Iterator[Gateway]:
    """The real gateway (policy middleware, store, uvicorn) with gpt-* routed to `base_url` (openai) and
    claude-* to `anthropic_base` (default: the same server), each provider with `timeout` and `options` (no
    retries unless they say)."""
    options = {"retries": 0, **options}
    config = GatewayConfig(
        providers={
            "openai": ProviderConfig(
                api="openai",
                base_url=base_url,
                api_key_env="STANDIN_OPENAI_KEY",
                models=("gpt-*",),
                timeout=timeout,
                **options,
            ),
            "anthropic": ProviderConfig(
                api="anthropic",
                base_url=anthropic_base or base_url.removesuffix("/v1"),
                api_key_env="STANDIN_ANTHROPIC_KEY",
                models=("claude-*",),
                timeout=timeout,
                **options,
            ),
        }
    )
    store, key = store_with_key(f"sqlite:///{tmp / 'aether.db'}")
    plan = loopback_plan()
    app = create_app(plan, store, config, gate_for(plan))
    try:
        with serve(app) as base:
            yield Gateway(base, store, key)
    finally:
        store.close()


async def refusal(upstream: Upstream, payload: dict[str, Any], path: str) -> GatewayError:
    """The GatewayError that sending `payload` to `path` ends in (a failure if it is sent), the upstream closed."""
    try:
        await upstream.open(payload, stream=False, path=path)
    except GatewayError as error:
        return error
    finally:
        await upstream.aclose()
    raise AssertionError("the upstream call was not refused")
