"""No silent drops: every parameter of a translated request is translated, emulated or refused by name.

The official SDKs call the gateway; the stand-ins record exactly what reached the provider.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.gateway.conftest import Running
from tests.gateway.test_gateway_sdks import claude, oai

PROMPT = "Describe the harbour of Porto at dawn in two sentences"
USER = [{"role": "user", "content": PROMPT}]
SCHEMA = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
WEATHER = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {}}}


def sent(gateway: Running) -> dict[str, Any]:
    (request,) = gateway.standin.received
    return request.body


# -- OpenAI callers, Anthropic models ---------------------------------------------------------------------------


def test_json_schema_for_claude_is_emulated_with_a_forced_tool_and_answered_as_json(gateway: Running) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "echo", "schema": SCHEMA, "strict": True}}
    reply = oai(gateway).chat.completions.create(model="claude-sonnet-5-5", messages=USER, response_format=fmt)  # type: ignore[arg-type]
    assert json.loads(reply.choices[0].message.content or "") == {"echo": PROMPT}
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.tool_calls is None
    body = sent(gateway)
    assert [(t["name"], t["input_schema"]) for t in body["tools"]] == [("json_response", SCHEMA)]
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_json_schema_for_claude_is_emulated_in_a_stream_too(gateway: Running) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "echo", "schema": SCHEMA}}
    stream = oai(gateway).chat.completions.create(
        model="claude-sonnet-5-5",
        messages=USER,
        response_format=fmt,
        stream=True,  # type: ignore[arg-type]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"echo": PROMPT}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_json_object_for_claude_is_emulated_with_an_object_schema(gateway: Running) -> None:
    reply = oai(gateway).chat.completions.create(
        model="claude-sonnet-5-5", messages=USER, response_format={"type": "json_object"}
    )
    assert json.loads(reply.choices[0].message.content or "") == {"echo": PROMPT}
    assert sent(gateway)["tools"][0]["input_schema"] == {"type": "object"}


def test_json_schema_with_tools_for_claude_is_refused_naming_response_format(gateway: Running) -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "echo", "schema": SCHEMA}}
    with pytest.raises(openai.BadRequestError) as caught:
        oai(gateway).chat.completions.create(
            model="claude-sonnet-5-5",
            messages=USER,
            tools=[tool],
            response_format=fmt,  # type: ignore[list-item,arg-type]
        )
    assert caught.value.message.startswith("Error code: 400 - ")
    assert "`response_format` with `tools` cannot be emulated" in caught.value.message
    assert caught.value.body["code"] == "unsupported_parameter"  # type: ignore[index]
    assert gateway.standin.received == []


def test_n_above_one_for_claude_is_refused_naming_n(gateway: Running) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai(gateway).chat.completions.create(model="claude-sonnet-5-5", messages=USER, n=2)
    assert "`n` other than 1" in caught.value.message
    assert gateway.standin.received == []


def test_n_of_one_for_claude_is_served(gateway: Running) -> None:
    reply = oai(gateway).chat.completions.create(model="claude-sonnet-5-5", messages=USER, n=1)
    assert reply.choices[0].message.content == f"echo: {PROMPT}"
    assert "n" not in sent(gateway)


@pytest.mark.parametrize(("param", "value"), [("seed", 7), ("logprobs", True), ("presence_penalty", 0.5)])
def test_a_parameter_anthropic_cannot_carry_is_refused_by_name(gateway: Running, param: str, value: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai(gateway).chat.completions.create(model="claude-sonnet-5-5", messages=USER, **{param: value})
    assert f"`{param}` is not translated to another provider's protocol" in caught.value.message
    assert "provider 'anthropic', which speaks anthropic" in caught.value.message


def test_a_parameter_sent_as_null_is_absent(gateway: Running) -> None:
    reply = oai(gateway).chat.completions.create(
        model="claude-sonnet-5-5", messages=USER, extra_body={"seed": None, "logprobs": None}
    )
    assert reply.choices[0].message.content == f"echo: {PROMPT}"


def test_a_translated_claude_stream_reports_complete_usage(gateway: Running) -> None:
    stream = oai(gateway).chat.completions.create(
        model="claude-sonnet-5-5", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    usage = [c.usage for c in stream if c.usage is not None]
    assert [(u.prompt_tokens, u.completion_tokens, u.total_tokens) for u in usage] == [(5, 7, 12)]


def test_reasoning_effort_for_claude_is_its_output_effort(gateway: Running) -> None:
    oai(gateway).chat.completions.create(model="claude-sonnet-5-5", messages=USER, reasoning_effort="high")
    assert sent(gateway)["output_config"] == {"effort": "high"}


# -- Anthropic callers, OpenAI models ---------------------------------------------------------------------------


def test_max_tokens_reaches_openai_as_max_completion_tokens(gateway: Running) -> None:
    claude(gateway).messages.create(model="gpt-5.5", max_tokens=64, messages=USER)  # type: ignore[arg-type]
    body = sent(gateway)
    assert (body.get("max_completion_tokens"), "max_tokens" in body) == (64, False)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_for_gpt_is_translated(gateway: Running, choice: dict[str, Any], expected: Any) -> None:
    claude(gateway).messages.create(
        model="gpt-5.5",
        max_tokens=64,
        messages=USER,
        tools=[WEATHER],
        tool_choice=choice,  # type: ignore[arg-type]
    )
    assert sent(gateway)["tool_choice"] == expected


def test_disabled_parallel_tool_use_for_gpt_is_parallel_tool_calls_false(gateway: Running) -> None:
    claude(gateway).messages.create(
        model="gpt-5.5",
        max_tokens=64,
        messages=USER,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    assert sent(gateway)["parallel_tool_calls"] is False


@pytest.mark.parametrize("where", ["output_format", "output_config"])
def test_structured_output_for_gpt_is_its_json_schema_response_format(gateway: Running, where: str) -> None:
    fmt = {"type": "json_schema", "schema": SCHEMA}
    extra = {"output_format": fmt} if where == "output_format" else {"output_config": {"format": fmt}}
    claude(gateway).messages.create(model="gpt-5.5", max_tokens=64, messages=USER, extra_body=extra)  # type: ignore[arg-type]
    assert sent(gateway)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
    }


@pytest.mark.parametrize(("budget", "effort"), [(2048, "low"), (8000, "medium"), (32000, "high")])
def test_thinking_for_gpt_is_a_reasoning_effort(gateway: Running, budget: int, effort: str) -> None:
    claude(gateway).messages.create(
        model="gpt-5.5",
        max_tokens=64000,
        messages=USER,  # type: ignore[arg-type]
        thinking={"type": "enabled", "budget_tokens": budget},
    )
    assert sent(gateway)["reasoning_effort"] == effort


def test_top_k_for_gpt_is_refused_by_name_in_anthropic_shape(gateway: Running) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude(gateway).messages.create(model="gpt-5.5", max_tokens=64, messages=USER, extra_body={"top_k": 5})  # type: ignore[arg-type]
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "`top_k` is not translated" in caught.value.message
    assert gateway.standin.received == []


def test_a_translated_gpt_stream_reports_complete_usage(gateway: Running) -> None:
    with claude(gateway).messages.stream(model="gpt-5.5", max_tokens=64, messages=USER) as stream:  # type: ignore[arg-type]
        message = stream.get_final_message()
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 7)
    assert sent(gateway)["stream_options"] == {"include_usage": True}


# -- anthropic-beta -------------------------------------------------------------------------------------------


def test_anthropic_beta_reaches_an_anthropic_provider_every_value_kept(gateway: Running) -> None:
    claude(gateway).messages.create(
        model="claude-sonnet-5-5",
        max_tokens=64,
        messages=USER,  # type: ignore[arg-type]
        extra_headers={"anthropic-beta": "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14"},
    )
    assert gateway.standin.received[0].headers["anthropic-beta"] == (
        "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14"
    )


def test_anthropic_beta_for_a_gpt_model_is_refused_by_name(gateway: Running) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude(gateway).messages.create(
            model="gpt-5.5",
            max_tokens=64,
            messages=USER,  # type: ignore[arg-type]
            extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
        )
    assert "the `anthropic-beta` header cannot be translated" in caught.value.message
    assert gateway.standin.received == []


def test_an_anthropic_beta_carrying_the_callers_key_never_leaves(gateway: Running) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude(gateway).messages.create(
            model="claude-sonnet-5-5",
            max_tokens=64,
            messages=USER,  # type: ignore[arg-type]
            extra_headers={"anthropic-beta": f"x,{gateway.key}"},
        )
    assert caught.value.status_code == 502
    assert gateway.standin.received == []
