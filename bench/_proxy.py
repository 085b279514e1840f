"""The floor bench/gateway.py measures the gateway against: the least a Python proxy can do on the same stack.

Raw ASGI under uvicorn+httptools, the caller's body forwarded as bytes over one aiohttp session to the
upstream named by `BENCH_UPSTREAM`, the answer relayed as it comes (chunk by chunk when it streams). No
authentication, no policy, no parsing: whatever the gateway adds beyond this is the price of what it does.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8000")
_session: aiohttp.ClientSession | None = None


async def app(scope: Any, receive: Any, send: Any) -> None:
    global _session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _session is not None:
                    await _session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http" or _session is None:
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    async with _session.post(UPSTREAM + scope["path"], data=body, headers=headers) as upstream:
        kind = upstream.headers.get("content-type", "application/json").encode()
        await send({"type": "http.response.start", "status": upstream.status, "headers": [(b"content-type", kind)]})
        if kind.startswith(b"text/event-stream"):
            async for chunk in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": await upstream.read()})
