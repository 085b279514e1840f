"""The gateway as its users call it: the official openai and anthropic SDKs, against loopback stand-ins."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.gateway.conftest import PROVIDER_KEYS, Running
from tests.sinks import leaks

CLIENT_LOGGERS = ("openai", "anthropic")


def server_text(caplog: pytest.LogCaptureFixture) -> str:
    """Log records of the gateway side: the SDKs under test run in this process and log their own requests."""
    return "\n".join(caplog.handler.format(r) for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS))


PROMPT = "Describe the harbour of Porto at dawn in two sentences"


_clients: list[openai.OpenAI | anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def oai(gw: Running, key: str | None = None) -> openai.OpenAI:
    _clients.append(openai.OpenAI(base_url=f"{gw.base}/v1", api_key=key or gw.key, max_retries=0, timeout=10))
    return _clients[-1]  # type: ignore[return-value]


def claude(gw: Running, key: str | None = None) -> anthropic.Anthropic:
    _clients.append(anthropic.Anthropic(base_url=gw.base, api_key=key or gw.key, max_retries=0, timeout=10))
    return _clients[-1]  # type: ignore[return-value]


def assert_nothing_kept(gw: Running, logs: str, *texts: str) -> None:
    gw.settle()
    assert leaks(PROMPT, db_file=gw.db_file, logs=logs, texts=texts) == []


def test_openai_sdk_chat_completion(gateway: Running, server_logs: pytest.LogCaptureFixture) -> None:
    reply = oai(gateway).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
    assert reply.choices[0].message.content == f"echo: {PROMPT}"
    assert_nothing_kept(gateway, server_text(server_logs))
    assert [e["model"] for e in gateway.store.usage_events()] == ["gpt-*"]  # the config lists only the pattern


def test_openai_sdk_streaming(gateway: Running, server_logs: pytest.LogCaptureFixture) -> None:
    stream = oai(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == f"echo: {PROMPT}"
    assert_nothing_kept(gateway, server_text(server_logs))


def test_anthropic_sdk_messages(gateway: Running, server_logs: pytest.LogCaptureFixture) -> None:
    reply = claude(gateway).messages.create(
        model="claude-3-5-haiku-latest", max_tokens=100, messages=[{"role": "user", "content": PROMPT}]
    )
    assert reply.content[0].text == f"echo: {PROMPT}"  # type: ignore[union-attr]
    assert_nothing_kept(gateway, server_text(server_logs))


def test_anthropic_sdk_streaming(gateway: Running) -> None:
    with claude(gateway).messages.stream(
        model="claude-3-5-haiku-latest", max_tokens=100, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        assert "".join(stream.text_stream) == f"echo: {PROMPT}"


def test_openai_sdk_reaches_claude_through_translation(gateway: Running) -> None:
    client = oai(gateway)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]
    reply = client.chat.completions.create(model="claude-3-5-haiku-latest", messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == f"echo: {PROMPT}"
    sent = gateway.standin.received[-1]
    assert (sent.path, sent.body["system"], sent.body["max_tokens"]) == ("/v1/messages", "Be brief.", 4096)
    stream = client.chat.completions.create(model="claude-3-5-haiku-latest", messages=messages, stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == f"echo: {PROMPT}"


def test_anthropic_sdk_reaches_gpt_through_translation(gateway: Running) -> None:
    client = claude(gateway)
    reply = client.messages.create(model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": PROMPT}])
    assert reply.content[0].text == f"echo: {PROMPT}"  # type: ignore[union-attr]
    assert gateway.standin.received[-1].path == "/v1/chat/completions"
    with client.messages.stream(
        model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": PROMPT}]
    ) as s:
        assert "".join(s.text_stream) == f"echo: {PROMPT}"


def test_upstream_gets_the_provider_key_never_the_callers(gateway: Running) -> None:
    oai(gateway).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
    claude(gateway).messages.create(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": PROMPT}])
    openai_call, anthropic_call = gateway.standin.received[-2:]
    assert openai_call.headers["authorization"] == f"Bearer {PROVIDER_KEYS['STANDIN_OPENAI_KEY']}"
    assert anthropic_call.headers["x-api-key"] == PROVIDER_KEYS["STANDIN_ANTHROPIC_KEY"]
    for call in (openai_call, anthropic_call):
        assert gateway.key not in str(call.headers) and gateway.key not in str(call.body)


def test_client_ip_and_cookies_are_not_forwarded(gateway: Running) -> None:
    httpx.post(
        f"{gateway.base}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]},
        headers={"authorization": f"Bearer {gateway.key}", "x-forwarded-for": "198.51.100.7", "cookie": "a=b"},
    )
    headers = gateway.standin.received[-1].headers
    assert not {"x-forwarded-for", "cookie", "forwarded", "x-real-ip"} & set(headers)


def test_unknown_key_is_401(gateway: Running) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        oai(gateway, key="aether-sk-not-a-real-key").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
        )
    assert caught.value.status_code == 401
    assert caught.value.body == {
        "message": "missing or unknown API key",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_missing_key_is_401_in_anthropic_shape(gateway: Running) -> None:
    response = httpx.post(f"{gateway.base}/v1/messages", json={"model": "claude-x", "messages": []})
    assert response.status_code == 401
    assert response.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "missing or unknown API key"},
    }


def test_malformed_json_is_400_without_echo(gateway: Running) -> None:
    response = httpx.post(
        f"{gateway.base}/v1/chat/completions",
        content=b'{"model": "gpt-4o", "messages": [' + PROMPT.encode(),
        headers={"authorization": f"Bearer {gateway.key}", "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert (
        response.json()["error"]["message"] == "the request body is not valid JSON (line 1, column 34: Expecting value)"
    )


def test_bad_request_shape_is_400(gateway: Running) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai(gateway).chat.completions.create(model="gpt-4o-mini", messages=[])
    assert caught.value.status_code == 400


def test_unknown_model_is_404(gateway: Running) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai(gateway).chat.completions.create(model="llama-3", messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_oversized_body_is_413(gateway: Running) -> None:
    response = httpx.post(
        f"{gateway.base}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * (9 * 1024 * 1024)}]},
        headers={"authorization": f"Bearer {gateway.key}"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize("model", ["gpt-4o-error400", "gpt-4o-error500", "claude-x-error500"])
def test_an_upstream_error_quoting_the_prompt_is_never_echoed_logged_or_stored(
    gateway: Running, server_logs: pytest.LogCaptureFixture, model: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        oai(gateway).chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.status_code in (400, 502)
    assert PROMPT[:16] not in caught.value.response.text
    assert_nothing_kept(gateway, server_text(server_logs), caught.value.response.text)


def test_upstream_timeout_is_504(gateway: Running) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        oai(gateway).chat.completions.create(model="gpt-4o-slow", messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.status_code == 504


def test_malformed_upstream_json_is_502(gateway: Running) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        oai(gateway).chat.completions.create(model="gpt-4o-malformed", messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.status_code == 502


def test_upstream_connection_reset_is_502(gateway: Running) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        oai(gateway).chat.completions.create(model="gpt-4o-reset", messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.status_code == 502


def test_a_cut_stream_ends_with_an_error_event_and_is_recorded(
    gateway: Running, server_logs: pytest.LogCaptureFixture
) -> None:
    with httpx.stream(
        "POST",
        f"{gateway.base}/v1/chat/completions",
        json={"model": "gpt-4o-cut", "messages": [{"role": "user", "content": PROMPT}], "stream": True},
        headers={"authorization": f"Bearer {gateway.key}"},
        timeout=10,
    ) as response:
        body = response.read().decode()
    assert body.rstrip().endswith('"type":"upstream_error"}}')
    gateway.settle()
    assert [e["error_class"] for e in gateway.store.usage_events()] == ["UpstreamStreamCut"]
    assert_nothing_kept(gateway, server_text(server_logs))


def test_upstream_moderation_keeps_the_content_sealed_for_review(
    gateway: Running, server_logs: pytest.LogCaptureFixture
) -> None:
    oai(gateway).chat.completions.create(model="gpt-4o-filter", messages=[{"role": "user", "content": PROMPT}])
    gateway.settle()
    (item,) = gateway.store.list_quarantine()
    assert item.reasons == "upstream_moderation:content_filter"
    assert (item.expires_at - item.created_at).days == 30
    assert leaks(PROMPT, db_file=gateway.db_file, logs=server_text(server_logs)) == []  # kept, but only encrypted


def test_models_health_and_policy_endpoints(gateway: Running) -> None:
    assert [m.id for m in oai(gateway).models.list()] == ["claude-3-5-haiku-latest"]
    assert httpx.get(f"{gateway.base}/healthz").json()["status"] == "ok"
    policy = httpx.get(f"{gateway.base}/.well-known/privacy-policy.json").json()
    assert set(policy) == {"service", "digest", "version", "last_updated", "page_url"}
    assert policy["page_url"] == "https://aetherapi.dev/privacy/"


@pytest.mark.parametrize("stream", [False, True])
def test_a_gzip_encoded_upstream_reaches_the_client_decoded(gateway: Running, stream: bool) -> None:
    client = oai(gateway)
    messages = [{"role": "user", "content": PROMPT}]
    if stream:
        chunks = client.chat.completions.create(model="gpt-4o-gzip", messages=messages, stream=True)  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = client.chat.completions.create(model="gpt-4o-gzip", messages=messages).choices[0].message.content or ""  # type: ignore[arg-type]
    assert text == f"echo: {PROMPT}"


def test_environment_defaults_route_each_family_and_list_known_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from aether_policy.gateway import config_from_env

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    config = config_from_env()
    assert [config.route(m)[0] for m in ("gpt-4o", "o3-mini", "o4-mini", "claude-opus-4")] == [  # type: ignore[index]
        "openai",
        "openai",
        "openai",
        "anthropic",
    ]
    assert config.route("llama-3") is None
    assert ("gpt-5.5", "openai") in config.listed_models()
    assert ("claude-sonnet-5-5", "anthropic") in config.listed_models()
    assert config.providers["openai"].base_url == "https://api.openai.com/v1"


def test_a_request_the_translation_cannot_read_is_400_without_echo(gateway: Running) -> None:
    body = {
        "model": "claude-3-5-haiku-latest",
        "messages": [{"role": "user", "content": PROMPT}],
        "tools": [{"type": "function", "function": {"description": PROMPT}}],
    }
    response = httpx.post(
        f"{gateway.base}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {gateway.key}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "the request cannot be translated for provider 'anthropic': a field is missing or has the wrong type (KeyError)"
    )


def test_no_default_model_is_one_the_anthropic_sdk_calls_deprecated() -> None:
    from anthropic._data.deprecated_models import DEPRECATED_MODELS

    from aether_policy.gateway.config import DEFAULT_ANTHROPIC_MODELS

    assert [m for m in DEFAULT_ANTHROPIC_MODELS if m in DEPRECATED_MODELS] == []
