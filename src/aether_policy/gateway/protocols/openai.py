"""The OpenAI chat-completions protocol (`/v1/chat/completions`), spoken by the openai SDK and most clients."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from aether_policy.gateway.protocols import ir
from aether_policy.gateway.protocols.base import (
    arguments_of,
    known_error_type,
    messages_problem,
    model_and_stream_of_body,
    non_finite_problem,
    refuse_unknown,
    sse,
    text_of,
)

name: str = "openai"
caller_paths: tuple[str, ...] = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v1/responses",
)
chat_route: str = "/v1/chat/completions"
endpoints: Mapping[str, str] = {
    "embeddings": "/embeddings",
    "completions": "/completions",
    "responses": "/responses",
}
caller_headers: tuple[str, ...] = ()
structured_output: bool = True
passthrough_headers: tuple[str, ...] = ()
egress_headers: frozenset[str] = frozenset({"authorization", "openai-organization", "openai-project"})
# Chat completions end with `finish_reason`; a Responses answer is `incomplete` with this `reason`.
moderation_signals: tuple[tuple[str, str], ...] = (("finish_reason", "content_filter"), ("reason", "content_filter"))

# The `error.type` values the OpenAI API documents and sends; any other is relayed as `unknown`.
error_types: frozenset[str] = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "conflict_error",
        "unprocessable_entity_error",
        "rate_limit_error",
        "insufficient_quota",
        "tokens",
        "requests",
        "server_error",
        "api_error",
        "timeout",
    }
)

_FINISH_TO_IR: dict[str, ir.Finish] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "moderated",
}
_IR_TO_FINISH = {"stop": "stop", "length": "length", "tool_use": "tool_calls", "moderated": "content_filter"}

# Parameters a translated request carries (or emulates); any other non-null one is refused by name.
_KNOWN = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "user",
        "n",
    }
)


def call_of(path_params: Mapping[str, str], body: Mapping[str, Any]) -> tuple[str, bool]:
    return model_and_stream_of_body(body)


def content_problem(body: Mapping[str, Any]) -> str | None:
    return messages_problem(body) or _arguments_problem(body["messages"])


def _arguments_problem(messages: list[Any]) -> str | None:
    """A tool call's `arguments` string holding NaN or Infinity, translated or not (see `non_finite_problem`)."""
    for i, message in enumerate(messages):
        calls = message.get("tool_calls")
        for j, call in enumerate(calls if isinstance(calls, list) else ()):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                where = f"messages[{i}].tool_calls[{j}].function.arguments"
                problem = non_finite_problem(function.get("arguments"), where)
                if problem is not None:
                    return problem
        legacy = message.get("function_call")  # the deprecated single call
        if isinstance(legacy, dict):
            problem = non_finite_problem(legacy.get("arguments"), f"messages[{i}].function_call.arguments")
            if problem is not None:
                return problem
    return None


def responses_problem(body: Mapping[str, Any]) -> str | None:
    """The Responses API's `function_call` input items carry `arguments` strings too."""
    items = body.get("input")
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if isinstance(item, dict) and item.get("type") == "function_call":
            problem = non_finite_problem(item.get("arguments"), f"input[{i}].arguments")
            if problem is not None:
                return problem
    return None


def chat_path_for(model: str, stream: bool) -> str:
    return "/chat/completions"


def auth_headers(key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"} if key else {}


# -- requests ---------------------------------------------------------------------------------------------------


def _part_of(part: Any) -> ir.Part:
    if isinstance(part, dict) and part.get("type") == "image_url":
        url = part.get("image_url", {}).get("url", "")
        if url.startswith("data:") and ";base64," in url:
            media, data = url[5:].split(";base64,", 1)
            return ir.Image(media_type=media, data=data)
        return ir.Image(url=url)
    if isinstance(part, dict) and part.get("type", "text") != "text":
        raise ir.Unsupported("messages", f"has a `{str(part.get('type'))[:40]}` part no other protocol carries")
    return ir.Text(part.get("text", "") if isinstance(part, dict) else str(part))


def request_to_ir(body: Mapping[str, Any]) -> ir.ChatRequest:
    refuse_unknown(body, _KNOWN)
    if (body.get("n") or 1) != 1:
        raise ir.Unsupported("n", "other than 1 is not translated to another provider's protocol; send n requests")
    request = ir.ChatRequest(model=body["model"], messages=[])
    for message in body.get("messages", []):
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            request.system.append(text_of(content))
            continue
        if role == "tool":
            request.messages.append(
                ir.Message("user", [ir.ToolResult(message.get("tool_call_id", ""), text_of(content))])
            )
            continue
        parts: list[ir.Part] = []
        if isinstance(content, str) and content:
            parts.append(ir.Text(content))
        elif isinstance(content, list):
            parts.extend(_part_of(part) for part in content)
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            parts.append(
                ir.ToolCall(call.get("id", ""), function.get("name", ""), arguments_of(function.get("arguments")))
            )
        request.messages.append(ir.Message("assistant" if role == "assistant" else "user", parts))
    request.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    request.temperature, request.top_p = body.get("temperature"), body.get("top_p")
    stop = body.get("stop")
    if stop:
        request.stop = [stop] if isinstance(stop, str) else list(stop)
    request.stream = bool(body.get("stream"))
    for tool in body.get("tools") or []:
        if tool.get("type") != "function":
            raise ir.Unsupported("tools", f"of type `{str(tool.get('type'))[:40]}` are not translated")
        function = tool["function"]
        request.tools.append(
            ir.Tool(
                function["name"],
                function.get("description", ""),
                function.get("parameters") or {"type": "object", "properties": {}},
            )
        )
    choice = body.get("tool_choice")
    parallel = body.get("parallel_tool_calls") is not False
    if choice in ("auto", "none", "required"):
        request.tool_choice = ir.ToolChoice("any" if choice == "required" else choice, parallel=parallel)
    elif isinstance(choice, dict) and choice.get("type") == "function":
        request.tool_choice = ir.ToolChoice("tool", choice["function"]["name"], parallel=parallel)
    elif choice is not None:
        raise ir.Unsupported("tool_choice", "has a form that is not translated")
    elif not parallel:
        request.tool_choice = ir.ToolChoice("auto", parallel=False)
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema") or {}
        request.json_schema = ir.JsonSchema(
            str(schema.get("name") or "response"), schema.get("schema") or {}, schema.get("strict") is not False
        )
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        request.json_object = True
    elif fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise ir.Unsupported("response_format", "has a type that is not translated")
    effort = body.get("reasoning_effort")
    if effort is not None:
        request.reasoning_effort = next((e for e in ir.EFFORTS if e == effort), None)
        if request.reasoning_effort is None:
            raise ir.Unsupported("reasoning_effort", f"must be one of {', '.join(ir.EFFORTS)}")
    request.user = body.get("user")
    return request


def _content_of(part: ir.Part) -> dict[str, Any]:
    if isinstance(part, ir.Image):
        url = part.url or f"data:{part.media_type};base64,{part.data or ''}"
        return {"type": "image_url", "image_url": {"url": url}}
    assert isinstance(part, ir.Text)
    return {"type": "text", "text": part.text}


def request_from_ir(request: ir.ChatRequest) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": "\n\n".join(request.system)})
    for message in request.messages:
        contents: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, ir.ToolResult):
                messages.append({"role": "tool", "tool_call_id": part.id, "content": part.content})
            elif isinstance(part, ir.ToolCall):
                arguments = json.dumps(part.arguments, allow_nan=False)
                calls.append(
                    {"id": part.id, "type": "function", "function": {"name": part.name, "arguments": arguments}}
                )
            else:
                contents.append(_content_of(part))
        if contents or calls:
            if all(c["type"] == "text" for c in contents) and message.role == "assistant":
                entry: dict[str, Any] = {"role": "assistant", "content": "".join(c["text"] for c in contents) or None}
            else:
                entry = {"role": message.role, "content": contents or None}
            if calls:
                entry["tool_calls"] = calls
            messages.append(entry)
    out: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.max_tokens is not None:
        out["max_completion_tokens"] = request.max_tokens  # `max_tokens` is refused by reasoning models
    for key in ("temperature", "top_p"):
        if getattr(request, key) is not None:
            out[key] = getattr(request, key)
    if request.stop:
        out["stop"] = request.stop
    if request.tools:
        out["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        if choice.mode == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        else:
            out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.mode]
        if not choice.parallel and request.tools:
            out["parallel_tool_calls"] = False
    if request.json_schema is not None:
        schema = request.json_schema
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema.name, "schema": schema.schema, "strict": schema.strict},
        }
    elif request.json_object:
        out["response_format"] = {"type": "json_object"}
    if request.reasoning_effort is not None:
        out["reasoning_effort"] = request.reasoning_effort
    if request.user is not None:
        out["user"] = request.user
    if request.stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # so that a translated stream reports its usage
    return out


# -- responses --------------------------------------------------------------------------------------------------


def response_to_ir(data: Mapping[str, Any]) -> ir.ChatResponse:
    choice = (data.get("choices") or [{}])[0]
    reply = choice.get("message", {})
    parts: list[ir.Part] = []
    if reply.get("content"):
        parts.append(ir.Text(text_of(reply["content"])))
    for call in reply.get("tool_calls") or []:
        function = call.get("function", {})
        parts.append(ir.ToolCall(call.get("id", ""), function["name"], arguments_of(function.get("arguments"))))
    usage = data.get("usage") or {}
    reason = choice.get("finish_reason") or ""
    return ir.ChatResponse(
        id=str(data.get("id") or uuid.uuid4().hex),
        model=str(data.get("model") or ""),
        parts=parts,
        finish=_FINISH_TO_IR.get(reason, "stop"),
        usage=ir.Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
        moderation=reason if _FINISH_TO_IR.get(reason) == "moderated" else None,
    )


def response_from_ir(response: ir.ChatResponse) -> dict[str, Any]:
    text = "".join(p.text for p in response.parts if isinstance(p, ir.Text))
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": json.dumps(p.arguments)}}
        for p in response.parts
        if isinstance(p, ir.ToolCall)
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        reply["tool_calls"] = calls
    prompt, completion = response.usage.input_tokens, response.usage.output_tokens
    return {
        "id": "chatcmpl-" + response.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model,
        "choices": [{"index": 0, "message": reply, "finish_reason": _IR_TO_FINISH[response.finish]}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def moderation(data: Mapping[str, Any]) -> str | None:
    for choice in data.get("choices") or []:
        if isinstance(choice, dict) and choice.get("finish_reason") == "content_filter":
            return "content_filter"
    return None


# -- streams ----------------------------------------------------------------------------------------------------


class Reader:
    """chat.completion.chunk events in, IR events out."""

    def __init__(self) -> None:
        self._started = False
        self._tools: set[int] = set()

    def read(self, event: str, data: str) -> Iterator[ir.Event]:
        if data.strip() == "[DONE]":
            yield ir.End()
            return
        payload = json.loads(data)
        if "error" in payload:
            yield ir.StreamFailed(upstream_error_type(payload))
            return
        if not self._started:
            self._started = True
            yield ir.Start(str(payload.get("id") or ""), str(payload.get("model") or ""))
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                yield ir.TextDelta(delta["content"])
            for call in delta.get("tool_calls") or []:
                index = call.get("index", 0)
                function = call.get("function") or {}
                if index not in self._tools:
                    self._tools.add(index)
                    yield ir.ToolStart(index, call.get("id", ""), function.get("name", ""))
                if function.get("arguments"):
                    yield ir.ToolArguments(index, function["arguments"])
            reason = choice.get("finish_reason")
            if reason:
                finish = _FINISH_TO_IR.get(reason, "stop")
                yield ir.Finished(finish, reason if finish == "moderated" else None)
        usage = payload.get("usage")
        if usage:
            yield ir.UsageReport(usage.get("prompt_tokens"), usage.get("completion_tokens"))


class Writer:
    """IR events in, chat.completion.chunk events out; usage in a last chunk before `[DONE]`, as OpenAI sends
    it with `stream_options.include_usage`."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.model = model
        self.created = int(time.time())
        self.usage = ir.Usage()
        self._tools: dict[int, int] = {}
        self._done = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [choice],
            }
        )

    def write(self, event: ir.Event) -> Iterator[bytes]:
        if isinstance(event, ir.Start):
            self.model = event.model or self.model
            self.usage.input_tokens = event.input_tokens
            yield self._chunk({"role": "assistant", "content": ""})
        elif isinstance(event, ir.TextDelta):
            yield self._chunk({"content": event.text})
        elif isinstance(event, ir.ToolStart):
            index = self._tools.setdefault(event.index, len(self._tools))
            call = {
                "index": index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            yield self._chunk({"tool_calls": [call]})
        elif isinstance(event, ir.ToolArguments):
            index = self._tools.get(event.index, 0)
            yield self._chunk({"tool_calls": [{"index": index, "function": {"arguments": event.partial_json}}]})
        elif isinstance(event, ir.Finished):
            yield self._chunk({}, _IR_TO_FINISH[event.finish])
        elif isinstance(event, ir.UsageReport):
            self.usage.take(event)
        elif isinstance(event, ir.End):
            yield from self.close()
        elif isinstance(event, ir.StreamFailed):
            yield stream_error("upstream stream error", event.kind)

    def close(self) -> Iterator[bytes]:
        if self._done:
            return
        self._done = True
        prompt, completion = self.usage.input_tokens, self.usage.output_tokens
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        yield sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage,
            }
        )
        yield b"data: [DONE]\n\n"


def stream_reader() -> Reader:
    return Reader()


def stream_writer(model: str) -> Writer:
    return Writer(model)


# -- errors -----------------------------------------------------------------------------------------------------


def upstream_error_type(data: Any) -> str:
    """`error.type` of a provider's error body, if OpenAI defines it (`base.known_error_type`)."""
    return known_error_type(data.get("error") if isinstance(data, dict) else None, "type", error_types)


def error_body(status: int, message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def stream_error(message: str, kind: str = "upstream_error") -> bytes:
    return sse({"error": {"message": message, "type": kind}})


# -- models -----------------------------------------------------------------------------------------------------


def model_entry(model: str, provider: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": provider}


def model_list(models: list[tuple[str, str]]) -> dict[str, Any]:
    return {"object": "list", "data": [model_entry(m, p) for m, p in models]}
