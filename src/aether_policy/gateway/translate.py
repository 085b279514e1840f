"""Translation between OpenAI chat completions and Anthropic messages, both directions, streaming included.

Pure functions over dicts and SSE events: no I/O, so each mapping is tested alone.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

DEFAULT_MAX_TOKENS = 4096

_FINISH_TO_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


# -- requests ---------------------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _openai_part_to_block(part: Any) -> dict[str, Any]:
    if isinstance(part, dict) and part.get("type") == "image_url":
        url = part.get("image_url", {}).get("url", "")
        if url.startswith("data:") and ";base64," in url:
            media, data = url[5:].split(";base64,", 1)
            return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "text", "text": part.get("text", "") if isinstance(part, dict) else str(part)}


def chat_to_messages(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat-completions request as an Anthropic Messages request."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            system.append(_text_of(content))
            continue
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _text_of(content),
            }
            messages.append({"role": "user", "content": [block]})
            continue
        blocks: list[dict[str, Any]] = []
        if isinstance(content, str) and content:
            blocks.append({"type": "text", "text": content})
        elif isinstance(content, list):
            blocks.extend(_openai_part_to_block(part) for part in content)
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except ValueError:
                arguments = {}
            blocks.append(
                {"type": "tool_use", "id": call.get("id", ""), "name": function.get("name", ""), "input": arguments}
            )
        messages.append({"role": "assistant" if role == "assistant" else "user", "content": blocks})
    out: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = "\n\n".join(system)
    for key in ("temperature", "top_p", "stream"):
        if key in body:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [
            {
                "name": tool["function"]["name"],
                "description": tool["function"].get("description", ""),
                "input_schema": tool["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for tool in body["tools"]
            if tool.get("type") == "function"
        ]
    choice = body.get("tool_choice")
    if choice == "auto":
        out["tool_choice"] = {"type": "auto"}
    elif choice == "required":
        out["tool_choice"] = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    return out


def messages_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as an OpenAI chat-completions request."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system)})
    for message in body.get("messages", []):
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
            continue
        parts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for block in content or []:
            kind = block.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": block.get("text", "")})
            elif kind == "image":
                source = block.get("source", {})
                url = source.get("url") or f"data:{source.get('media_type')};base64,{source.get('data', '')}"
                parts.append({"type": "image_url", "image_url": {"url": url}})
            elif kind == "tool_use":
                calls.append(
                    {
                        "id": block.get("id", ""),
                        "type": "function",
                        "function": {"name": block.get("name", ""), "arguments": json.dumps(block.get("input", {}))},
                    }
                )
            elif kind == "tool_result":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block.get("tool_use_id", ""),
                        "content": _text_of(block.get("content")),
                    }
                )
        if parts or calls:
            entry: dict[str, Any] = {"role": role, "content": parts if parts else None}
            if calls:
                entry["tool_calls"] = calls
            messages.append(entry)
    out: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": body.get("max_tokens", DEFAULT_MAX_TOKENS),
    }
    for key in ("temperature", "top_p", "stream"):
        if key in body:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = body["stop_sequences"]
    if body.get("tools"):
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool["name"],
                    "description": tool.get("description", ""),
                    "parameters": tool.get("input_schema", {}),
                },
            }
            for tool in body["tools"]
        ]
    if body.get("stream"):
        out["stream_options"] = {"include_usage": True}
    return out


# -- responses --------------------------------------------------------------------------------------------------


def message_to_completion(message: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages response as an OpenAI chat completion."""
    text = "".join(b.get("text", "") for b in message.get("content", []) if b.get("type") == "text")
    calls = [
        {
            "id": b.get("id", ""),
            "type": "function",
            "function": {"name": b.get("name", ""), "arguments": json.dumps(b.get("input", {}))},
        }
        for b in message.get("content", [])
        if b.get("type") == "tool_use"
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        reply["tool_calls"] = calls
    usage = message.get("usage", {})
    prompt, completion = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    return {
        "id": "chatcmpl-" + str(message.get("id", uuid.uuid4().hex)),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": _STOP_TO_FINISH.get(message.get("stop_reason") or "", "stop"),
            }
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def completion_to_message(completion: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat completion as an Anthropic Messages response."""
    choice = (completion.get("choices") or [{}])[0]
    reply = choice.get("message", {})
    content: list[dict[str, Any]] = []
    if reply.get("content"):
        content.append({"type": "text", "text": _text_of(reply["content"])})
    for call in reply.get("tool_calls") or []:
        try:
            arguments = json.loads(call.get("function", {}).get("arguments") or "{}")
        except ValueError:
            arguments = {}
        content.append(
            {"type": "tool_use", "id": call.get("id", ""), "name": call["function"]["name"], "input": arguments}
        )
    usage = completion.get("usage") or {}
    return {
        "id": "msg_" + str(completion.get("id", uuid.uuid4().hex)),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model", ""),
        "content": content,
        "stop_reason": _FINISH_TO_STOP.get(choice.get("finish_reason") or "", "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0)},
    }


# -- streams ----------------------------------------------------------------------------------------------------


class SSEParser:
    """Incremental Server-Sent Events parser: feed bytes, get (event, data) pairs as they complete."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> Iterator[tuple[str | None, str]]:
        self._buffer += chunk.replace(b"\r\n", b"\n")
        while b"\n\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n\n", 1)
            event: str | None = None
            data: list[str] = []
            for line in raw.decode("utf-8", errors="replace").split("\n"):
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
            if data:
                yield event, "\n".join(data)


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{head}data: {payload}\n\n".encode()


class AnthropicToOpenAIStream:
    """Anthropic Messages stream events in, OpenAI chat.completion.chunk SSE out."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.model = model
        self.created = int(time.time())
        self._tools: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage is not None:
            body["usage"] = usage
        return sse(body)

    def translate(self, event: str | None, data: str) -> Iterator[bytes]:
        try:
            payload = json.loads(data)
        except ValueError:
            return
        kind = payload.get("type", event)
        if kind == "message_start":
            self.model = payload.get("message", {}).get("model", self.model)
            yield self._chunk({"role": "assistant", "content": ""})
        elif kind == "content_block_start":
            block = payload.get("content_block", {})
            if block.get("type") == "tool_use":
                index = len(self._tools)
                self._tools[payload.get("index", 0)] = index
                call = {
                    "index": index,
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": ""},
                }
                yield self._chunk({"tool_calls": [call]})
        elif kind == "content_block_delta":
            delta = payload.get("delta", {})
            if delta.get("type") == "text_delta":
                yield self._chunk({"content": delta.get("text", "")})
            elif delta.get("type") == "input_json_delta":
                index = self._tools.get(payload.get("index", 0), 0)
                yield self._chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": delta.get("partial_json", "")}}]}
                )
        elif kind == "message_delta":
            reason = payload.get("delta", {}).get("stop_reason")
            usage = payload.get("usage", {})
            tokens = {"prompt_tokens": 0, "completion_tokens": usage.get("output_tokens", 0)}
            tokens["total_tokens"] = tokens["completion_tokens"]
            yield self._chunk({}, _STOP_TO_FINISH.get(reason or "", "stop"), tokens)
        elif kind == "message_stop":
            yield b"data: [DONE]\n\n"
        elif kind == "error":
            yield sse(
                {
                    "error": {
                        "message": "upstream stream error",
                        "type": payload.get("error", {}).get("type", "api_error"),
                    }
                }
            )


class OpenAIToAnthropicStream:
    """OpenAI chat.completion.chunk SSE in, Anthropic Messages stream events out."""

    def __init__(self, model: str) -> None:
        self.id = "msg_" + uuid.uuid4().hex
        self.model = model
        self._started = False
        self._text_open = False
        self._tool_blocks: dict[int, int] = {}
        self._next_block = 0
        self._text_index = 0
        self._stop: str | None = None
        self._output_tokens = 0
        self._finished = False

    def _start(self) -> Iterator[bytes]:
        if not self._started:
            self._started = True
            message: dict[str, Any] = {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            yield sse({"type": "message_start", "message": message}, "message_start")

    def translate(self, event: str | None, data: str) -> Iterator[bytes]:
        if data.strip() == "[DONE]":
            yield from self.finish()
            return
        try:
            payload = json.loads(data)
        except ValueError:
            return
        yield from self._start()
        if payload.get("usage"):
            self._output_tokens = payload["usage"].get("completion_tokens", 0) or 0
        for choice in payload.get("choices", []):
            delta = choice.get("delta", {})
            if delta.get("content"):
                if not self._text_open:
                    self._text_open = True
                    block = {
                        "type": "content_block_start",
                        "index": self._next_block,
                        "content_block": {"type": "text", "text": ""},
                    }
                    yield sse(block, "content_block_start")
                    self._text_index = self._next_block
                    self._next_block += 1
                text_delta = {"type": "text_delta", "text": delta["content"]}
                yield sse(
                    {"type": "content_block_delta", "index": self._text_index, "delta": text_delta},
                    "content_block_delta",
                )
            for call in delta.get("tool_calls") or []:
                position = call.get("index", 0)
                if position not in self._tool_blocks:
                    self._tool_blocks[position] = self._next_block
                    self._next_block += 1
                    block = {
                        "type": "tool_use",
                        "id": call.get("id", ""),
                        "name": call.get("function", {}).get("name", ""),
                        "input": {},
                    }
                    start = {
                        "type": "content_block_start",
                        "index": self._tool_blocks[position],
                        "content_block": block,
                    }
                    yield sse(start, "content_block_start")
                arguments = call.get("function", {}).get("arguments")
                if arguments:
                    json_delta = {"type": "input_json_delta", "partial_json": arguments}
                    index = self._tool_blocks[position]
                    yield sse(
                        {"type": "content_block_delta", "index": index, "delta": json_delta}, "content_block_delta"
                    )
            if choice.get("finish_reason"):
                self._stop = _FINISH_TO_STOP.get(choice["finish_reason"], "end_turn")

    def finish(self) -> Iterator[bytes]:
        if self._finished:
            return
        self._finished = True
        yield from self._start()
        for index in range(self._next_block):
            yield sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        delta = {"type": "message_delta", "delta": {"stop_reason": self._stop or "end_turn", "stop_sequence": None}}
        delta["usage"] = {"output_tokens": self._output_tokens}
        yield sse(delta, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")
