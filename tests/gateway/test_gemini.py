"""A third protocol, Google Gemini, declared in the policy like any provider, routed and translated both ways:
the google-genai SDK against the gateway, and the other SDKs reaching a Gemini stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from google import genai
from google.genai import errors, types

from aether_policy.gateway import GatewayConfig, ProviderConfig, create_app
from aether_policy.loader import load_policy_text
from aether_policy.plan import compile_policy
from aether_policy.store.key_controls import update_controls
from tests.gateway.conftest import PROVIDER_KEYS, Running, config_for, store_with_key
from tests.gateway.test_gateway_sdks import claude, oai
from tests.helpers import gate_for, loopback_policy_text, serve
from tests.standins import StandIn

PROMPT = "Describe the harbour of Porto at dawn in two sentences"
GEMINI_KEY = "sk-provider-gemini-0003"
GOOGLE = """  google:
    title: Google
    kind: ai_provider
    receives: [prompt_content, api_usage.model]
    purposes: [service_provision]
    provider:
      api: gemini
      hosts: [generativelanguage.googleapis.com, 127.0.0.1]
"""


@pytest.fixture
def gateway(tmp_path: Path, standin_server: tuple[str, StandIn], monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    """The gateway under a policy that declares Google as a third AI provider."""
    for name, value in {**PROVIDER_KEYS, "STANDIN_GEMINI_KEY": GEMINI_KEY}.items():
        monkeypatch.setenv(name, value)
    upstream, standin = standin_server
    standin.received.clear()
    text = loopback_policy_text().replace("  legal_requests:\n", GOOGLE + "  legal_requests:\n")
    plan = compile_policy(load_policy_text(text).policy)
    base_config = config_for(upstream)
    gemini = ProviderConfig(
        api="gemini", base_url=upstream, api_key_env="STANDIN_GEMINI_KEY", models=("gemini-*",), timeout=1.5
    )
    config = GatewayConfig(providers={**base_config.providers, "google": gemini})
    store, key = store_with_key(f"sqlite:///{tmp_path / 'aether.db'}")
    with serve(create_app(plan, store, config, gate_for(plan))) as base:
        yield Running(base, store, standin, key, tmp_path / "aether.db", None)  # type: ignore[arg-type]
    store.close()


_clients: list[genai.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def google(gw: Running, key: str | None = None) -> genai.Client:
    """A google-genai client held until the test ends (the SDK closes its HTTP client when collected)."""
    options = types.HttpOptions(base_url=gw.base, api_version="v1beta", timeout=10_000)
    _clients.append(genai.Client(api_key=key or gw.key, http_options=options))
    return _clients[-1]


def test_the_google_sdk_reaches_gemini(gateway: Running) -> None:
    reply = google(gateway).models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert reply.text == f"echo: {PROMPT}"
    (sent,) = gateway.standin.received
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY  # the provider's key, never the caller's
    gateway.settle()
    assert [(e["model"], e["response_code"]) for e in gateway.store.usage_events()] == [("gemini-*", 200)]


def test_the_google_sdk_streams_from_gemini(gateway: Running) -> None:
    chunks = google(gateway).models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT)
    assert "".join(c.text or "" for c in chunks) == f"echo: {PROMPT}"
    assert gateway.standin.received[0].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


@pytest.mark.parametrize("model", ["gpt-5.5", "claude-sonnet-5-5"])
def test_the_google_sdk_reaches_other_providers_through_translation(gateway: Running, model: str) -> None:
    config = types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=50, temperature=0.2)
    reply = google(gateway).models.generate_content(model=model, contents=PROMPT, config=config)
    assert (reply.text or "").endswith(PROMPT)
    assert reply.usage_metadata is not None and reply.usage_metadata.prompt_token_count == 5
    body = gateway.standin.received[0].body
    system = body["system"] if model.startswith("claude") else body["messages"][0]["content"]
    assert (system, body["temperature"]) == ("Be brief.", 0.2)
    assert (body.get("max_tokens") or body.get("max_completion_tokens")) == 50


@pytest.mark.parametrize("model", ["gpt-5.5", "claude-sonnet-5-5"])
def test_the_google_sdk_streams_from_other_providers(gateway: Running, model: str) -> None:
    chunks = list(google(gateway).models.generate_content_stream(model=model, contents=PROMPT))
    assert "".join(c.text or "" for c in chunks) == f"echo: {PROMPT}"
    assert chunks[-1].usage_metadata is not None
    assert (chunks[-1].usage_metadata.prompt_token_count, chunks[-1].usage_metadata.candidates_token_count) == (5, 7)


def test_the_openai_sdk_reaches_gemini_through_translation(gateway: Running) -> None:
    reply = oai(gateway).chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": PROMPT}], max_tokens=40
    )
    assert reply.choices[0].message.content == f"echo: {PROMPT}"
    assert reply.usage is not None and reply.usage.prompt_tokens == 5
    body = gateway.standin.received[0].body
    assert body["generationConfig"] == {"maxOutputTokens": 40}
    assert "model" not in body  # Gemini names the model in the path


def test_the_anthropic_sdk_streams_from_gemini_through_translation(gateway: Running) -> None:
    with claude(gateway).messages.stream(
        model="gemini-2.5-flash", max_tokens=40, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        assert "".join(stream.text_stream) == f"echo: {PROMPT}"
        message = stream.get_final_message()
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 7)


def test_a_gemini_safety_stop_is_the_providers_moderation_verdict(gateway: Running) -> None:
    google(gateway).models.generate_content(model="gemini-2.5-flash-filter", contents=PROMPT)
    gateway.settle()
    (item,) = gateway.store.list_quarantine()
    assert item.reasons == "upstream_moderation:SAFETY"


def test_an_unknown_key_is_a_401_in_googles_shape(gateway: Running) -> None:
    with pytest.raises(errors.ClientError) as caught:
        google(gateway, key="sk-nobody-0000").models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert caught.value.code == 401
    assert caught.value.status == "UNAUTHENTICATED"
    assert gateway.standin.received == []


def test_a_gemini_parameter_another_protocol_cannot_carry_is_refused_by_name(gateway: Running) -> None:
    config = types.GenerateContentConfig(candidate_count=2)
    with pytest.raises(errors.ClientError) as caught:
        google(gateway).models.generate_content(model="gpt-5.5", contents=PROMPT, config=config)
    assert caught.value.code == 400
    assert "`generationConfig.candidateCount` other than 1" in (caught.value.message or "")
    assert gateway.standin.received == []


def test_a_model_name_cannot_walk_the_providers_path(gateway: Running) -> None:
    oai(gateway).chat.completions.create(model="gemini-../../v1/x", messages=[{"role": "user", "content": PROMPT}])
    assert gateway.standin.received[0].raw_path == b"/v1beta/models/gemini-..%2F..%2Fv1%2Fx:generateContent"


def test_the_openai_and_anthropic_sdks_still_reach_their_own_providers(gateway: Running) -> None:
    assert oai(gateway).chat.completions.create(model="gpt-5.5", messages=[{"role": "user", "content": "a b"}])
    assert claude(gateway).messages.create(
        model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "a b"}]
    )
    assert [r.path for r in gateway.standin.received] == ["/v1/chat/completions", "/v1/messages"]


def test_without_a_declared_google_recipient_the_gateway_refuses_a_gemini_provider() -> None:
    from aether_policy.gateway.config import conformance_problems
    from tests.helpers import loopback_plan

    config = GatewayConfig(
        providers={
            "google": ProviderConfig(
                api="gemini", base_url="https://generativelanguage.googleapis.com", models=("gemini-*",)
            )
        }
    )
    assert [path for path, _ in conformance_problems(config, loopback_plan())] == [("providers", "google")]


def test_a_keys_model_patterns_judge_the_model_gemini_names_in_the_path(gateway: Running) -> None:
    info, key = gateway.store.create_key("acme")
    update_controls(gateway.store, info.id, models=("gemini-2.5-*",))
    assert google(gateway, key).models.generate_content(model="gemini-2.5-flash", contents=PROMPT).text
    with pytest.raises(errors.ClientError) as caught:
        google(gateway, key).models.generate_content(model="gemini-1.5-pro", contents=PROMPT)
    assert caught.value.code == 403
    assert caught.value.status == "PERMISSION_DENIED"
    assert "may not call model 'gemini-1.5-pro'" in (caught.value.message or "")


def test_gemini_usage_metadata_is_charged_to_the_keys_token_limit(gateway: Running) -> None:
    info, key = gateway.store.create_key("acme")
    update_controls(gateway.store, info.id, tpm=10)  # the stand-in reports 5 + 7 tokens
    google(gateway, key).models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    with pytest.raises(errors.ClientError) as caught:
        google(gateway, key).models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert caught.value.code == 429
    assert "limited to 10 tokens per minute" in (caught.value.message or "")


def test_a_gemini_streams_usage_metadata_is_charged_to_the_keys_token_limit(gateway: Running) -> None:
    info, key = gateway.store.create_key("acme")
    update_controls(gateway.store, info.id, tpm=500)  # estimated at a quarter of the body; it reports 1,005
    for _ in google(gateway, key).models.generate_content_stream(model="gemini-2.5-flash-long", contents=PROMPT):
        pass
    with pytest.raises(errors.ClientError) as caught:
        google(gateway, key).models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert caught.value.code == 429
    assert "limited to 500 tokens per minute" in (caught.value.message or "")
