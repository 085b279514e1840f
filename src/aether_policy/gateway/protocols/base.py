"""The interface every wire protocol implements, and the SSE helpers they share."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from aether_policy.gateway.protocols import ir


class StreamReader(Protocol):
    """One provider stream's server-sent events in, IR events out."""

    def read(self, event: str, data: str) -> Iterator[ir.Event]: ...


class StreamWriter(Protocol):
    """IR events in, one protocol's server-sent events out (bytes ready to send)."""

    def write(self, event: ir.Event) -> Iterator[bytes]: ...

    def close(self) -> Iterator[bytes]:
        """Whatever a well-formed stream still owes its client when the upstream stream has ended."""
        ...


class WireProtocol(Protocol):
    """Everything the gateway knows about one wire protocol. Adding a protocol is one module and one
    registration in `aether_policy.gateway.protocols`."""

    name: str
    caller_paths: tuple[str, ...]
    """Gateway path prefixes whose callers speak this protocol (their errors come in its shape)."""
    chat_route: str
    """The gateway's chat route for callers of this protocol."""
    endpoints: Mapping[str, str]
    """Other endpoints a provider of this protocol serves (`embeddings`, `responses`, `count_tokens`, ...), by
    kind, relative to its `base_url`. A kind a protocol lacks is refused for models its providers serve."""
    caller_headers: tuple[str, ...]
    """Request headers only this protocol's SDK sends: on a shared path (`/v1/models`), its callers get
    answers and errors in its shape."""
    egress_headers: frozenset[str]
    """Headers a call in this protocol needs; the egress guard strips every other undeclared header."""
    moderation_signals: tuple[tuple[str, str], ...]
    """(field, value) pairs by which a response says the provider's own moderation stopped it."""
    structured_output: bool
    """Whether the protocol has native JSON-schema output; without it, `ir.emulate_json_output` forces a tool."""
    passthrough_headers: tuple[str, ...]
    """Caller headers forwarded to a provider of the same protocol (each is also an egress header); a
    translated request carrying one is refused, naming it."""
    """(field, value) pairs by which a response says the provider's own moderation stopped it."""

    def auth_headers(self, key: str | None) -> dict[str, str]: ...

    def call_of(self, path_params: Mapping[str, str], body: Mapping[str, Any]) -> tuple[str, bool]:
        """(model, streaming) of a chat call, from its path or body; `ir.BadRequest` when it names none."""
        ...

    def content_problem(self, body: Mapping[str, Any]) -> str | None:
        """Why a chat body's content has the wrong shape for this protocol, or None."""
        ...

    def chat_path_for(self, model: str, stream: bool) -> str:
        """The provider's chat path, relative to its `base_url`."""
        ...

    def request_to_ir(self, body: Mapping[str, Any]) -> ir.ChatRequest: ...

    def request_from_ir(self, request: ir.ChatRequest) -> dict[str, Any]: ...

    def response_to_ir(self, data: Mapping[str, Any]) -> ir.ChatResponse: ...

    def response_from_ir(self, response: ir.ChatResponse) -> dict[str, Any]: ...

    def stream_reader(self) -> StreamReader: ...

    def stream_writer(self, model: str) -> StreamWriter: ...

    def error_body(self, status: int, message: str, kind: str, code: str | None) -> dict[str, Any]: ...

    def upstream_error_type(self, data: Any) -> str:
        """The type of a provider's error body (`error.type`, Gemini's `error.status`) if this protocol
        defines it, else `unknown`: the only part of an upstream error the gateway relays."""
        ...

    def stream_error(self, message: str) -> bytes: ...

    def model_list(self, models: list[tuple[str, str]]) -> dict[str, Any]:
        """`GET /v1/models` for (model, provider) pairs."""
        ...

    def model_entry(self, model: str, provider: str) -> dict[str, Any]: ...

    def moderation(self, data: Mapping[str, Any]) -> str | None:
        """The provider's moderation verdict in a (non-streamed) response, or None."""
        ...


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event."""
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{head}data: {payload}\n\n".encode()


def text_of(content: Any) -> str:
    """The text of a content value that is a string or a list of text parts (other parts have none)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def arguments_of(raw: Any) -> dict[str, Any]:
    """A tool call's JSON arguments string as an object; anything else is the empty object."""
    try:
        value = json.loads(raw or "{}")
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


class _NonFinite(ValueError):
    """A number in a JSON string that JSON itself cannot carry."""


def _no_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text)
    return value


def non_finite_problem(raw: Any, where: str) -> str | None:
    """Why a JSON-in-a-string value (a tool call's `arguments`) cannot be sent, or None.

    The body's own JSON is parsed strictly (`strict_json`), but this is a string inside it: Python's `json` reads
    `NaN`, `Infinity` and `1e400` in it, which a translated request then fails to write after the fact, and an
    untranslated one would forward. Both paths refuse it here, before any upstream call, naming where it is.
    A string that is not JSON at all is left as it is: the provider answers for it as it would directly.
    """
    if not isinstance(raw, str) or not any(c in raw for c in "NIeE"):
        return None  # the common case: no constant and no exponent, nothing to parse
    try:
        json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except _NonFinite:
        return f"`{where}` has a number JSON cannot carry (NaN, Infinity or out of range); send finite numbers only"
    except (ValueError, RecursionError):
        return None
    return None


UNKNOWN_ERROR = "unknown"
"""The error type relayed for an upstream error whose type is not one its protocol defines."""


def known_error_type(error: Any, field: str, known: frozenset[str]) -> str:
    """The upstream error object's `field` if it is one of the protocol's own error types, else `UNKNOWN_ERROR`.

    A provider's error object is free text as far as the gateway knows: a proxy in front of it, or the provider
    itself, may echo the prompt into any field. Only a value from the protocol's fixed set goes on to the caller;
    nothing else of the error (its `message` least of all) is relayed.
    """
    value = error.get(field) if isinstance(error, dict) else None
    return value if isinstance(value, str) and value in known else UNKNOWN_ERROR


def refuse_unknown(body: Mapping[str, Any], known: frozenset[str]) -> None:
    """Every parameter a translation does not know is refused by name: none is dropped silently.

    A key whose value is null is absent (some clients send every parameter, unset ones as null).
    """
    for key in body:
        if key not in known and body[key] is not None:
            raise ir.Unsupported(key, "is not translated to another provider's protocol")


def model_and_stream_of_body(body: Mapping[str, Any]) -> tuple[str, bool]:
    """(model, streaming) where the body names them, as OpenAI and Anthropic requests do."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ir.BadRequest("`model` is required and must be a string", "missing_model")
    return model, bool(body.get("stream"))


def messages_problem(body: Mapping[str, Any]) -> str | None:
    messages = body.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        return "`messages` must be a non-empty list of objects with a `role`"
    return None
