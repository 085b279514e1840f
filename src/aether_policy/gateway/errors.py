"""Error responses in the shapes the official SDKs parse. None of them ever quotes request content."""

from __future__ import annotations

from starlette.responses import JSONResponse

from aether_policy.gateway import protocols
from aether_policy.gateway.protocols import WireProtocol
from aether_policy.types import Scope


class GatewayError(Exception):
    """A request the gateway answers with an error: status, a content-free message, and an OpenAI type."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None = None,
        *,
        provider_failed: bool = False,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code
        self.provider_failed = provider_failed
        """The provider could not answer (refused, unreachable, 5xx or 429 after retries): another provider
        might (`gateway.fallback`). Never set for a timeout, a refused request or the egress guard's refusal."""
        self.retry_after = retry_after
        """Whole seconds the caller is told to wait (`Retry-After`), when the provider asked for a wait."""

    def response(self, protocol: WireProtocol) -> JSONResponse:
        """The error in the shape of the protocol the caller speaks."""
        body = protocol.error_body(self.status, self.message, self.kind, self.code)
        response = JSONResponse(body, status_code=self.status)
        if self.retry_after is not None:
            response.headers["retry-after"] = str(self.retry_after)
        return response


def error_body(scope: Scope, status: int, message: str, code: str | None) -> bytes:
    """The middleware's own answers (413, 408, 500) in the shape of the SDK that called the path."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return bytes(GatewayError(status, message, kind, code).response(protocols.for_path(scope.get("path", ""))).body)
