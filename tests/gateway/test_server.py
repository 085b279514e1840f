"""The header deadline `serve` adds to uvicorn, with each of uvicorn's HTTP/1.1 implementations."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from aether_policy.gateway.server import server_config
from aether_policy.types import Receive, Scope, Send
from tests.helpers import free_port

PROTOCOLS = ["h11", "httptools"]


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def running(http: str, header_timeout: float) -> Iterator[int]:
    port = free_port()
    config = server_config(
        hello, host="127.0.0.1", port=port, header_timeout=header_timeout, http=http, log_level="warning"
    )
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


@pytest.mark.parametrize("http", PROTOCOLS)
def test_headers_that_stop_arriving_get_408_and_the_connection_closes(http: str) -> None:
    with running(http, 0.4) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert answer.endswith(
            b'{"error": {"message": "the request headers did not arrive in time", "type": "invalid_request_error"}}'
        )
        assert 0.3 < time.monotonic() - started < 3


@pytest.mark.parametrize("http", PROTOCOLS)
def test_a_second_request_on_a_kept_alive_connection_has_its_own_deadline(http: str) -> None:
    with running(http, 0.4) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET / HTTP/1.1\r\n")  # and nothing more
        assert read_all(sock).startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("http", PROTOCOLS)
def test_prompt_requests_on_one_connection_are_all_served(http: str) -> None:
    with running(http, 0.4) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for _ in range(4):
            time.sleep(0.2)  # each well within the deadline, together longer than it
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("http", PROTOCOLS)
def test_pipelined_requests_are_all_served(http: str) -> None:
    with running(http, 0.4) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3 + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert read_all(sock).count(b"HTTP/1.1 200 ") == 4


@pytest.mark.parametrize("http", PROTOCOLS)
def test_an_idle_connection_is_closed_without_a_408(http: str) -> None:
    with running(http, 0.4) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - started < 3
