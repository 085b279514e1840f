"""The gateway as a server process of its own, run by `aether-policy serve` itself, for the property suite.

A real process so that its stdout and stderr are real sinks, and `serve` itself so that uvicorn, its loggers
(formatters, non-propagating `uvicorn.access`), its access log and the key handling are exactly production's.
Two things are added: every record any logger handles is also written as one JSON line to a tap file the suite
reads, so records of loggers that do not propagate, `extra=` attributes and arguments are all visible to the
scan; the store flushes every 5 ms instead of 200, so each example settles quickly; and `/metrics` is served
(with the spec's token), so its scrape is one more sink.

    python -m tests.properties.server SPEC.json

A spec's `leak` wires in one deliberately leaky component, so `test_the_proof_can_fail.py` can show the suite
catches a leak in each sink class. Nothing leaky is ever wired in without it.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import aether_policy.gateway
import aether_policy.gateway.metrics
import aether_policy.store
from aether_policy._context import inflight_content
from aether_policy.cli._serve import serve
from aether_policy.gateway.config import ProviderConfig
from aether_policy.store import Store
from aether_policy.types import ASGIApp, Message, Receive, Scope, Send
from tests.properties.strategies import ROUTING_PATTERNS

LEAKS = (
    "store",
    "usage_column",
    "log",
    "stderr",
    "appended_file",
    "token",
    "escaped",
    "metric_label",
    "embeddings_input",
    "responses_fields",
    "completions_prompt",
    "model_column",
)
STORE_LEAKS = ("store", "usage_column", "completions_prompt")
WRAPPER_LEAKS = ("log", "stderr", "appended_file", "token", "escaped", "embeddings_input", "responses_fields")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class Tap(logging.Handler):
    """Writes every record, whole (message, arguments, extras, traceback), as one JSON line."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.DEBUG)
        self.out = path.open("a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception as error:  # an unformattable record is itself worth seeing
            message = f"<getMessage failed: {type(error).__name__}>"
        args = record.args if isinstance(record.args, tuple) else (record.args,) if record.args else ()
        exc = record.exc_text or ""
        if record.exc_info and record.exc_info[1] is not None:
            exc += "".join(traceback.format_exception(*record.exc_info))
        line = {
            "logger": record.name,
            "level": record.levelname,
            "msg": str(record.msg),
            "args": [_text(a) for a in args],
            "message": message,
            "exc": exc,
            "stack": record.stack_info or "",
            "extra": {k: _text(v) for k, v in record.__dict__.items() if k not in _STANDARD},
        }
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return repr(value)
    try:
        return str(value)
    except Exception:
        return repr(value)


def install_tap(path: Path) -> None:
    """Every record handled by any logger, whether or not it propagates, also goes to the tap (once)."""
    tap = Tap(path)
    original = logging.Logger.callHandlers

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        tap.handle(record)
        original(self, record)

    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]


class LeakyStore(Store):
    """Writes the request body (`store`), its last message's text, whole (`usage_column`), or a legacy
    completion's `prompt` (`completions_prompt`: a usage column someone thought would help debugging) into
    usage rows."""

    leak = "store"

    def record_usage(self, event: Any) -> None:
        inflight = inflight_content.get()
        body = inflight.body if inflight is not None else b""
        if self.leak == "store":
            super().record_usage({**event, "endpoint": body.decode("utf-8", "replace")[:500]})
        elif self.leak == "completions_prompt":
            prompt = _field(body, "prompt") if event.get("endpoint") == "/v1/completions" else None
            super().record_usage({**event, "error_class": None if prompt is None else json.dumps(prompt)[:500]})
        else:
            super().record_usage({**event, "model": _last_text(body)})


def leak_into_metric_labels() -> None:
    """A careless metric: every usage event also counts a series labelled with the request body."""
    counting = aether_policy.gateway.metrics._CountingSink
    original = counting.record_usage

    def record_usage(self: Any, event: Any) -> None:
        inflight = inflight_content.get()
        if inflight is not None:
            self._metrics.flagged.labels(inflight.body.decode("utf-8", "replace")[:500], "leak").inc()
        original(self, event)

    counting.record_usage = record_usage  # type: ignore[method-assign]


def _field(body: bytes, name: str) -> Any:
    try:
        return json.loads(body).get(name)
    except Exception:
        return None


def record_models_as_sent() -> None:
    """The gateway as it was: any model a provider's pattern routes is recorded as sent, once it has answered."""

    def recorded_as(self: ProviderConfig, model: str) -> str | None:
        return model if self.serves(model) else None

    ProviderConfig.recorded_as = recorded_as  # type: ignore[method-assign]


def _last_text(body: bytes) -> str | None:
    try:
        content = json.loads(body)["messages"][-1]["content"]
    except Exception:
        return None
    return content if isinstance(content, str) else None


class Leaky:
    """An ASGI wrapper outside the policy middleware that leaks what passes through it into one sink."""

    def __init__(self, app: ASGIApp, leak: str, work: Path) -> None:
        self.app, self.leak, self.log = app, leak, logging.getLogger("gateway.debug")
        self.file = work / "debug.log"
        self.file.write_text("debug log\n", encoding="utf-8")  # exists before any request: leaks are appended

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(chunks)
        text = body.decode("utf-8", "replace")
        if self.leak == "log":
            self.log.info("request body: %s", text)
        elif self.leak == "stderr":
            sys.stderr.write(f"request body: {text}\n")
            sys.stderr.flush()
        elif self.leak == "appended_file":
            with self.file.open("a", encoding="utf-8") as out:
                out.write(f"request body: {text}\n")
        elif self.leak == "escaped":
            print(json.dumps({"body": text}, ensure_ascii=True), flush=True)
        elif self.leak == "embeddings_input" and scope.get("path") == "/v1/embeddings":
            # A debug line for "why did this embedding differ": the input as sent, token ids included.
            self.log.info("embedding input: %s", json.dumps(_field(body, "input"), separators=(",", ":")))
        elif self.leak == "responses_fields" and scope.get("path") == "/v1/responses":
            sys.stderr.write(f"responses instructions: {_field(body, 'instructions')}\n")
            for item in _field(body, "input") if isinstance(_field(body, "input"), list) else []:
                if isinstance(item, dict) and item.get("type") == "function_call_output":
                    sys.stderr.write(f"responses tool output: {item.get('output')}\n")
            sys.stderr.flush()
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def watch(message: Message) -> None:
            if self.leak == "token" and message["type"] == "http.response.body":
                for token in _tokens(message.get("body", b"")):
                    self.log.debug("token %s", token)
            await send(message)

        await self.app(scope, replay, watch)


def _tokens(chunk: bytes) -> list[str]:
    """The text deltas of the SSE events in one response chunk (OpenAI and Anthropic shapes)."""
    found = []
    for line in chunk.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:"):
            continue
        try:
            event = json.loads(line[5:])
        except ValueError:
            continue
        for choice in event.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                found.append(content)
        delta = event.get("delta") or {}
        if isinstance(delta, dict) and delta.get("text"):
            found.append(delta["text"])
    return found


class FastStore(Store):
    """The store `serve` builds, flushing every 5 ms instead of 200 so each example settles quickly."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **{"flush_interval": 0.005, **options})


def main(spec_path: str) -> None:
    """Run `aether-policy serve` itself, with the tap installed and, when the spec asks, one leak wired in."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    work, leak = Path(spec["work"]), spec.get("leak")
    install_tap(Path(spec["tap"]))
    logging.getLogger().setLevel(logging.DEBUG)

    store_class: type[Store] = FastStore
    if leak in STORE_LEAKS:
        store_class = type("LeakyStore", (LeakyStore, FastStore), {"leak": leak})
    aether_policy.store.Store = store_class  # type: ignore[misc]  # serve imports it when it runs
    if leak in WRAPPER_LEAKS:
        build = aether_policy.gateway.create_app

        def create_leaky_app(*args: Any, **kwargs: Any) -> ASGIApp:
            return Leaky(build(*args, **kwargs), leak, work)

        aether_policy.gateway.create_app = create_leaky_app  # type: ignore[assignment]

    if leak == "metric_label":
        leak_into_metric_labels()
    if leak == "model_column":
        record_models_as_sent()

    config = work / "gateway.yaml"
    providers = {
        name: {
            "api": name,
            "base_url": f"{spec['upstream']}/v1" if name == "openai" else spec["upstream"],
            "api_key_env": f"STANDIN_{name.upper()}_KEY",
            "models": list(ROUTING_PATTERNS[name]),
            "timeout": spec["upstream_timeout"],
        }
        for name in ("openai", "anthropic")
    }
    config.write_text(json.dumps({"providers": providers}), encoding="utf-8")  # JSON is YAML
    serve.main(
        args=[
            *("--policy", spec["policy"], "--config", str(config), "--db", spec["db"], "--port", str(spec["port"])),
            *("--metrics-token", spec["metrics_token"]),
        ],
        prog_name="aether-policy serve",
    )


if __name__ == "__main__":
    main(sys.argv[1])
