"""The Google Gemini protocol (`models/{model}:generateContent`, `:streamGenerateContent?alt=sse`), spoken by the
google-genai SDK. The model and whether to stream are in the path, not the body."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from aether_policy.gateway.protocols import ir
from aether_policy.gateway.protocols.base import known_error_type, refuse_unknown, sse

name: str = "gemini"
caller_paths: tuple[str, ...] = ("/v1beta/models",)
chat_route: str = "/v1beta/models/{target:path}"
endpoints: Mapping[str, str] = {}
caller_headers: tuple[str, ...] = ("x-goog-api-key",)
structured_output: bool = True
passthrough_headers: tuple[str, ...] = ()
egress_headers: frozenset[str] = frozenset({"x-goog-api-key"})
moderation_signals: tuple[tuple[str, str], ...] = (
    ("finishReason", "SAFETY"),
    ("finishReason", "PROHIBITED_CONTENT"),
    ("finishReason", "BLOCKLIST"),
    ("finishReason", "SPII"),
    ("blockReason", "SAFETY"),
    ("blockReason", "PROHIBITED_CONTENT"),
)
_MODERATED = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"})
_FINISH_TO_IR: dict[str, ir.Finish] = {"STOP": "stop", "MAX_TOKENS": "length", **dict.fromkeys(_MODERATED, "moderated")}
_IR_TO_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_use": "STOP", "moderated": "SAFETY"}
_METHODS = {"generateContent": False, "streamGenerateContent": True}
_KNOWN = frozenset({"contents", "systemInstruction", "generationConfig", "tools", "toolConfig"})
_KNOWN_CONFIG = frozenset(
    {
        "temperature",
        "topP",
        "maxOutputTokens",
        "stopSequences",
        "candidateCount",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "thinkingConfig",
    }
)
_MODES = {"AUTO": "auto", "ANY": "any", "NONE": "none"}


def call_of(path_params: Mapping[str, str], body: Mapping[str, Any]) -> tuple[str, bool]:
    model, _, method = path_params.get("target", "").rpartition(":")
    if method not in _METHODS:
        raise ir.BadRequest("only generateContent and streamGenerateContent are served", "not_found", 404)
    if not model:
        raise ir.BadRequest("the path names no model", "missing_model")
    return model, _METHODS[method]


def content_problem(body: Mapping[str, Any]) -> str | None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents or not all(isinstance(c, dict) for c in contents):
        return "`contents` must be a non-empty list of objects"
    return None


def chat_path_for(model: str, stream: bool) -> str:
    quoted = urllib.parse.quote(model, safe="")  # a pattern-routed name is the caller's text: no `/` or `..`
    return (
        f"/v1beta/models/{quoted}:streamGenerateContent?alt=sse"
        if stream
        else f"/v1beta/models/{quoted}:generateContent"
    )


def auth_headers(key: str | None) -> dict[str, str]:
    return {"x-goog-api-key": key} if key else {}


# -- requests ---------------------------------------------------------------------------------------------------


def _parts_of(content: Mapping[str, Any], calls: dict[str, str]) -> list[ir.Part]:
    parts: list[ir.Part] = []
    for part in content.get("parts") or []:
        if "text" in part:
            if part.get("thought"):
                continue  # the model's own summarised thinking, replayed: not content for another provider
            parts.append(ir.Text(str(part["text"])))
        elif "inlineData" in part:
            data = part["inlineData"]
            parts.append(ir.Image(media_type=data.get("mimeType"), data=data.get("data", "")))
        elif "fileData" in part:
            parts.append(ir.Image(url=part["fileData"].get("fileUri", "")))
        elif "functionCall" in part:
            call = part["functionCall"]
            call_id = str(call.get("id") or call["name"])
            calls[call_id] = call["name"]
            args = call.get("args") or {}
            parts.append(ir.ToolCall(call_id, call["name"], args if isinstance(args, dict) else {}))
        elif "functionResponse" in part:
            result = part["functionResponse"]
            call_id = str(result.get("id") or result["name"])
            parts.append(ir.ToolResult(call_id, json.dumps(result.get("response", {}))))
        else:
            raise ir.Unsupported("contents", f"has a `{next(iter(part), '')[:40]}` part no other protocol carries")
    return parts


def request_to_ir(body: Mapping[str, Any]) -> ir.ChatRequest:
    refuse_unknown(body, _KNOWN)
    request = ir.ChatRequest(model="", messages=[])
    calls: dict[str, str] = {}
    system = body.get("systemInstruction")
    if system:
        request.system.append("".join(p.get("text", "") for p in system.get("parts") or []))
    for content in body["contents"]:
        role: ir.Role = "assistant" if content.get("role") == "model" else "user"
        request.messages.append(ir.Message(role, _parts_of(content, calls)))
    config = body.get("generationConfig") or {}
    for key in config:
        if key not in _KNOWN_CONFIG and config[key] is not None:
            raise ir.Unsupported(f"generationConfig.{key}", "is not translated to another provider's protocol")
    if (config.get("candidateCount") or 1) != 1:
        raise ir.Unsupported("generationConfig.candidateCount", "other than 1 is not translated")
    request.temperature, request.top_p = config.get("temperature"), config.get("topP")
    request.max_tokens = config.get("maxOutputTokens")
    request.stop = list(config.get("stopSequences") or [])
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if schema is not None:
        request.json_schema = ir.JsonSchema("response", schema, True)
    elif config.get("responseMimeType") == "application/json":
        request.json_object = True
    thinking = config.get("thinkingConfig") or {}
    budget = thinking.get("thinkingBudget")
    if isinstance(budget, int) and budget > 0:
        request.reasoning_effort = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    for tool in body.get("tools") or []:
        if set(tool) - {"functionDeclarations"}:
            raise ir.Unsupported("tools", "other than functionDeclarations are not translated")
        for function in tool.get("functionDeclarations") or []:
            parameters = function.get("parametersJsonSchema") or function.get("parameters") or {"type": "object"}
            request.tools.append(ir.Tool(function["name"], function.get("description", ""), parameters))
    mode_config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = mode_config.get("mode")
    if mode is not None:
        allowed = mode_config.get("allowedFunctionNames") or []
        if mode == "ANY" and len(allowed) == 1:
            request.tool_choice = ir.ToolChoice("tool", allowed[0])
        elif mode in _MODES and not allowed:
            request.tool_choice = ir.ToolChoice(_MODES[mode])  # type: ignore[arg-type]
        else:
            raise ir.Unsupported("toolConfig", "is translated only as AUTO, ANY (with at most one name) or NONE")
    return request


def _part_of(part: ir.Part, names: Mapping[str, str]) -> dict[str, Any]:
    if isinstance(part, ir.Text):
        return {"text": part.text}
    if isinstance(part, ir.Image):
        if part.url is not None:
            return {"fileData": {"fileUri": part.url}}
        return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
    if isinstance(part, ir.ToolCall):
        return {"functionCall": {"id": part.id, "name": part.name, "args": part.arguments}}
    try:
        response = json.loads(part.content)
    except ValueError:
        response = None
    if not isinstance(response, dict):
        response = {"result": part.content}
    return {"functionResponse": {"id": part.id, "name": names.get(part.id, part.id), "response": response}}


def request_from_ir(request: ir.ChatRequest) -> dict[str, Any]:
    names = {p.id: p.name for m in request.messages for p in m.parts if isinstance(p, ir.ToolCall)}
    out: dict[str, Any] = {
        "contents": [
            {"role": "model" if m.role == "assistant" else "user", "parts": [_part_of(p, names) for p in m.parts]}
            for m in request.messages
        ]
    }
    if request.system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(request.system)}]}
    config: dict[str, Any] = {}
    for key, value in (
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("maxOutputTokens", request.max_tokens),
    ):
        if value is not None:
            config[key] = value
    if request.stop:
        config["stopSequences"] = request.stop
    if request.json_schema is not None:
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = request.json_schema.schema
    elif request.json_object:
        config["responseMimeType"] = "application/json"
    if request.reasoning_effort is not None:
        budgets = {"none": 0, "minimal": 512, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
        config["thinkingConfig"] = {"thinkingBudget": budgets[request.reasoning_effort]}
    if config:
        out["generationConfig"] = config
    if request.tools:
        declarations = [
            {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters} for t in request.tools
        ]
        out["tools"] = [{"functionDeclarations": declarations}]
    choice = request.tool_choice
    if choice is not None:
        calling: dict[str, Any] = {"mode": {"auto": "AUTO", "any": "ANY", "none": "NONE", "tool": "ANY"}[choice.mode]}
        if choice.mode == "tool":
            calling["allowedFunctionNames"] = [choice.name]
        out["toolConfig"] = {"functionCallingConfig": calling}
    return out


# -- responses --------------------------------------------------------------------------------------------------


def response_to_ir(data: Mapping[str, Any]) -> ir.ChatResponse:
    candidates = data.get("candidates") or []
    candidate = candidates[0] if candidates else {}
    parts = _parts_of(candidate.get("content") or {}, {})
    usage = data.get("usageMetadata") or {}
    reason = str(candidate.get("finishReason") or "")
    blocked = (data.get("promptFeedback") or {}).get("blockReason")
    finish = _FINISH_TO_IR.get(reason, "stop")
    if any(isinstance(p, ir.ToolCall) for p in parts) and finish == "stop":
        finish = "tool_use"
    if blocked:
        finish, reason = "moderated", str(blocked)
    return ir.ChatResponse(
        id=str(data.get("responseId") or uuid.uuid4().hex),
        model=str(data.get("modelVersion") or ""),
        parts=parts,
        finish=finish,
        usage=ir.Usage(int(usage.get("promptTokenCount") or 0), int(usage.get("candidatesTokenCount") or 0)),
        moderation=reason if finish == "moderated" else None,
    )


def response_from_ir(response: ir.ChatResponse) -> dict[str, Any]:
    parts = [_part_of(p, {}) for p in response.parts if isinstance(p, ir.Text | ir.ToolCall)]
    usage = response.usage
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": _IR_TO_FINISH[response.finish], "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": usage.input_tokens,
            "candidatesTokenCount": usage.output_tokens,
            "totalTokenCount": usage.input_tokens + usage.output_tokens,
        },
        "modelVersion": response.model,
        "responseId": response.id,
    }


def moderation(data: Mapping[str, Any]) -> str | None:
    blocked = (data.get("promptFeedback") or {}).get("blockReason")
    if blocked:
        return str(blocked)[:40]
    for candidate in data.get("candidates") or []:
        if isinstance(candidate, dict) and candidate.get("finishReason") in _MODERATED:
            return str(candidate["finishReason"])
    return None


# -- streams ----------------------------------------------------------------------------------------------------


class Reader:
    """GenerateContentResponse chunks in, IR events out. Each chunk carries whole parts; a function call
    arrives whole, so it is a tool start and its arguments at once."""

    def __init__(self) -> None:
        self._started = False
        self._tools = 0

    def read(self, event: str, data: str) -> Iterator[ir.Event]:
        payload = json.loads(data)
        if "error" in payload:
            yield ir.StreamFailed(upstream_error_type(payload))
            return
        if not self._started:
            self._started = True
            yield ir.Start(str(payload.get("responseId") or ""), str(payload.get("modelVersion") or ""))
        answer = response_to_ir(payload)
        for part in answer.parts:
            if isinstance(part, ir.Text):
                yield ir.TextDelta(part.text)
            elif isinstance(part, ir.ToolCall):
                yield ir.ToolStart(self._tools, part.id, part.name)
                yield ir.ToolArguments(self._tools, json.dumps(part.arguments))
                self._tools += 1
        candidates = payload.get("candidates") or [{}]
        if candidates[0].get("finishReason") or answer.finish == "moderated":
            yield ir.Finished(
                "tool_use" if self._tools and answer.finish == "stop" else answer.finish, answer.moderation
            )
        usage = payload.get("usageMetadata")
        if usage:
            yield ir.UsageReport(usage.get("promptTokenCount"), usage.get("candidatesTokenCount"))


class Writer:
    """IR events in, GenerateContentResponse chunks out; a tool call is sent whole once its arguments end."""

    def __init__(self, model: str) -> None:
        self.id = uuid.uuid4().hex
        self.model = model
        self.usage = ir.Usage()
        self._calls: dict[int, list[str]] = {}
        self._names: dict[int, tuple[str, str]] = {}
        self._finish = "STOP"
        self._done = False

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        body: dict[str, Any] = {"candidates": [candidate], "modelVersion": self.model, "responseId": self.id}
        if finish is not None:
            candidate["finishReason"] = finish
            total = self.usage.input_tokens + self.usage.output_tokens
            body["usageMetadata"] = {
                "promptTokenCount": self.usage.input_tokens,
                "candidatesTokenCount": self.usage.output_tokens,
                "totalTokenCount": total,
            }
        return sse(body)

    def write(self, event: ir.Event) -> Iterator[bytes]:
        if isinstance(event, ir.Start):
            self.model = event.model or self.model
            self.usage.input_tokens = event.input_tokens
        elif isinstance(event, ir.TextDelta):
            yield self._chunk([{"text": event.text}])
        elif isinstance(event, ir.ToolStart):
            self._names[event.index] = (event.id, event.name)
            self._calls[event.index] = []
        elif isinstance(event, ir.ToolArguments):
            self._calls.setdefault(event.index, []).append(event.partial_json)
        elif isinstance(event, ir.Finished):
            self._finish = _IR_TO_FINISH[event.finish]
        elif isinstance(event, ir.UsageReport):
            self.usage.take(event)
        elif isinstance(event, ir.End):
            yield from self.close()
        elif isinstance(event, ir.StreamFailed):
            yield stream_error("upstream stream error")

    def close(self) -> Iterator[bytes]:
        if self._done:
            return
        self._done = True
        parts = []
        for index, (call_id, call_name) in self._names.items():
            try:
                args = json.loads("".join(self._calls.get(index, [])) or "{}")
            except ValueError:
                args = {}
            parts.append({"functionCall": {"id": call_id, "name": call_name, "args": args}})
        yield self._chunk(parts, self._finish)


def stream_reader() -> Reader:
    return Reader()


def stream_writer(model: str) -> Writer:
    return Writer(model)


# -- errors -----------------------------------------------------------------------------------------------------

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    502: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# Google's canonical `error.status` codes; any other is relayed as `unknown`.
error_types: frozenset[str] = frozenset(
    {
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "NOT_FOUND",
        "ABORTED",
        "ALREADY_EXISTS",
        "RESOURCE_EXHAUSTED",
        "CANCELLED",
        "DATA_LOSS",
        "UNKNOWN",
        "INTERNAL",
        "NOT_IMPLEMENTED",
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
    }
)


def upstream_error_type(data: Any) -> str:
    """`error.status` of a provider's error body, if it is one of Google's codes (`base.known_error_type`)."""
    return known_error_type(data.get("error") if isinstance(data, dict) else None, "status", error_types)


def error_body(status: int, message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "INTERNAL")}}


def stream_error(message: str) -> bytes:
    return sse({"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}})


# -- models -----------------------------------------------------------------------------------------------------


def model_entry(model: str, provider: str) -> dict[str, Any]:
    return {"name": f"models/{model}", "displayName": model}


def model_list(models: list[tuple[str, str]]) -> dict[str, Any]:
    return {"models": [model_entry(m, p) for m, p in models]}
