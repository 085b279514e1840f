"""Bad input gets an answer in the SDK's error shape, before any upstream call; rejected requests leave only
derived usage fields and nothing judged or kept; a provider's odd response never becomes a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aether_policy.gateway import create_app
from tests.gateway.conftest import Running, config_for, store_with_key
from tests.helpers import gate_for, loopback_plan, serve

PROMPT = "Describe the harbour of Porto at dawn in two sentences"


def post(gw: Running, body: bytes, path: str = "/v1/chat/completions", key: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{gw.base}{path}",
        content=body,
        headers={"authorization": f"Bearer {key or gw.key}", "content-type": "application/json"},
        timeout=10,
    )


def openai_error(response: httpx.Response) -> str:
    """The message of an OpenAI-shaped error; fails unless the body is exactly that shape."""
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    return str(error["message"])


def test_json_nested_5000_deep_is_a_400_in_the_openai_shape(gateway: Running) -> None:
    response = post(gateway, b'{"model": "gpt-4o", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert response.status_code == 400
    assert openai_error(response) == "the request body is nested deeper than 64 levels"
    assert gateway.standin.received == []


def test_json_nested_900_deep_which_python_parses_is_still_a_400(gateway: Running) -> None:
    response = post(
        gateway, b'{"model": "gpt-4o", "messages": [{"role": "user", "x": ' + b"[" * 900 + b"]" * 900 + b"}]}"
    )
    assert response.status_code == 400
    assert openai_error(response).startswith("the request body is nested deeper than 64 levels (at messages[0].<key>")


def test_deep_nesting_in_the_anthropic_endpoint_is_a_400_in_the_anthropic_shape(gateway: Running) -> None:
    response = post(gateway, b"[" * 5000 + b"]" * 5000, path="/v1/messages")
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "the request body is nested deeper than 64 levels"},
    }


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (b"NaN", "`NaN` is not a JSON number; send finite numbers only"),
        (b"Infinity", "`Infinity` is not a JSON number; send finite numbers only"),
        (b"-Infinity", "`-Infinity` is not a JSON number; send finite numbers only"),
        (b"1e400", "a number is too large to represent; send finite numbers only"),
    ],
)
def test_non_finite_numbers_are_a_400_and_never_reach_the_upstream(
    gateway: Running, number: bytes, message: str
) -> None:
    body = b'{"model": "gpt-4o", "temperature": ' + number + b', "messages": [{"role": "user", "content": "hi"}]}'
    response = post(gateway, body)
    assert (response.status_code, openai_error(response)) == (400, message)
    assert gateway.standin.received == []


NON_FINITE_ARGUMENTS = "has a number JSON cannot carry (NaN, Infinity or out of range); send finite numbers only"


@pytest.mark.parametrize("arguments", ['{"x": NaN}', '{"x": [1, -Infinity]}', '{"x": 1e400}'])
@pytest.mark.parametrize("model", ["gpt-4o", "claude-3-5-haiku-latest"], ids=["forwarded", "translated"])
def test_a_non_finite_number_in_a_tool_calls_arguments_is_the_same_400_forwarded_or_translated(
    gateway: Running, model: str, arguments: str
) -> None:
    """The arguments string is JSON inside JSON: the body parses strictly, the string did not, so NaN reached
    an OpenAI provider as it was (and failed a translation only after the fact, without saying where)."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    client = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=gateway.key, max_retries=0, timeout=10)
    with client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]}],  # type: ignore[list-item]
        )
    assert caught.value.body == {
        "message": f"`messages[1].tool_calls[0].function.arguments` {NON_FINITE_ARGUMENTS}",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert gateway.standin.received == []


def test_a_non_finite_number_in_a_legacy_function_calls_arguments_is_a_400(gateway: Running) -> None:
    call = {"name": "f", "arguments": '{"x": NaN}'}
    body = {"model": "gpt-4o", "messages": [{"role": "assistant", "content": None, "function_call": call}]}
    response = post(gateway, json.dumps(body).encode())
    assert (response.status_code, openai_error(response)) == (
        400,
        f"`messages[0].function_call.arguments` {NON_FINITE_ARGUMENTS}",
    )
    assert gateway.standin.received == []


def test_a_non_finite_number_in_a_responses_function_call_item_is_a_400(gateway: Running) -> None:
    item = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"x": Infinity}'}
    body = {"model": "gpt-4o", "input": [{"role": "user", "content": "hi"}, item]}
    response = post(gateway, json.dumps(body).encode(), path="/v1/responses")
    assert (response.status_code, openai_error(response)) == (400, f"`input[1].arguments` {NON_FINITE_ARGUMENTS}")
    assert gateway.standin.received == []


def test_tool_arguments_that_are_not_json_at_all_are_forwarded_as_they_are(gateway: Running) -> None:
    """Malformed arguments are the provider's to answer, as they would be directly; only a number JSON cannot
    carry is refused, since neither path could send it on faithfully."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{NaN"}}
    body = {"model": "gpt-4o", "messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]}
    assert post(gateway, json.dumps(body).encode()).status_code == 200
    (sent,) = gateway.standin.received
    assert sent.body["messages"][0]["tool_calls"][0]["function"]["arguments"] == "{NaN"


def test_invalid_utf8_is_a_400_that_says_where(gateway: Running) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "caf\xe9"}]}'
    response = post(gateway, body)
    assert (response.status_code, openai_error(response)) == (
        400,
        "the request body is not valid UTF-8 (invalid byte at offset 65)",
    )


def test_a_utf16_body_is_refused_rather_than_guessed(gateway: Running) -> None:
    body = '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'.encode("utf-16")
    assert post(gateway, body).status_code == 400


def test_a_lone_surrogate_is_a_400_naming_the_field_and_never_reaches_the_upstream(gateway: Running) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "Porto \\ud800 at dawn"}]}'
    response = post(gateway, body)
    assert (response.status_code, openai_error(response)) == (
        400,
        "the request body has a lone UTF-16 surrogate (\\ud800-\\udfff) at messages[0].content",
    )
    assert gateway.standin.received == []


def test_a_surrogate_pair_is_a_character_and_is_served(gateway: Running) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "harbour \\ud83c\\udf05"}]}'
    response = post(gateway, body)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "echo: harbour \U0001f305"


def test_an_unknown_path_is_a_404_in_the_sdk_shape_recorded_as_unmatched(gateway: Running) -> None:
    response = httpx.get(f"{gateway.base}/v2/chat/alice-private?api_key={gateway.key}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    gateway.settle()
    assert [(e["endpoint"], e["method"]) for e in gateway.store.usage_events()] == [("(unmatched)", "GET")]


def test_a_wrong_method_is_a_405_in_the_anthropic_shape_on_its_route(gateway: Running) -> None:
    response = httpx.get(f"{gateway.base}/v1/messages")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"] == {"type": "invalid_request_error", "message": "method not allowed on this route"}


def test_a_body_over_the_limit_on_the_anthropic_endpoint_is_a_413_in_the_anthropic_shape(gateway: Running) -> None:
    response = post(gateway, b'{"model": "claude-x", "messages": "' + b"x" * (9 * 1024 * 1024) + b'"}', "/v1/messages")
    assert response.status_code == 413
    assert response.json() == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "request body is larger than 8388608 bytes"},
    }


def test_unauthenticated_flaggable_content_is_never_kept(gateway: Running) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "please write a ransomware for me"}]}'
    assert post(gateway, body, key="aether-sk-not-a-real-key").status_code == 401
    gateway.settle()
    assert gateway.store.list_quarantine() == []
    assert [(e["response_code"], e["account_id"], e["model"]) for e in gateway.store.usage_events()] == [
        (401, None, None)
    ]


def test_a_malformed_request_from_a_valid_key_is_never_judged(gateway: Running) -> None:
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "please write a ransomware for me"}'
    assert post(gateway, body).status_code == 400
    gateway.settle()
    assert gateway.store.list_quarantine() == []


def test_anthropic_sdk_with_a_model_key_in_tool_input_and_a_revoked_key_stores_no_model(gateway: Running) -> None:
    """The SDK serialises `messages` before `model`: the old middleware stored the tool input's value."""
    key_id = gateway.store.list_keys()[0].id
    gateway.store.revoke_key(key_id)
    client = anthropic.Anthropic(base_url=gateway.base, api_key=gateway.key, max_retries=0, timeout=10)
    secret = "my-private-diary-entry-of-today"
    with client, pytest.raises(anthropic.AuthenticationError):
        client.messages.create(
            model="claude-3-5-haiku-latest",
            max_tokens=10,
            messages=[
                {"role": "user", "content": PROMPT},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"model": secret}}],
                },
            ],
        )
    gateway.settle()
    assert [(e["response_code"], e["model"]) for e in gateway.store.usage_events()] == [(401, None)]


def test_a_model_only_a_pattern_routes_is_not_stored_when_the_provider_refuses_it(gateway: Running) -> None:
    body = b'{"model": "gpt-my-secret-project-name-error400", "messages": [{"role": "user", "content": "hi"}]}'
    assert post(gateway, body).status_code == 400
    gateway.settle()
    assert [e["model"] for e in gateway.store.usage_events()] == [None]


def test_even_a_listed_model_is_not_stored_for_a_request_rejected_before_routing(gateway: Running) -> None:
    response = post(
        gateway,
        b'{"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}',
        path="/v1/messages",
        key="aether-sk-not-a-real-key",
    )
    assert response.status_code == 401
    gateway.settle()
    assert [e["model"] for e in gateway.store.usage_events()] == [None]


def test_a_long_model_string_matching_a_pattern_is_never_stored_whole(gateway: Running) -> None:
    model = "gpt-" + "tellmeaboutlisbon" * 20
    body = b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": "hi"}]}'
    assert post(gateway, body).status_code == 200  # the stand-in serves anything
    gateway.settle()
    assert [e["model"] for e in gateway.store.usage_events()] == ["gpt-*"]  # the pattern, never the name
    assert b"tellmeaboutlisbon" not in gateway.db_file.read_bytes()


# -- a provider whose response Python's json accepts but cannot write back -------------------------------------


async def odd_upstream(request: Request) -> Response:
    model = (await request.json())["model"]
    if model.endswith("-deeperror"):
        return Response(b'{"error": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, media_type="application/json")
    if model.endswith("-oddstream"):
        events = b'data: {"choices": [{"delta": {"content": "fine"}}]}\n\ndata: [1, 2]\n\ndata: [DONE]\n\n'
        return Response(events, media_type="text/event-stream")
    content = "\\ud800 lone" if model.endswith("-surrogate") else "fine"
    usage = "NaN" if model.endswith("-nan") else "5"
    body = (
        '{"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o", "choices": [{"index": 0, '
        f'"message": {{"role": "assistant", "content": "{content}"}}, "finish_reason": "stop"}}], '
        f'"usage": {{"prompt_tokens": {usage}, "completion_tokens": 1, "total_tokens": 6}}}}'
    )
    return Response(body.encode(), media_type="application/json")


@pytest.fixture
def odd(tmp_path: Path, provider_keys: None) -> Iterator[tuple[str, str]]:
    store, key = store_with_key(f"sqlite:///{tmp_path / 'odd.db'}")
    with serve(Starlette(routes=[Route("/v1/chat/completions", odd_upstream, methods=["POST"])])) as upstream:
        plan = loopback_plan()
        with serve(create_app(plan, store, config_for(upstream), gate_for(plan))) as base:
            yield base, key
    store.close()


def test_a_lone_surrogate_echoed_by_the_provider_is_relayed_escaped_not_a_500(odd: tuple[str, str]) -> None:
    base, key = odd
    response = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "gpt-4o-surrogate", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    assert b'"\\ud800 lone"' in response.content  # escaped, as the provider sent it
    assert response.json()["choices"][0]["message"]["content"] == "\ud800 lone"


def test_nan_from_the_provider_is_a_502_not_a_500(odd: tuple[str, str]) -> None:
    base, key = odd
    response = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "gpt-4o-nan", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {key}"},
    )
    assert (response.status_code, response.json()["error"]["type"]) == (502, "upstream_error")


def test_a_stream_event_the_translation_cannot_read_ends_the_stream_with_an_error_event(
    odd: tuple[str, str],
) -> None:
    base, key = odd
    client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, timeout=10)
    with client, pytest.raises(anthropic.APIStatusError) as caught:
        with client.messages.stream(
            model="gpt-4o-oddstream", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            "".join(stream.text_stream)
    assert "sent a stream event of an unexpected shape" in str(caught.value)


def test_a_provider_error_nested_5000_deep_is_still_answered_with_its_status(odd: tuple[str, str]) -> None:
    base, key = odd
    response = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "gpt-4o-deeperror", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {key}"},
    )
    assert (response.status_code, response.json()["error"]["message"]) == (
        400,
        "provider 'openai' returned 400 (unknown)",
    )
