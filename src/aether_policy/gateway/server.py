"""How `serve` runs the gateway under uvicorn: what uvicorn does by default that the policy cannot allow.

- uvicorn trusts `X-Forwarded-For` from 127.0.0.1 by default (`proxy_headers`, `FORWARDED_ALLOW_IPS`), and
  rewrites the client address before any middleware sees it. That is switched off: the policy middleware
  reads forwarded headers itself, only from the proxies the operator names (`--forwarded-allow-ips`).
- uvicorn's access log prints the raw path and query string (`?api_key=…` included). It is switched off and
  the middleware's own line, with the route template instead, is printed through uvicorn's access handler.
  So is WebSocket support (the gateway has no WebSocket route), whose handshake log lines carry the same.
- uvicorn has no deadline for a request's headers: a client that sends one byte (which cancels the keep-alive
  timer) and then trickles the rest holds the connection forever. The protocol classes below add one: a
  request's headers must be complete within `header_timeout` seconds of the connection opening or of the
  previous response; otherwise the client gets 408 and the connection closes. The body has its own deadline
  in the middleware (`body_timeout`).
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import h11
import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from aether_policy.types import ASGIApp

_TIMED_OUT = json.dumps(
    {"error": {"message": "the request headers did not arrive in time", "type": "invalid_request_error"}}
).encode()
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMED_OUT)).encode() + b"\r\n\r\n" + _TIMED_OUT
)


class _HeaderDeadline(asyncio.Protocol):
    """The deadline itself, shared by both protocol classes. `header_timeout` is set on the subclass.

    It is listed before uvicorn's protocol class, so its connection hooks run first and hand on to uvicorn's;
    each subclass adds only how its parser says that a request's headers are complete.
    """

    header_timeout: float
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._header_bytes = True
        super().data_received(data)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_bytes = False
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._header_bytes:  # a request was started and not finished: say why it is refused
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()  # an idle connection just closes, as uvicorn's keep-alive timeout does


class H11WithHeaderDeadline(_HeaderDeadline, H11Protocol):
    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # a whole request line and headers arrived
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        # Armed before the base class resumes a pipelined request, whose handling disarms it again.
        if not self.transport.is_closing():
            self._arm_header_deadline()
        super().on_response_complete()


def _httptools_class() -> type[asyncio.Protocol] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional in uvicorn; h11 then serves alone
        return None

    class HttpToolsWithHeaderDeadline(_HeaderDeadline, HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            self._disarm_header_deadline()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            pipelined = bool(self.pipeline)  # a pipelined request's headers are already complete
            super().on_response_complete()
            if not pipelined and not self.transport.is_closing():
                self._arm_header_deadline()

    return HttpToolsWithHeaderDeadline


def protocol_class(header_timeout: float, http: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol (httptools when installed, as uvicorn's `auto`) with the header deadline."""
    base = _httptools_class() if http in ("auto", "httptools") else None
    if base is None:
        if http == "httptools":
            raise ValueError("httptools is not installed; use http='h11'")
        base = H11WithHeaderDeadline
    return type(base.__name__, (base,), {"header_timeout": header_timeout})


def log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logging, plus the middleware's access line on uvicorn's access handler and formatter."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if access_log:
        config["loggers"]["aether_policy.access"] = {"handlers": ["access"], "level": "INFO", "propagate": False}
    return config


def server_options(
    *,
    host: str,
    port: int,
    header_timeout: float = 10.0,
    access_log: bool = True,
    log_level: str = "info",
    http: str = "auto",
) -> dict[str, Any]:
    """The uvicorn settings `serve` runs with, one process or many; the app logs its own access line."""
    return {
        "host": host,
        "port": port,
        "http": protocol_class(header_timeout, http),
        "log_level": log_level,
        "log_config": log_config(access_log),
        "access_log": False,  # uvicorn's line has the raw path and query string
        "proxy_headers": False,  # forwarded headers are the middleware's, from named proxies only
        "ws": "none",  # no WebSocket routes; uvicorn's WebSocket protocols log the raw path and query string
        "server_header": False,
    }


def server_config(app: ASGIApp, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of one `serve` process (see `server_options`)."""
    return uvicorn.Config(app, **server_options(**options))
