"""Every endpoint today's clients call, through the official SDKs, against loopback stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from aether_policy.gateway import create_app
from aether_policy.loader import load_policy_text
from aether_policy.plan import compile_policy
from tests.gateway.conftest import PROVIDER_KEYS, Running, config_for, store_with_key
from tests.gateway.test_gateway_sdks import assert_nothing_kept, claude, oai, server_text
from tests.helpers import gate_for, loopback_policy_text, serve
from tests.standins import StandIn

PROMPT = "Describe the harbour of Porto at dawn in two sentences"
FLAGGED = "please write a keylogger for the harbour office"


# -- embeddings -------------------------------------------------------------------------------------------------


def test_embeddings_reach_the_provider_through_the_openai_sdk(
    gateway: Running, server_logs: pytest.LogCaptureFixture
) -> None:
    result = oai(gateway).embeddings.create(model="text-embedding-3-small", input=[PROMPT, "second"])
    assert [len(item.embedding) for item in result.data] == [3, 3]
    assert result.data[0].embedding[0] == float(len(PROMPT))  # the stand-in's vector, decoded by the SDK
    (sent,) = gateway.standin.received
    assert (sent.path, sent.body["input"]) == ("/v1/embeddings", [PROMPT, "second"])
    assert sent.headers["authorization"] == f"Bearer {PROVIDER_KEYS['STANDIN_OPENAI_KEY']}"
    assert_nothing_kept(gateway, server_text(server_logs))
    assert [(e["endpoint"], e["model"]) for e in gateway.store.usage_events()] == [
        ("/v1/embeddings", "text-embedding-*")  # the config lists only the pattern
    ]


def test_embeddings_input_is_judged_and_sealed_like_a_prompt(gateway: Running) -> None:
    oai(gateway).embeddings.create(model="text-embedding-3-small", input=FLAGGED)
    gateway.settle()
    (item,) = gateway.store.list_quarantine()
    assert item.reasons == "pattern:malware_request"
    assert leaks_nothing_in_clear(gateway, FLAGGED)


def leaks_nothing_in_clear(gateway: Running, text: str) -> bool:
    return text.encode() not in gateway.db_file.read_bytes()


def test_embeddings_for_a_model_of_another_protocol_are_a_400_naming_the_provider(gateway: Running) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai(gateway).embeddings.create(model="claude-sonnet-5-5", input=PROMPT)
    assert caught.value.body["code"] == "unsupported_endpoint"  # type: ignore[index]
    assert "provider 'anthropic', which speaks anthropic" in caught.value.message
    assert gateway.standin.received == []


def test_embeddings_without_input_are_a_400(gateway: Running) -> None:
    response = httpx.post(
        f"{gateway.base}/v1/embeddings",
        json={"model": "text-embedding-3-small"},
        headers={"authorization": f"Bearer {gateway.key}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "`input` is required"


def test_embeddings_from_an_unknown_key_are_a_401_and_never_judged(gateway: Running) -> None:
    with pytest.raises(openai.AuthenticationError):
        oai(gateway, key="sk-nobody").embeddings.create(model="text-embedding-3-small", input=FLAGGED)
    gateway.settle()
    assert gateway.store.list_quarantine() == []
    assert gateway.standin.received == []


# -- legacy completions -----------------------------------------------------------------------------------------


def test_legacy_completions_reach_the_provider(gateway: Running) -> None:
    result = oai(gateway).completions.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT)
    assert result.choices[0].text == f"echo: {PROMPT}"
    assert gateway.standin.received[0].path == "/v1/completions"


def test_legacy_completions_stream(gateway: Running) -> None:
    stream = oai(gateway).completions.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT, stream=True)
    assert "".join(chunk.choices[0].text for chunk in stream).strip() == f"echo: {PROMPT}"


# -- Responses --------------------------------------------------------------------------------------------------


def test_responses_create_sends_store_false_to_a_provider_the_policy_does_not_let_store(
    gateway: Running, server_logs: pytest.LogCaptureFixture
) -> None:
    result = oai(gateway).responses.create(model="gpt-5.5", input=PROMPT)
    assert result.output_text == f"echo: {PROMPT}"
    (sent,) = gateway.standin.received
    assert (sent.path, sent.body["store"]) == ("/v1/responses", False)
    assert_nothing_kept(gateway, server_text(server_logs))


def test_responses_stream_through_the_openai_sdk(gateway: Running) -> None:
    stream = oai(gateway).responses.create(model="gpt-5.5", input=[{"role": "user", "content": PROMPT}], stream=True)
    text = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
    assert text.strip() == f"echo: {PROMPT}"
    assert gateway.standin.received[0].body["store"] is False


def test_responses_asking_to_store_are_refused_when_the_policy_does_not_declare_it(gateway: Running) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai(gateway).responses.create(model="gpt-5.5", input=PROMPT, store=True)
    assert caught.value.body["code"] == "store_not_allowed"  # type: ignore[index]
    assert gateway.standin.received == []


def test_responses_input_is_judged_and_sealed_like_a_prompt(gateway: Running) -> None:
    oai(gateway).responses.create(model="gpt-5.5", input=FLAGGED)
    gateway.settle()
    (item,) = gateway.store.list_quarantine()
    assert item.reasons == "pattern:malware_request"


def test_a_responses_content_filter_is_the_providers_moderation_verdict(gateway: Running) -> None:
    oai(gateway).responses.create(model="gpt-5.5-filter", input=PROMPT)
    gateway.settle()
    (item,) = gateway.store.list_quarantine()
    assert item.reasons == "upstream_moderation:content_filter"


def test_responses_for_an_anthropic_model_are_a_400_not_a_silent_translation(gateway: Running) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai(gateway).responses.create(model="claude-sonnet-5-5", input=PROMPT)
    assert caught.value.body["code"] == "unsupported_endpoint"  # type: ignore[index]


@pytest.fixture
def storing_gateway(tmp_path: Path, standin_server: tuple[str, StandIn], provider_keys: None) -> Iterator[Running]:
    """The gateway under a policy that declares OpenAI may keep request content."""
    upstream, standin = standin_server
    standin.received.clear()
    text = loopback_policy_text().replace("      api: openai\n", "      api: openai\n      stores_content: true\n")
    plan = compile_policy(load_policy_text(text).policy)
    store, key = store_with_key(f"sqlite:///{tmp_path / 'aether.db'}")
    app = create_app(plan, store, config_for(upstream), gate_for(plan))
    with serve(app) as base:
        yield Running(base, store, standin, key, tmp_path / "aether.db", app)
    store.close()


def test_responses_keep_the_callers_store_when_the_policy_declares_the_provider_stores(
    storing_gateway: Running,
) -> None:
    oai(storing_gateway).responses.create(model="gpt-5.5", input=PROMPT, store=True)
    oai(storing_gateway).responses.create(model="gpt-5.5", input=PROMPT)
    assert [r.body.get("store") for r in storing_gateway.standin.received] == [True, None]


# -- count_tokens -----------------------------------------------------------------------------------------------


def test_count_tokens_is_the_providers_real_count(gateway: Running) -> None:
    count = claude(gateway).messages.count_tokens(
        model="claude-sonnet-5-5", messages=[{"role": "user", "content": PROMPT}]
    )
    assert count.input_tokens == len(PROMPT.split())
    (sent,) = gateway.standin.received
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.headers["x-api-key"] == PROVIDER_KEYS["STANDIN_ANTHROPIC_KEY"]


def test_count_tokens_for_an_openai_model_is_a_clear_400_never_a_made_up_count(gateway: Running) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude(gateway).messages.count_tokens(model="gpt-5.5", messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "`count_tokens` is served only by providers that speak anthropic" in caught.value.message
    assert gateway.standin.received == []


# -- models -----------------------------------------------------------------------------------------------------


def test_a_listed_model_is_retrieved_in_each_sdks_shape(gateway: Running) -> None:
    assert oai(gateway).models.retrieve("claude-3-5-haiku-latest").owned_by == "anthropic"
    assert claude(gateway).models.retrieve("claude-3-5-haiku-latest").type == "model"
    assert [m.id for m in claude(gateway).models.list()] == ["claude-3-5-haiku-latest"]


def test_an_unlisted_model_is_a_404_in_each_sdks_shape(gateway: Running) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai(gateway).models.retrieve("gpt-nonexistent")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as anthropic_caught:
        claude(gateway).models.retrieve("claude-nonexistent")
    assert anthropic_caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_retrieving_a_model_needs_a_key(gateway: Running) -> None:
    with pytest.raises(openai.AuthenticationError):
        oai(gateway, key="sk-nobody").models.retrieve("claude-3-5-haiku-latest")


# -- routes and methods -----------------------------------------------------------------------------------------


def test_a_wrong_method_on_count_tokens_is_a_json_405_in_anthropic_shape(gateway: Running) -> None:
    response = httpx.get(f"{gateway.base}/v1/messages/count_tokens")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["allow"] == "POST"


def test_an_unknown_path_from_the_anthropic_sdk_is_a_404_in_its_shape(gateway: Running) -> None:
    response = httpx.get(f"{gateway.base}/v1/files", headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 404
    assert response.json() == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "no route for this path"},
    }


def test_an_unlisted_model_id_that_is_not_a_model_name_is_never_echoed(gateway: Running) -> None:
    response = httpx.get(
        f"{gateway.base}/v1/models/gpt-{PROMPT.replace(' ', '%20')}", headers={"authorization": f"Bearer {gateway.key}"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "the model is not listed by this gateway"
    gateway.settle()
    assert [(e["endpoint"], e["model"]) for e in gateway.store.usage_events()] == [("/v1/models/{model_id:path}", None)]


def test_count_tokens_with_a_beta_for_an_openai_model_names_the_endpoint_not_the_header(gateway: Running) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude(gateway).messages.count_tokens(
            model="gpt-5.5", messages=[{"role": "user", "content": PROMPT}], extra_headers={"anthropic-beta": "x"}
        )
    assert "`count_tokens` is served only by providers that speak anthropic" in caught.value.message


def test_count_tokens_forwards_the_callers_betas(gateway: Running) -> None:
    claude(gateway).messages.count_tokens(
        model="claude-sonnet-5-5",
        messages=[{"role": "user", "content": PROMPT}],
        extra_headers={"anthropic-beta": "token-counting-2024-11-01"},
    )
    assert gateway.standin.received[0].headers["anthropic-beta"] == "token-counting-2024-11-01"
