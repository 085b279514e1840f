"""Stand-in OpenAI and Anthropic upstreams that tests start on loopback.

The model name picks the behaviour, so one server covers every scenario:
`*-filter` is the provider's moderation verdict; `*-error400` and `*-error500` answer errors that quote the
prompt (as real providers do); `*-slow` never answers in time; `*-cut` breaks a stream midway;
`*-busy` answers 429 (Retry-After: 0) to every other request; `*-overloaded` always 529; `*-later` 429 asking
for an hour; `*-malformed` sends invalid JSON; `*-cr` and `*-crlf` stream with those line endings; `*-reset` drops the connection; `*-gzip` answers gzip-encoded; anything else answers "echo: <prompt>".
A stream reports 5 input and 7 output tokens, `*-long` 5 and 1,000 (an answer without `max_tokens`), and
`*-absurd` counts no provider means (10**30 input, 2**31 - 1 output); `*-tail` streams a 300-word answer and
its usage chunk a second after its end.
Gemini's generateContent (model in the path) is served too. Besides chat, it serves OpenAI's embeddings, legacy completions and Responses, and Anthropic's count_tokens.
Given `models`, it serves only those, and answers any other model with the provider's 404.
Every request received is recorded, headers and body, so tests can see exactly what left the gateway.
`python -m tests.standins --port 8100` runs one on its own (README, "Try the gateway locally").
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw_path: bytes = b""
    """The path as it arrived, before percent-decoding."""


def stream_usage(model: str) -> tuple[Any, Any]:
    """(input, output) tokens a stream of `model` reports."""
    if model.endswith("-long"):
        return 5, 1000
    if model.endswith("-absurd"):
        return 10**30, 2**31 - 1
    return 5, 7


@dataclass
class StandIn:
    received: list[Received] = field(default_factory=list)
    slow_seconds: float = 5.0
    models: frozenset[str] | None = None  # when set, any other model is refused with 404, as providers do

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.openai, methods=["POST"]),
                Route("/v1/messages", self.anthropic, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/responses", self.responses, methods=["POST"]),
                Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
                Route("/v1beta/models/{target:path}", self.gemini, methods=["POST"]),
            ]
        )

    async def _record(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(await request.body())
        raw = request.scope.get("raw_path") or b""
        self.received.append(Received(request.url.path, dict(request.headers), body, raw))
        return body

    @staticmethod
    def _prompt(body: dict[str, Any]) -> str:
        texts = []
        for key in ("input", "prompt"):  # embeddings, Responses and legacy completions
            value = body.get(key)
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, list):
                texts += [v for v in value if isinstance(v, str)]
                body = {"messages": [v for v in value if isinstance(v, dict)]}
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts += [part.get("text", "") for part in content if isinstance(part, dict)]
        return " ".join(texts)

    async def embeddings(self, request: Request) -> Response:
        model, prompt, _, trouble = await self._begin(request)
        if trouble is not None:
            return trouble
        body = self.received[-1].body
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = [[float(len(str(text))), 0.5, -0.25] for text in inputs]
        encode = body.get("encoding_format") == "base64"  # the openai SDK asks for base64 by default
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(struct.pack("<3f", *v)).decode() if encode else v,
            }
            for i, v in enumerate(vectors)
        ]
        tokens = len(prompt.split())
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})

    async def completions(self, request: Request) -> Response:
        model, prompt, stream, trouble = await self._begin(request)
        if trouble is not None:
            return trouble
        reply = f"echo: {prompt}"
        base = {"id": "cmpl-standin", "object": "text_completion", "created": 1700000000, "model": model}
        if not stream:
            choice = {"text": reply, "index": 0, "logprobs": None, "finish_reason": "stop"}
            usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
            return JSONResponse({**base, "choices": [choice], "usage": usage})

        async def events() -> Any:
            for word in reply.split(" "):
                choice = {"text": word + " ", "index": 0, "logprobs": None, "finish_reason": None}
                yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def responses(self, request: Request) -> Response:
        model, prompt, stream, trouble = await self._begin(request)
        if trouble is not None:
            return trouble
        reply = f"echo: {prompt}"
        filtered = model.endswith("-filter")
        message = {
            "type": "message",
            "id": "msg_standin",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": reply, "annotations": []}],
        }
        response = {
            "id": "resp_standin",
            "object": "response",
            "created_at": 1700000000,
            "status": "incomplete" if filtered else "completed",
            "incomplete_details": {"reason": "content_filter"} if filtered else None,
            "model": model,
            "output": [message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "store": self.received[-1].body.get("store", True),
            "usage": {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12},
        }
        if not stream:
            return JSONResponse(response)

        async def events() -> Any:
            def event(name: str, number: int, data: dict[str, Any]) -> bytes:
                payload = {"type": name, "sequence_number": number, **data}
                return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()

            yield event("response.created", 0, {"response": {**response, "status": "in_progress", "output": []}})
            for i, word in enumerate(reply.split(" ")):
                delta = {"item_id": "msg_standin", "output_index": 0, "content_index": 0, "delta": word + " "}
                yield event("response.output_text.delta", i + 1, delta)
            yield event("response.completed", 10_000, {"response": response})

        return StreamingResponse(events(), media_type="text/event-stream")

    async def count_tokens(self, request: Request) -> Response:
        model, prompt, _, trouble = await self._begin(request)
        if trouble is not None:
            return trouble
        return JSONResponse({"input_tokens": len(prompt.split())})

    async def _misbehave(self, model: str, prompt: str, stream: bool) -> Response | None:
        if model.endswith("-error400"):
            return JSONResponse({"error": {"type": "invalid_request_error", "message": f"bad prompt: {prompt}"}}, 400)
        if model.endswith("-error500"):
            return JSONResponse({"error": {"type": "server_error", "message": f"failed on: {prompt}"}}, 500)
        if model.endswith("-busy") and sum(r.body.get("model") == model for r in self.received) % 2:
            return JSONResponse({"error": {"type": "rate_limit_error", "message": "busy"}}, 429, {"retry-after": "0"})
        if model.endswith("-overloaded"):
            return JSONResponse({"type": "error", "error": {"type": "overloaded_error", "message": "later"}}, 529)
        if model.endswith("-later"):
            return JSONResponse(
                {"error": {"type": "rate_limit_error", "message": "later"}}, 429, {"retry-after": "3600"}
            )
        if model.endswith("-slow"):
            await asyncio.sleep(self.slow_seconds)
        if model.endswith("-malformed") and not stream:
            return Response(b'{"choices": [ {"message": ', media_type="application/json")
        if model.endswith("-reset"):
            raise ConnectionResetError("stand-in drops the connection")
        return None

    async def gemini(self, request: Request) -> Response:
        """Gemini's generateContent and streamGenerateContent (`?alt=sse`); the model is in the path."""
        body = await self._record(request)
        model, _, method = request.path_params["target"].rpartition(":")
        prompt = " ".join(
            part.get("text", "") for content in body.get("contents", []) for part in content.get("parts", [])
        )
        stream = method == "streamGenerateContent"
        trouble = await self._misbehave(model, prompt, stream)
        if trouble is not None:
            return trouble
        reply = f"echo: {prompt}"
        finish = "SAFETY" if model.endswith("-filter") else "STOP"
        prompt_tokens, output_tokens = stream_usage(model) if stream else (5, 7)
        usage = {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        }

        def chunk(text: str, last: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
            out: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": "standin"}
            if last:
                candidate["finishReason"] = finish
                out["usageMetadata"] = usage
            return out

        if not stream:
            return JSONResponse(chunk(reply, True))

        async def events() -> Any:
            words = reply.split(" ")
            for i, word in enumerate(words):
                last = i == len(words) - 1
                yield f"data: {json.dumps(chunk(word + ('' if last else ' '), last))}\r\n\r\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _begin(self, request: Request) -> tuple[str, str, bool, Response | None]:
        """Record the request; (model, prompt, stream, the misbehaviour's response if the model asks for one)."""
        body = await self._record(request)
        model, prompt, stream = body["model"], self._prompt(body), bool(body.get("stream"))
        if self.models is not None and model not in self.models:
            return model, prompt, stream, self._unknown_model(request.url.path, model)
        return model, prompt, stream, await self._misbehave(model, prompt, stream)

    @staticmethod
    def _unknown_model(path: str, model: str) -> Response:
        """The provider's own 404, which quotes the model name the caller sent."""
        if path == "/v1/messages":
            error = {"type": "error", "error": {"type": "not_found_error", "message": f"model: {model}"}}
            return JSONResponse(error, 404)
        message = f"The model `{model}` does not exist or you do not have access to it."
        return JSONResponse(
            {"error": {"message": message, "type": "invalid_request_error", "code": "model_not_found"}}, 404
        )

    async def openai(self, request: Request) -> Response:
        model, prompt, stream, trouble = await self._begin(request)
        if trouble is not None:
            return trouble
        reply = f"echo: {prompt}"
        finish = "content_filter" if model.endswith("-filter") else "stop"
        if model.endswith("-gzip"):
            return self._gzipped(model, reply, finish, stream)
        if not stream:
            return JSONResponse(
                {
                    "id": "chatcmpl-standin",
                    "object": "chat.completion",
                    "created": 1700000000,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": finish}
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
                }
            )

        async def events() -> Any:
            def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
                data = {
                    "id": "chatcmpl-standin",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
                }
                return f"data: {json.dumps(data)}\n\n".encode()

            yield chunk({"role": "assistant", "content": ""})
            words = reply.split(" ") + (["more"] * 300 if model.endswith("-tail") else [])
            for i, word in enumerate(words):
                if model.endswith("-cut") and i == len(words) // 2:
                    raise ConnectionResetError("stand-in cuts the stream")
                yield chunk({"content": word + (" " if i < len(words) - 1 else "")})
            yield chunk({}, finish)
            if model.endswith("-tail"):
                await asyncio.sleep(1)
            if (self.received[-1].body.get("stream_options") or {}).get("include_usage"):
                prompt_tokens, output_tokens = stream_usage(model)
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": prompt_tokens + output_tokens,
                }
                last = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 1700000000}
                yield f"data: {json.dumps({**last, 'model': model, 'choices': [], 'usage': usage})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @staticmethod
    def _gzipped(model: str, reply: str, finish: str, stream: bool) -> Response:
        """A gzip-encoded answer, as providers send when the client accepts it."""
        if stream:
            events = [
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": reply}, "finish_reason": finish}],
                },
            ]
            raw = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"
            media = "text/event-stream"
        else:
            raw = json.dumps(
                {
                    "id": "c",
                    "object": "chat.completion",
                    "created": 1,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": finish}
                    ],
                }
            ).encode()
            media = "application/json"
        return Response(gzip.compress(raw), media_type=media, headers={"content-encoding": "gzip"})

    async def anthropic(self, request: Request) -> Response:
        model, prompt, stream, trouble = await self._begin(request)
        if trouble is not None:
            return trouble
        reply = f"echo: {prompt}"
        stop = "refusal" if model.endswith("-filter") else "end_turn"
        forced = (self.received[-1].body.get("tool_choice") or {}).get("name")
        if forced:  # a forced tool call: its input echoes the prompt, as JSON
            return self._tool_call(model, forced, {"echo": prompt}, stream)
        if not stream:
            return JSONResponse(
                {
                    "id": "msg_standin",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": reply}],
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 5, "output_tokens": 7},
                }
            )

        eol = "\r" if model.endswith("-cr") else "\r\n" if model.endswith("-crlf") else "\n"
        prompt_tokens, output_tokens = stream_usage(model)

        async def events() -> Any:
            def event(name: str, data: dict[str, Any]) -> bytes:
                return f"event: {name}{eol}data: {json.dumps({'type': name, **data})}{eol}{eol}".encode()

            message = {
                "id": "msg_standin",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": 0},
            }
            yield event("message_start", {"message": message})
            yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            words = reply.split(" ")
            for i, word in enumerate(words):
                if model.endswith("-cut") and i == len(words) // 2:
                    raise ConnectionResetError("stand-in cuts the stream")
                text = word + (" " if i < len(words) - 1 else "")
                yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})
            yield event("content_block_stop", {"index": 0})
            delta = {"stop_reason": stop, "stop_sequence": None}
            yield event("message_delta", {"delta": delta, "usage": {"output_tokens": output_tokens}})
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")

    @staticmethod
    def _tool_call(model: str, name: str, arguments: dict[str, Any], stream: bool) -> Response:
        block = {"type": "tool_use", "id": "toolu_standin", "name": name, "input": arguments}
        usage = {"input_tokens": 5, "output_tokens": 7}
        if not stream:
            message = {"id": "msg_standin", "type": "message", "role": "assistant", "model": model}
            return JSONResponse(
                {**message, "content": [block], "stop_reason": "tool_use", "stop_sequence": None, "usage": usage}
            )

        async def events() -> Any:
            def event(name: str, data: dict[str, Any]) -> bytes:
                return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

            start = {"id": "msg_standin", "type": "message", "role": "assistant", "model": model, "content": []}
            yield event("message_start", {"message": {**start, "usage": {"input_tokens": 5, "output_tokens": 0}}})
            yield event("content_block_start", {"index": 0, "content_block": {**block, "input": {}}})
            raw = json.dumps(arguments)
            for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield event("content_block_delta", {"index": 0, "delta": delta})
            yield event("content_block_stop", {"index": 0})
            yield event("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}})
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.standins --port 8100`: one stand-in on loopback, for trying the gateway by hand."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tests.standins", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    uvicorn.run(StandIn().app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
