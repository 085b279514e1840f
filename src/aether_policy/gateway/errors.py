"""Error responses in the shapes the official SDKs parse. None of them ever quotes request content."""

from __future__ import annotations

from starlette.responses import JSONResponse

from aether_policy.types import Scope

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    504: "api_error",
}


def openai_error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


def anthropic_error(status: int, message: str) -> JSONResponse:
    kind = _ANTHROPIC_TYPES.get(status, "api_error")
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)


class GatewayError(Exception):
    """A request the gateway answers with an error: status, a content-free message, and an OpenAI type."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code

    def response(self, flavour: str) -> JSONResponse:
        if flavour == "anthropic":
            return anthropic_error(self.status, self.message)
        return openai_error(self.status, self.message, self.kind, self.code)


def flavour_of(path: str) -> str:
    """Which SDK calls this path: the Anthropic one for `/v1/messages`, the OpenAI one for everything else."""
    return "anthropic" if path == "/v1/messages" or path.startswith("/v1/messages/") else "openai"


def error_body(scope: Scope, status: int, message: str, code: str | None) -> bytes:
    """The middleware's own answers (413, 408, 500) in the shape of the SDK that called the path."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return bytes(GatewayError(status, message, kind, code).response(flavour_of(scope.get("path", ""))).body)
