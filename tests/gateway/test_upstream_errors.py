"""A provider's error is relayed as its status and a type its protocol defines, nothing else of it.

The stand-in here echoes the caller's prompt into its error's `type` and `message`, as a proxy in front of a
provider, or a provider quoting the request, may: neither reaches the caller (beyond a stream passed through
unchanged, which is the caller's own answer), the logs or the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aether_policy.gateway import create_app
from aether_policy.store import Store
from tests.gateway.conftest import PROVIDER_KEYS, config_for
from tests.helpers import gate_for, loopback_plan, serve
from tests.sinks import leaks

PROMPT = "Describe the harbour of Porto at dawn in two sentences"


def _prompt(body: dict[str, object]) -> str:
    messages = body.get("messages")
    return str(messages[-1]["content"]) if isinstance(messages, list) else ""  # type: ignore[index]


async def echoing_upstream(request: Request) -> Response:
    """OpenAI and Anthropic in one: `-echoerror` fails with the prompt as its error's type and message,
    `-knownerror` with a type the protocol defines, `-echostream` streams an error event echoing the prompt."""
    body = await request.json()
    model, prompt = body["model"], _prompt(body)
    anthropic_api = request.url.path == "/v1/messages"
    if model.endswith(("-echoerror", "-knownerror")):
        kind = "invalid_request_error" if model.endswith("-knownerror") else f"echo: {prompt}"
        error = {"type": kind, "message": f"you said: {prompt}"}
        return JSONResponse({"type": "error", "error": error} if anthropic_api else {"error": error}, 400)
    error = {"type": f"echo: {prompt}", "message": f"you said: {prompt}"}
    if anthropic_api:
        start = {"type": "message_start", "message": {"id": "m", "model": model, "usage": {"input_tokens": 1}}}
        events = f"event: message_start\ndata: {json.dumps(start)}\n\n"
        events += f"event: error\ndata: {json.dumps({'type': 'error', 'error': error})}\n\n"
    else:
        first = {"id": "c", "model": model, "choices": [{"index": 0, "delta": {"content": "fine"}}]}
        events = f"data: {json.dumps(first)}\n\ndata: {json.dumps({'error': error})}\n\n"
    return Response(events.encode(), media_type="text/event-stream")


@dataclass
class Echoing:
    base: str
    key: str
    store: Store
    db_file: Path


@pytest.fixture
def echoing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Echoing]:
    for name, value in PROVIDER_KEYS.items():
        monkeypatch.setenv(name, value)
    db_file = tmp_path / "echo.db"
    store = Store(f"sqlite:///{db_file}", flush_interval=0.05)
    store.migrate()
    _, key = store.create_key("acme")
    routes = [Route(path, echoing_upstream, methods=["POST"]) for path in ("/v1/chat/completions", "/v1/messages")]
    with serve(Starlette(routes=routes)) as upstream:
        plan = loopback_plan()
        with serve(create_app(plan, store, config_for(upstream), gate_for(plan))) as base:
            yield Echoing(base, key, store, db_file)
    store.close()


def chat(gw: Echoing, caller: str, model: str, stream: bool = False) -> httpx.Response:
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
    if caller == "anthropic":
        body["max_tokens"] = 16
    path = "/v1/messages" if caller == "anthropic" else "/v1/chat/completions"
    return httpx.post(f"{gw.base}{path}", json=body, headers={"authorization": f"Bearer {gw.key}"}, timeout=10)


def assert_nothing_kept(gw: Echoing, logs: str) -> None:
    gw.store.flush()
    assert leaks(PROMPT, db_file=gw.db_file, logs=logs) == []


ALL_WAYS = [
    ("openai", "gpt-4o", "openai"),
    ("anthropic", "claude-3-5-haiku", "anthropic"),
    ("openai", "claude-3-5-haiku", "anthropic"),
    ("anthropic", "gpt-4o", "openai"),
]


@pytest.mark.parametrize(("caller", "family", "provider"), ALL_WAYS)
def test_an_upstream_error_type_echoing_the_prompt_is_relayed_as_unknown(
    echoing: Echoing, caplog: pytest.LogCaptureFixture, caller: str, family: str, provider: str
) -> None:
    response = chat(echoing, caller, f"{family}-echoerror")
    assert response.status_code == 400
    assert PROMPT not in response.text and "echo:" not in response.text
    error = response.json()["error"]
    assert (error["type"], error["message"]) == (
        "invalid_request_error",
        f"provider '{provider}' returned 400 (unknown)",
    )
    assert_nothing_kept(echoing, caplog.text)


@pytest.mark.parametrize(("caller", "family", "provider"), ALL_WAYS)
def test_an_upstream_error_type_its_protocol_defines_is_relayed(
    echoing: Echoing, caller: str, family: str, provider: str
) -> None:
    response = chat(echoing, caller, f"{family}-knownerror")
    assert response.json()["error"]["message"] == f"provider '{provider}' returned 400 (invalid_request_error)"


def test_the_openai_sdk_sees_an_unknown_type_for_a_translated_stream_error_that_echoes_the_prompt(
    echoing: Echoing, caplog: pytest.LogCaptureFixture
) -> None:
    client = openai.OpenAI(base_url=f"{echoing.base}/v1", api_key=echoing.key, max_retries=0, timeout=10)
    with client, pytest.raises(openai.APIError) as caught:
        for _ in client.chat.completions.create(
            model="claude-3-5-haiku-echostream", messages=[{"role": "user", "content": PROMPT}], stream=True
        ):
            pass
    assert PROMPT not in str(caught.value.body) and "echo:" not in str(caught.value.body)
    assert caught.value.body == {"message": "upstream stream error", "type": "unknown"}
    assert_nothing_kept(echoing, caplog.text)


def test_the_anthropic_sdk_sees_an_unknown_type_for_a_translated_stream_error_that_echoes_the_prompt(
    echoing: Echoing, caplog: pytest.LogCaptureFixture
) -> None:
    client = anthropic.Anthropic(base_url=echoing.base, api_key=echoing.key, max_retries=0, timeout=10)
    with client, pytest.raises(anthropic.APIStatusError) as caught:
        with client.messages.stream(
            model="gpt-4o-echostream", max_tokens=16, messages=[{"role": "user", "content": PROMPT}]
        ) as stream:
            "".join(stream.text_stream)
    assert PROMPT not in str(caught.value.body) and "echo:" not in str(caught.value.body)
    assert caught.value.body == {"type": "error", "error": {"type": "unknown", "message": "upstream stream error"}}
    assert_nothing_kept(echoing, caplog.text)
