"""The Anthropic Messages protocol (`/v1/messages`), spoken by the anthropic SDK and Claude Code."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from aether_policy.gateway.protocols import ir
from aether_policy.gateway.protocols.base import (
    known_error_type,
    messages_problem,
    model_and_stream_of_body,
    refuse_unknown,
    sse,
    text_of,
)

name: str = "anthropic"
caller_paths: tuple[str, ...] = ("/v1/messages",)
chat_route: str = "/v1/messages"
endpoints: Mapping[str, str] = {"count_tokens": "/v1/messages/count_tokens"}
caller_headers: tuple[str, ...] = ("anthropic-version",)
structured_output: bool = False  # `output_format` is a beta some models lack: a forced tool works on all
passthrough_headers: tuple[str, ...] = ("anthropic-beta",)
egress_headers: frozenset[str] = frozenset({"x-api-key", "anthropic-version", "anthropic-beta"})
moderation_signals: tuple[tuple[str, str], ...] = (("stop_reason", "refusal"),)
# The `error.type` values Anthropic documents; any other is relayed as `unknown`.
error_types: frozenset[str] = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
    }
)
VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires `max_tokens`; an OpenAI request may leave it out."""

_STOP_TO_IR: dict[str, ir.Finish] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_use",
    "refusal": "moderated",
}
_IR_TO_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_use": "tool_use", "moderated": "refusal"}
_KNOWN = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "temperature",
        "top_p",
        "stop_sequences",
        "stream",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
        "output_format",
        "output_config",
    }
)
# `thinking.budget_tokens` as a reasoning effort: the budgets Anthropic's documentation gives as small,
# moderate and large. The upper bounds are exclusive.
_EFFORT_BY_BUDGET: tuple[tuple[int, Literal["low", "medium"]], ...] = ((4096, "low"), (16384, "medium"))


def call_of(path_params: Mapping[str, str], body: Mapping[str, Any]) -> tuple[str, bool]:
    return model_and_stream_of_body(body)


def content_problem(body: Mapping[str, Any]) -> str | None:
    return messages_problem(body)


def chat_path_for(model: str, stream: bool) -> str:
    return "/v1/messages"


def auth_headers(key: str | None) -> dict[str, str]:
    headers = {"anthropic-version": VERSION}
    if key:
        headers["x-api-key"] = key
    return headers


# -- requests ---------------------------------------------------------------------------------------------------


def _part_of(block: Mapping[str, Any]) -> ir.Part:
    kind = block.get("type")
    if kind == "text":
        return ir.Text(block.get("text", ""))
    if kind == "image":
        source = block.get("source", {})
        if source.get("type") == "url":
            return ir.Image(url=source.get("url", ""))
        return ir.Image(media_type=source.get("media_type"), data=source.get("data", ""))
    if kind == "tool_use":
        arguments = block.get("input", {})
        return ir.ToolCall(block.get("id", ""), block.get("name", ""), arguments if isinstance(arguments, dict) else {})
    if kind == "tool_result":
        return ir.ToolResult(block.get("tool_use_id", ""), text_of(block.get("content")))
    raise ir.Unsupported("messages", f"has a `{str(kind)[:40]}` block no other protocol carries")


def request_to_ir(body: Mapping[str, Any]) -> ir.ChatRequest:
    refuse_unknown(body, _KNOWN)
    request = ir.ChatRequest(model=body["model"], messages=[])
    system = body.get("system")
    if system:
        request.system.append(text_of(system))
    for message in body.get("messages", []):
        role, content = message.get("role"), message.get("content")
        parts: list[ir.Part] = [ir.Text(content)] if isinstance(content, str) else [_part_of(b) for b in content or []]
        request.messages.append(ir.Message("assistant" if role == "assistant" else "user", parts))
    request.max_tokens = body.get("max_tokens")
    request.temperature, request.top_p = body.get("temperature"), body.get("top_p")
    request.stop = list(body.get("stop_sequences") or [])
    request.stream = bool(body.get("stream"))
    for tool in body.get("tools") or []:
        if tool.get("type") not in (None, "custom"):
            raise ir.Unsupported("tools", f"of type `{str(tool.get('type'))[:40]}` are not translated")
        request.tools.append(ir.Tool(tool["name"], tool.get("description", ""), tool.get("input_schema") or {}))
    choice = body.get("tool_choice")
    if choice is not None:
        mode = choice.get("type")
        if mode not in ("auto", "any", "none", "tool"):
            raise ir.Unsupported("tool_choice", "has a type that is not translated")
        parallel = not choice.get("disable_parallel_tool_use", False)
        request.tool_choice = ir.ToolChoice(mode, choice.get("name") if mode == "tool" else None, parallel)
    config = body.get("output_config") or {}
    if set(config) - {"format", "effort"}:
        raise ir.Unsupported("output_config", "is translated only with `format` and `effort`")
    for param, fmt in (("output_format", body.get("output_format")), ("output_config.format", config.get("format"))):
        if fmt is not None:  # `output_format` is the structured-outputs beta's spelling
            if fmt.get("type") != "json_schema":
                raise ir.Unsupported(param, "has a type that is not translated")
            request.json_schema = ir.JsonSchema("output", fmt.get("schema") or {}, True)
    thinking = body.get("thinking") or {}
    kind = thinking.get("type")
    if kind == "enabled":
        budget = int(thinking.get("budget_tokens") or 0)
        request.reasoning_effort = next((e for bound, e in _EFFORT_BY_BUDGET if budget < bound), "high")
    elif kind not in (None, "disabled", "adaptive"):  # adaptive: the model decides, as it does by default
        raise ir.Unsupported("thinking", "has a type that is not translated")
    effort = config.get("effort")
    if effort is not None:
        if effort not in ir.EFFORTS:
            raise ir.Unsupported("output_config.effort", f"must be one of {', '.join(ir.EFFORTS)}")
        request.reasoning_effort = effort
    metadata = body.get("metadata") or {}
    if set(metadata) - {"user_id"}:
        raise ir.Unsupported("metadata", "is translated only with `user_id`")
    request.user = metadata.get("user_id")
    return request


def _block_of(part: ir.Part) -> dict[str, Any]:
    if isinstance(part, ir.Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, ir.Image):
        if part.url is not None:
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        return {"type": "image", "source": {"type": "base64", "media_type": part.media_type, "data": part.data}}
    if isinstance(part, ir.ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
    return {"type": "tool_result", "tool_use_id": part.id, "content": part.content}


def request_from_ir(request: ir.ChatRequest) -> dict[str, Any]:
    if request.json_schema is not None or request.json_object:  # emulated before this (ir.emulate_json_output)
        raise ir.Unsupported("response_format", "is not translated for Anthropic models")
    if request.reasoning_effort in ("none", "minimal"):
        raise ir.Unsupported("reasoning_effort", f"`{request.reasoning_effort}` has no Anthropic equivalent")
    out: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": [_block_of(p) for p in m.parts]} for m in request.messages],
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    if request.system:
        out["system"] = "\n\n".join(request.system)
    for key in ("temperature", "top_p"):
        if getattr(request, key) is not None:
            out[key] = getattr(request, key)
    if request.stop:
        out["stop_sequences"] = request.stop
    if request.stream:
        out["stream"] = True
    if request.tools:
        out["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        tool_choice: dict[str, Any] = {"type": choice.mode}
        if choice.mode == "tool":
            tool_choice["name"] = choice.name
        if not choice.parallel and choice.mode != "none":
            tool_choice["disable_parallel_tool_use"] = True
        out["tool_choice"] = tool_choice
    if request.user is not None:
        out["metadata"] = {"user_id": request.user}
    if request.reasoning_effort is not None:
        out["output_config"] = {"effort": request.reasoning_effort}
    return out


# -- responses --------------------------------------------------------------------------------------------------


def response_to_ir(data: Mapping[str, Any]) -> ir.ChatResponse:
    parts: list[ir.Part] = []
    for block in data.get("content", []):
        if block.get("type") == "text":
            parts.append(ir.Text(block.get("text", "")))
        elif block.get("type") == "tool_use":
            arguments = block.get("input", {})
            parts.append(
                ir.ToolCall(block.get("id", ""), block["name"], arguments if isinstance(arguments, dict) else {})
            )
    usage = data.get("usage") or {}
    reason = data.get("stop_reason") or ""
    return ir.ChatResponse(
        id=str(data.get("id") or uuid.uuid4().hex),
        model=str(data.get("model") or ""),
        parts=parts,
        finish=_STOP_TO_IR.get(reason, "stop"),
        usage=ir.Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)),
        moderation=reason if reason == "refusal" else None,
    )


def response_from_ir(response: ir.ChatResponse) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    text = "".join(p.text for p in response.parts if isinstance(p, ir.Text))
    if text:
        content.append({"type": "text", "text": text})
    content += [_block_of(p) for p in response.parts if isinstance(p, ir.ToolCall)]
    return {
        "id": "msg_" + response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": _IR_TO_STOP[response.finish],
        "stop_sequence": None,
        "usage": {"input_tokens": response.usage.input_tokens, "output_tokens": response.usage.output_tokens},
    }


def moderation(data: Mapping[str, Any]) -> str | None:
    return "refusal" if data.get("stop_reason") == "refusal" else None


# -- streams ----------------------------------------------------------------------------------------------------


class Reader:
    """Messages stream events in, IR events out."""

    def read(self, event: str, data: str) -> Iterator[ir.Event]:
        payload = json.loads(data)
        kind = payload.get("type", event)
        if kind == "message_start":
            message = payload.get("message", {})
            usage = message.get("usage") or {}
            yield ir.Start(
                str(message.get("id") or ""), str(message.get("model") or ""), int(usage.get("input_tokens") or 0)
            )
        elif kind == "content_block_start":
            block = payload.get("content_block", {})
            if block.get("type") == "tool_use":
                yield ir.ToolStart(payload.get("index", 0), block.get("id", ""), block.get("name", ""))
        elif kind == "content_block_delta":
            delta = payload.get("delta", {})
            if delta.get("type") == "text_delta":
                yield ir.TextDelta(delta.get("text", ""))
            elif delta.get("type") == "input_json_delta":
                yield ir.ToolArguments(payload.get("index", 0), delta.get("partial_json", ""))
        elif kind == "message_delta":
            reason = payload.get("delta", {}).get("stop_reason") or ""
            finish = _STOP_TO_IR.get(reason, "stop")
            yield ir.Finished(finish, reason if finish == "moderated" else None)
            usage = payload.get("usage") or {}
            yield ir.UsageReport(usage.get("input_tokens"), usage.get("output_tokens"))
        elif kind == "message_stop":
            yield ir.End()
        elif kind == "error":
            yield ir.StreamFailed(upstream_error_type(payload))


class Writer:
    """IR events in, Messages stream events out; blocks open and close in order, usage in `message_delta`."""

    def __init__(self, model: str) -> None:
        self.id = "msg_" + uuid.uuid4().hex
        self.model = model
        self.usage = ir.Usage()
        self._started = False
        self._open: int | None = None
        self._open_tool: int | None = None
        self._blocks = 0
        self._tools: dict[int, int] = {}
        self._stop = "end_turn"
        self._done = False

    def _start(self, input_tokens: int = 0) -> Iterator[bytes]:
        if not self._started:
            self._started = True
            self.usage.input_tokens = input_tokens
            message: dict[str, Any] = {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 0},
            }
            yield sse({"type": "message_start", "message": message}, "message_start")

    def _close_block(self) -> Iterator[bytes]:
        if self._open is not None:
            yield sse({"type": "content_block_stop", "index": self._open}, "content_block_stop")
            self._open = self._open_tool = None

    def _open_block(self, block: dict[str, Any]) -> Iterator[bytes]:
        yield from self._close_block()
        self._open = self._blocks
        self._blocks += 1
        yield sse({"type": "content_block_start", "index": self._open, "content_block": block}, "content_block_start")

    def write(self, event: ir.Event) -> Iterator[bytes]:
        if isinstance(event, ir.Start):
            self.model = event.model or self.model
            yield from self._start(event.input_tokens)
            return
        yield from self._start()
        if isinstance(event, ir.TextDelta):
            if self._open is None or self._open_tool is not None:
                yield from self._open_block({"type": "text", "text": ""})
            delta = {"type": "text_delta", "text": event.text}
            yield sse({"type": "content_block_delta", "index": self._open, "delta": delta}, "content_block_delta")
        elif isinstance(event, ir.ToolStart):
            yield from self._open_block({"type": "tool_use", "id": event.id, "name": event.name, "input": {}})
            self._open_tool = event.index
            self._tools[event.index] = self._open or 0
        elif isinstance(event, ir.ToolArguments):
            index = self._tools.get(event.index, self._open or 0)
            delta = {"type": "input_json_delta", "partial_json": event.partial_json}
            yield sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
        elif isinstance(event, ir.Finished):
            self._stop = _IR_TO_STOP[event.finish]
        elif isinstance(event, ir.UsageReport):
            self.usage.take(event)
        elif isinstance(event, ir.End):
            yield from self.close()
        elif isinstance(event, ir.StreamFailed):
            yield sse({"type": "error", "error": {"type": event.kind, "message": "upstream stream error"}}, "error")

    def close(self) -> Iterator[bytes]:
        if self._done:
            return
        self._done = True
        yield from self._start()
        yield from self._close_block()
        usage = {"input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens}
        delta = {"type": "message_delta", "delta": {"stop_reason": self._stop, "stop_sequence": None}, "usage": usage}
        yield sse(delta, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")


def stream_reader() -> Reader:
    return Reader()


def stream_writer(model: str) -> Writer:
    return Writer(model)


# -- errors -----------------------------------------------------------------------------------------------------

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def upstream_error_type(data: Any) -> str:
    """`error.type` of a provider's error body, if Anthropic defines it (`base.known_error_type`)."""
    return known_error_type(data.get("error") if isinstance(data, dict) else None, "type", error_types)


def error_body(status: int, message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}


def stream_error(message: str) -> bytes:
    return sse({"type": "error", "error": {"type": "api_error", "message": message}}, "error")


# -- models -----------------------------------------------------------------------------------------------------


def model_entry(model: str, provider: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model, "created_at": "1970-01-01T00:00:00Z"}


def model_list(models: list[tuple[str, str]]) -> dict[str, Any]:
    data = [model_entry(m, p) for m, p in models]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
