"""A provider that is never called: the transport under the egress guard that records what would leave and answers
with an empty reply in the provider's own format (JSON or SSE), or with its moderation verdict when asked.

It sits where the network transport sits, under `GuardedTransport`, so everything the guard does (refuse a
host, strip a header, refuse the caller's key) happens exactly as it would before a real send.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})


@dataclass(frozen=True)
class Departure:
    """One request the guard let through: where it would have gone and what it carried."""

    host: str
    port: int | None
    path: str
    headers: tuple[str, ...]
    body_keys: tuple[str, ...]
    body_bytes: int


@dataclass
class NeverSends(httpx.AsyncBaseTransport):
    moderated: bool = False
    departures: list[Departure] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        keys = tuple(parsed) if isinstance(parsed, dict) else ()
        self.departures.append(
            Departure(
                request.url.host, request.url.port, request.url.path, tuple(request.headers.keys()), keys, len(body)
            )
        )
        model = str(parsed.get("model", "")) if isinstance(parsed, dict) else ""
        stream = isinstance(parsed, dict) and bool(parsed.get("stream"))
        anthropic = request.url.path.endswith("/messages")
        if stream:
            options = parsed.get("stream_options") if isinstance(parsed, dict) else None
            usage = isinstance(options, dict) and options.get("include_usage") is True
            events = (
                _anthropic_events(model, self.moderated) if anthropic else _openai_events(model, self.moderated, usage)
            )
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=events)
        reply = _anthropic_reply(model, self.moderated) if anthropic else _openai_reply(model, self.moderated)
        return httpx.Response(200, json=reply)


def _openai_reply(model: str, moderated: bool) -> dict[str, Any]:
    return {
        "id": "chatcmpl-explain",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "content_filter" if moderated else "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _anthropic_reply(model: str, moderated: bool) -> dict[str, Any]:
    return {
        "id": "msg_explain",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": ""}],
        "stop_reason": "refusal" if moderated else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }


def _openai_events(model: str, moderated: bool, usage: bool) -> bytes:
    """The stream OpenAI sends; with `stream_options.include_usage` (which the gateway asks for, to charge a
    key's token limit), a last chunk with no choices carries the usage, as OpenAI's does."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        data = {
            "id": "chatcmpl-explain",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(data)}\n\n"

    def choice(delta: dict[str, Any], reason: str | None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "finish_reason": reason}]

    finish = "content_filter" if moderated else "stop"
    events = chunk(choice({"role": "assistant", "content": ""}, None)) + chunk(choice({}, finish))
    if usage:
        events += chunk([], usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
    return (events + "data: [DONE]\n\n").encode()


def _anthropic_events(model: str, moderated: bool) -> bytes:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    message = _anthropic_reply(model, False) | {"content": [], "stop_reason": None}
    stop = "refusal" if moderated else "end_turn"
    return (
        event("message_start", {"message": message})
        + event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        + event("content_block_stop", {"index": 0})
        + event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 0}})
        + event("message_stop", {})
    ).encode()
