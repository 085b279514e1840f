"""Fallback within the policy: another provider answers when one fails, only if the policy declares it a
recipient of the same data, and never after the caller has had a byte of the first provider's answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from click.testing import CliRunner

from aether_policy import load_policy_text
from aether_policy.checks import CheckOptions, run_checks
from aether_policy.cli import main
from aether_policy.exceptions import ConfigError
from aether_policy.gateway import GatewayConfig, ProviderConfig, create_app
from aether_policy.gateway.config import Fallback, check_conformance, conformance_problems, load_config
from aether_policy.gateway.metrics import GatewayMetrics
from aether_policy.plan import Plan, compile_policy
from aether_policy.store import Store
from aether_policy.store.key_controls import update_controls
from tests.gateway.conftest import PROVIDER_KEYS
from tests.helpers import free_port, gate_for, loopback_policy_text, serve
from tests.standins import StandIn

USER = [{"role": "user", "content": "Describe the harbour of Porto at dawn"}]
TOKEN = "metrics-token-0123456789abcdef"

# Two more AI-provider recipients on loopback: `backup` receives what OpenAI and Anthropic receive, for the
# same purpose; `eval_lab` receives only model names, for analytics: never prompts.
EXTRA_RECIPIENTS = """  backup:
    title: Backup Provider
    kind: ai_provider
    receives: [prompt_content, api_usage.model]
    purposes: [service_provision]
    provider:
      api: openai
      hosts: [127.0.0.1]
  eval_lab:
    title: Evaluation Lab
    kind: ai_provider
    receives: [api_usage.model]
    purposes: [improvement_analytics]
    provider:
      api: openai
      hosts: [127.0.0.1]
"""


def fallback_policy_text() -> str:
    text = loopback_policy_text()
    return text.replace("  legal_requests:\n", EXTRA_RECIPIENTS + "  legal_requests:\n", 1)


def fallback_plan() -> Plan:
    return compile_policy(load_policy_text(fallback_policy_text()).policy)


def nobody() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: the connection is refused at once


def provider(api: str, base: str, models: tuple[str, ...], *fallback: Fallback | str, **extra: Any) -> ProviderConfig:
    key = "STANDIN_OPENAI_KEY" if api == "openai" else "STANDIN_ANTHROPIC_KEY"
    url = f"{base}/v1" if api == "openai" else base
    entries = [{"provider": f} if isinstance(f, str) else f.model_dump() for f in fallback]
    return ProviderConfig.model_validate(
        {"api": api, "base_url": url, "api_key_env": key, "models": models, "timeout": 5.0, "fallback": entries} | extra
    )


@dataclass
class Fell:
    base: str
    store: Store
    key: str
    first: StandIn
    backup: StandIn

    clients: list[openai.OpenAI | anthropic.Anthropic] = field(default_factory=list)

    def oai(self) -> openai.OpenAI:
        client = openai.OpenAI(base_url=f"{self.base}/v1", api_key=self.key, max_retries=0, timeout=20)
        self.clients.append(client)
        return client

    def claude(self) -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=self.base, api_key=self.key, max_retries=0, timeout=20)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def scrape(self) -> str:
        response = httpx.get(f"{self.base}/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        return response.text


Launch = Callable[..., Fell]


@pytest.fixture
def launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Launch]:
    """Starts a gateway over the given providers (built by a function of the two stand-ins' URLs), with
    metrics, as `create_app` builds it: without `serve`'s conformance check, so the gateway's own rule is
    what keeps a fallback the policy does not allow from being used."""
    for name, value in PROVIDER_KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with ExitStack() as stack:

        def start(providers: Callable[[str, str], dict[str, ProviderConfig]]) -> Fell:
            first, backup = StandIn(slow_seconds=8.0), StandIn()
            first_url, backup_url = stack.enter_context(serve(first.app())), stack.enter_context(serve(backup.app()))
            store = Store(f"sqlite:///{tmp_path / 'aether.db'}", flush_interval=0.02)
            stack.callback(store.close)
            store.migrate()
            _, key = store.create_key("acme")
            plan = fallback_plan()
            metrics = GatewayMetrics(TOKEN, digest=plan.digest, version=plan.version)
            config = GatewayConfig(providers=providers(first_url, backup_url))
            app = create_app(plan, store, config, gate_for(plan), metrics=metrics)
            fell = Fell(stack.enter_context(serve(app)), store, key, first, backup)
            stack.callback(fell.close)
            return fell

        yield start


def to_backup(first: str, backup: str) -> dict[str, ProviderConfig]:
    """OpenAI refuses the connection; `backup`, a recipient of the same data, serves the same models."""
    return {
        "openai": provider("openai", nobody(), ("gpt-*", "text-embedding-*"), "backup"),
        "backup": provider("openai", backup, ("gpt-*", "text-embedding-*")),
    }


# -- the fallback answers ----------------------------------------------------------------------------------------


def test_a_refused_provider_falls_back_to_a_declared_recipient_of_the_same_data(launch: Launch) -> None:
    fell = launch(to_backup)
    reply = fell.oai().chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == f"echo: {USER[0]['content']}"
    assert [(r.path, r.body["model"]) for r in fell.backup.received] == [("/v1/chat/completions", "gpt-4o")]


def test_the_metrics_name_the_provider_that_answered(launch: Launch) -> None:
    fell = launch(to_backup)
    fell.oai().chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    text = fell.scrape()
    assert 'aether_requests_total{provider="backup",route="/v1/chat/completions",status="200"} 1.0' in text
    assert 'provider="openai",route="/v1/chat/completions"' not in text


def test_a_provider_still_failing_after_its_retries_falls_back_to_the_model_the_config_names(
    launch: Launch,
) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", first, ("gpt-*",), Fallback(provider="backup", model="gpt-5.5"), retries=1),
            "backup": provider("openai", backup, ("gpt-*",)),
        }
    )
    reply = fell.oai().chat.completions.create(model="gpt-4o-overloaded", messages=USER)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == f"echo: {USER[0]['content']}"
    assert len(fell.first.received) == 2  # the first try and its one retry
    assert [r.body["model"] for r in fell.backup.received] == ["gpt-5.5"]
    fell.store.flush()
    deadline = time.monotonic() + 5
    while not fell.store.usage_events() and time.monotonic() < deadline:
        time.sleep(0.02)
        fell.store.flush()
    assert [e["model"] for e in fell.store.usage_events()] == ["gpt-5.5"]  # the model that answered


def test_a_claude_request_falls_back_to_an_openai_provider_through_the_translation(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "anthropic": provider("anthropic", nobody(), ("claude-*",), Fallback(provider="backup", model="gpt-5.5")),
            "backup": provider("openai", backup, ("gpt-*",)),
        }
    )
    reply = fell.claude().messages.create(
        model="claude-sonnet-5-5",
        max_tokens=50,
        system="Answer in one line",
        messages=USER,  # type: ignore[arg-type]
    )
    assert reply.content[0].text.startswith("echo: ")  # type: ignore[union-attr]
    [sent] = fell.backup.received
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-5.5"
    assert sent.body["messages"][0] == {"role": "system", "content": "Answer in one line"}
    assert sent.body["max_completion_tokens"] == 50


def test_a_stream_falls_back_while_nothing_has_reached_the_caller(launch: Launch) -> None:
    fell = launch(to_backup)
    stream = fell.oai().chat.completions.create(model="gpt-4o", messages=USER, stream=True)  # type: ignore[arg-type]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.strip() == f"echo: {USER[0]['content']}"
    assert len(fell.backup.received) == 1


def test_embeddings_fall_back_like_chat(launch: Launch) -> None:
    fell = launch(to_backup)
    reply = fell.oai().embeddings.create(model="text-embedding-3-small", input=["a harbour", "at dawn"])
    assert len(reply.data) == 2
    assert [r.path for r in fell.backup.received] == ["/v1/embeddings"]


def test_a_responses_fallback_keeps_the_store_false_the_first_provider_was_sent(launch: Launch) -> None:
    fell = launch(to_backup)
    fell.oai().responses.create(model="gpt-4o", input="Describe the harbour of Porto at dawn")
    assert [r.body["store"] for r in fell.backup.received] == [False]


# -- and when it does not --------------------------------------------------------------------------------------


def test_a_stream_cut_midway_is_never_sent_to_the_fallback(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", first, ("gpt-*",), "backup"),
            "backup": provider("openai", backup, ("gpt-*",)),
        }
    )
    with pytest.raises(openai.APIError):
        stream = fell.oai().chat.completions.create(model="gpt-4o-cut", messages=USER, stream=True)  # type: ignore[arg-type]
        for _ in stream:
            pass
    assert len(fell.first.received) == 1
    assert fell.backup.received == []  # the caller already had the first provider's bytes


def test_when_the_fallback_fails_too_an_openai_caller_gets_a_502_naming_both(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", nobody(), ("gpt-*",), "backup"),
            "backup": provider("openai", nobody(), ("gpt-*",)),
        }
    )
    with pytest.raises(openai.APIStatusError) as caught:
        fell.oai().chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "connection_refused"  # type: ignore[index]
    assert caught.value.body["message"] == (  # type: ignore[index]
        "provider 'openai' refused the connection; then provider 'backup' refused the connection"
    )


def test_when_the_fallback_fails_too_an_anthropic_caller_gets_a_502_in_its_shape(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "anthropic": provider(
                "anthropic", nobody(), ("claude-*",), Fallback(provider="backup", model="gpt-5.5-error500")
            ),
            "backup": provider("openai", backup, ("gpt-*",), retries=0),
        }
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        fell.claude().messages.create(model="claude-sonnet-5-5", max_tokens=10, messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert caught.value.body["error"]["message"] == (  # type: ignore[index]
        "provider 'anthropic' refused the connection; then provider 'backup' returned 500 (server_error)"
    )


def test_when_every_provider_is_rate_limited_the_caller_gets_a_429(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", first, ("gpt-*",), "backup"),
            "backup": provider("openai", backup, ("gpt-*",)),
        }
    )
    with pytest.raises(openai.RateLimitError) as caught:
        fell.oai().chat.completions.create(model="gpt-4o-later", messages=USER)  # type: ignore[arg-type]
    assert caught.value.body["message"] == (  # type: ignore[index]
        "provider 'openai' returned 429 (rate_limit_error); then provider 'backup' returned 429 (rate_limit_error)"
    )
    assert (len(fell.first.received), len(fell.backup.received)) == (1, 1)  # each asked for an hour: no retry


def test_a_client_error_is_the_answer_not_a_reason_to_fall_back(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", first, ("gpt-*",), "backup"),
            "backup": provider("openai", backup, ("gpt-*",)),
        }
    )
    with pytest.raises(openai.BadRequestError):
        fell.oai().chat.completions.create(model="gpt-4o-error400", messages=USER)  # type: ignore[arg-type]
    assert fell.backup.received == []


# -- hostile -----------------------------------------------------------------------------------------------------


def to_eval_lab(first: str, backup: str) -> dict[str, ProviderConfig]:
    """A config `serve` refuses: its fallback is a recipient of model names only."""
    return {
        "openai": provider("openai", nobody(), ("gpt-*",), "eval_lab"),
        "eval_lab": provider("openai", backup, ("eval-*",)),
    }


def test_a_fallback_the_policy_does_not_allow_never_receives_a_marked_accounts_content(launch: Launch) -> None:
    fell = launch(to_eval_lab)
    fell.store.mark_account("acme", reason="suspected abuse")
    with pytest.raises(openai.APIStatusError) as caught:
        fell.oai().chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert fell.backup.received == []  # not even tried: the policy never lets eval_lab have prompts
    deadline = time.monotonic() + 5
    while not fell.store.list_quarantine() and time.monotonic() < deadline:
        time.sleep(0.02)
        fell.store.flush()
    assert [q.trigger for q in fell.store.list_quarantine()] == ["account_marked"]  # kept only as the policy says


def test_a_fallback_model_the_callers_key_may_not_call_is_not_tried(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", nobody(), ("gpt-*",), Fallback(provider="backup", model="gpt-5.5")),
            "backup": provider("openai", backup, ("gpt-*",)),
        }
    )
    [key] = fell.store.list_keys("acme")
    update_controls(fell.store, key.id, models=("gpt-4o*",))
    with pytest.raises(openai.APIStatusError) as caught:
        fell.oai().chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert "fallback 'backup' not tried: this API key may not call model 'gpt-5.5'" in caught.value.message
    assert fell.backup.received == []


def test_a_request_the_egress_guard_refuses_is_not_offered_to_a_fallback(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", first, ("gpt-*",), "backup"),
            "backup": provider("openai", backup, ("gpt-*",)),
        }
    )
    leaky = [{"role": "user", "content": f"my gateway key is {fell.key}"}]
    with pytest.raises(openai.APIStatusError) as caught:
        fell.oai().chat.completions.create(model="gpt-4o", messages=leaky)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert "refused by the privacy policy" in caught.value.message
    assert fell.first.received == [] and fell.backup.received == []


def test_a_non_chat_request_is_never_offered_to_a_fallback_of_another_protocol(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider(
                "openai", nobody(), ("text-embedding-*",), Fallback(provider="anthropic", model="claude-x")
            ),
            "anthropic": provider("anthropic", backup, ("claude-*",)),
        }
    )
    with pytest.raises(openai.APIStatusError) as caught:
        fell.oai().embeddings.create(model="text-embedding-3-small", input="a harbour at dawn")
    assert caught.value.status_code == 502
    assert "fallback 'anthropic' not tried: `embeddings` is served only by providers that speak openai" in (
        caught.value.message
    )
    assert fell.backup.received == []  # embeddings are forwarded as they are, never translated


def test_the_egress_guard_sees_every_send_to_a_fallback(launch: Launch) -> None:
    # `backup` declares only 127.0.0.1; reached as localhost (a config `serve` would refuse), its guard says no.
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", nobody(), ("gpt-*",), "backup"),
            "backup": provider("openai", backup.replace("127.0.0.1", "localhost"), ("gpt-*",)),
        }
    )
    with pytest.raises(openai.APIStatusError) as caught:
        fell.oai().chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert "upstream call refused by the privacy policy: egress to localhost" in caught.value.message
    assert fell.backup.received == []
    assert 'aether_egress_denials_total{recipient="backup"} 1.0' in fell.scrape()


def test_a_free_text_model_is_never_echoed_in_a_fallbacks_refusal(launch: Launch) -> None:
    fell = launch(
        lambda first, backup: {
            "openai": provider("openai", nobody(), ("*",), "backup"),
            "backup": provider("openai", backup, ("gpt-*",)),
        }
    )
    with pytest.raises(openai.APIStatusError) as caught:
        fell.oai().chat.completions.create(model="my secret plan: rob the bank", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert "rob the bank" not in caught.value.message
    assert "fallback 'backup' not tried: it does not serve the model" in caught.value.message


# -- the config ----------------------------------------------------------------------------------------------------


def problems_of(providers: dict[str, ProviderConfig]) -> list[tuple[tuple[str | int, ...], str]]:
    return conformance_problems(GatewayConfig(providers=providers), fallback_plan())


def test_a_fallback_that_is_not_a_recipient_of_the_same_data_is_a_config_error() -> None:
    [(path, message)] = problems_of(to_eval_lab("http://127.0.0.1:1", "http://127.0.0.1:2"))
    assert path == ("providers", "openai", "fallback", 0, "provider")
    assert message == (
        "fallback 'eval_lab' is not a recipient of the same data as provider 'openai': the policy does not say "
        "recipient 'eval_lab' receives prompt_content, purpose service_provision (recipients.openai does); add it "
        "to recipients.eval_lab, or remove the fallback"
    )


def test_serve_refuses_to_start_with_it() -> None:
    config = GatewayConfig(providers=to_eval_lab("http://127.0.0.1:1", "http://127.0.0.1:2"))
    with pytest.raises(
        ConfigError, match=r"gateway.yaml: providers\.openai\.fallback\.0\.provider: fallback 'eval_lab'"
    ):
        check_conformance(config, fallback_plan(), "gateway.yaml")


def test_a_fallback_receiving_the_same_data_under_a_category_is_allowed() -> None:
    # `backup` receives all of prompt_content; a primary receiving only the prompt field is covered by it.
    plan = compile_policy(
        load_policy_text(
            fallback_policy_text().replace(
                "    receives: [prompt_content, api_usage.model]\n    purposes: [service_provision]\n    provider:\n"
                "      api: anthropic",
                "    receives: [prompt_content.request, api_usage.model]\n    purposes: [service_provision]\n"
                "    provider:\n      api: anthropic",
            )
        ).policy
    )
    config = GatewayConfig(
        providers={
            "anthropic": provider(
                "anthropic", "http://127.0.0.1:1", ("claude-*",), Fallback(provider="backup", model="gpt-5.5")
            ),
            "backup": provider("openai", "http://127.0.0.1:2", ("gpt-*",), "anthropic"),
        }
    )
    # The other way round, backup (all of prompt_content) cannot fall back to anthropic (only its requests).
    assert [(path, message.split(":")[0]) for path, message in conformance_problems(config, plan)] == [
        (
            ("providers", "backup", "fallback", 0, "provider"),
            "fallback 'anthropic' is not a recipient of the same data as provider 'backup'",
        )
    ]


def test_unknown_repeated_and_self_fallbacks_are_config_errors() -> None:
    found = problems_of(
        {
            "openai": provider("openai", "http://127.0.0.1:1", ("gpt-*",), "nonesuch", "openai", "backup", "backup"),
            "backup": provider("openai", "http://127.0.0.1:2", ("gpt-*",), Fallback(provider="openai", model="o9")),
        }
    )
    assert found == [
        (
            ("providers", "openai", "fallback", 0, "provider"),
            "fallback 'nonesuch' of provider 'openai' is not a provider of this config (providers: backup, openai)",
        ),
        (("providers", "openai", "fallback", 1, "provider"), "provider 'openai' names itself as a fallback"),
        (("providers", "openai", "fallback", 3, "provider"), "provider 'openai' names 'backup' twice as a fallback"),
        (
            ("providers", "backup", "fallback", 0, "model"),
            "fallback 'openai' does not serve model 'o9' (its models: gpt-*)",
        ),
    ]


def test_the_serve_command_refuses_to_start_naming_the_fallback(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(fallback_policy_text())
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "providers:\n  openai:\n    api: openai\n    base_url: http://127.0.0.1:9/v1\n    models: [gpt-*]\n"
        "    fallback: [eval_lab]\n"
        "  eval_lab:\n    api: openai\n    base_url: http://127.0.0.1:9/v1\n    models: [eval-*]\n"
    )
    result = CliRunner().invoke(
        main, ["serve", "--policy", str(policy), "--config", str(config), "--db", f"sqlite:///{tmp_path}/a.db"]
    )
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: the gateway config shares data the policy does not declare:\n"
        f"{config}: providers.openai.fallback.0.provider: fallback 'eval_lab' is not a recipient of the same data"
    )
    assert not (tmp_path / "a.db").exists()  # refused before anything was created


def test_the_start_banner_names_each_providers_fallbacks() -> None:
    from aether_policy.cli._startup import startup_lines

    config = GatewayConfig(
        providers={
            "anthropic": provider(
                "anthropic", "http://127.0.0.1:1", ("claude-*",), "backup", Fallback(provider="openai", model="gpt-5.5")
            ),
            "backup": provider("openai", "http://127.0.0.1:2", ("gpt-*",)),
            "openai": provider("openai", "http://127.0.0.1:3", ("gpt-*",)),
        }
    )
    lines = startup_lines(fallback_plan(), config, "sqlite:///a.db", None, "127.0.0.1", 8000)
    assert (
        "  provider anthropic (anthropic API, recipient 'anthropic') at http://127.0.0.1:1: models claude-*; "
        "fallback backup, openai (gpt-5.5)"
    ) in lines


def test_check_reports_the_fallback_at_its_line_in_the_config(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(fallback_policy_text())
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "providers:\n"
        "  openai:\n"
        "    api: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n"
        "    models: [gpt-*]\n"
        "    fallback: [backup, eval_lab]\n"
        "  backup:\n"
        "    api: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n"
        "    models: [gpt-*]\n"
        "  eval_lab:\n"
        "    api: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n"
        "    models: [eval-*]\n"
    )
    report = run_checks(CheckOptions(policy, site=None, config=config))
    found = [str(f) for f in report.findings if f.check == "gateway-conformance" and "fallback" in f.message]
    assert found == [
        f"{config}:6:24: error: [gateway-conformance] fallback 'eval_lab' is not a recipient of the same data as "
        "provider 'openai': the policy does not say recipient 'eval_lab' receives prompt_content, purpose "
        "service_provision (recipients.openai does); add it to recipients.eval_lab, or remove the fallback"
    ]


def test_a_fallback_is_a_name_or_a_provider_and_an_exact_model(tmp_path: Path) -> None:
    file = tmp_path / "gateway.yaml"
    file.write_text(
        "providers:\n  openai:\n    api: openai\n    base_url: http://127.0.0.1:9/v1\n    models: [gpt-*]\n"
        "    fallback: [backup, {provider: other, model: gpt-5.5}]\n"
    )
    config, _, _ = load_config(file)
    assert config.providers["openai"].fallback == (
        Fallback(provider="backup"),
        Fallback(provider="other", model="gpt-5.5"),
    )


@pytest.mark.parametrize(
    "entry", ["{provider: backup, model: gpt-*}", "{provider: backup, host: evil.example}", "[backup]", "''"]
)
def test_a_malformed_fallback_is_a_located_error(tmp_path: Path, entry: str) -> None:
    from aether_policy.exceptions import PolicyLoadError

    file = tmp_path / "gateway.yaml"
    file.write_text(
        "providers:\n  openai:\n    api: openai\n    base_url: http://127.0.0.1:9/v1\n    models: [gpt-*]\n"
        f"    fallback: [{entry}]\n"
    )
    with pytest.raises(PolicyLoadError) as caught:
        load_config(file)
    assert all(p.line == 6 for p in caught.value.problems), caught.value.problems


# -- a fallback the page never names ---------------------------------------------------------------------------------

BY_LAW_BACKUP = """  backup_by_law:
    title: Backup Model Host
    kind: ai_provider
    when: required_by_law
    receives: [prompt_content, api_usage.model]
    purposes: [service_provision]
    provider:
      api: openai
      hosts: [127.0.0.1]
"""


def by_law_plan() -> Plan:
    text = fallback_policy_text().replace("  legal_requests:\n", BY_LAW_BACKUP + "  legal_requests:\n", 1)
    return compile_policy(load_policy_text(text).policy)


def test_a_fallback_the_policy_names_only_when_required_by_law_is_a_config_error() -> None:
    providers = {
        "openai": provider("openai", "http://127.0.0.1:1", ("gpt-*",), "backup_by_law"),
        "backup_by_law": provider("openai", "http://127.0.0.1:2", ("gpt-*",)),
    }
    found = conformance_problems(GatewayConfig(providers=providers), by_law_plan())
    assert [path for path, _ in found] == [
        ("providers", "backup_by_law"),
        ("providers", "openai", "fallback", 0, "provider"),
    ]
    assert (
        "receives data only `when: required_by_law`" in found[0][1]
        and "set recipients.backup_by_law.when" in found[0][1]
    )
    assert found[1][1].startswith(
        "fallback 'backup_by_law' of provider 'openai' receives data only `when: required_by_law`"
    )


def test_serve_refuses_to_start_with_a_fallback_the_page_leaves_out() -> None:
    providers = {
        "openai": provider("openai", "http://127.0.0.1:1", ("gpt-*",), "backup_by_law"),
        "backup_by_law": provider("openai", "http://127.0.0.1:2", ("gpt-*",)),
    }
    with pytest.raises(ConfigError, match=r"gateway.yaml: providers\.openai\.fallback\.0\.provider: fallback"):
        check_conformance(GatewayConfig(providers=providers), by_law_plan(), "gateway.yaml")


NORDLICHT = Path(__file__).parents[2] / "policies" / "examples" / "nordlicht.yaml"
SECOND_PROVIDER = """  notfall:
    title: Emergency Model Host
    kind: ai_provider
    receives: [eingaben, nutzung.modell]
    purposes: [vertragserfuellung]
    countries: [US]
    transfer: standard_contractual_clauses
    provider:
      api: anthropic
      hosts: [127.0.0.1]
"""


def test_check_refuses_a_fallback_a_page_without_a_recipients_table_never_names(tmp_path: Path) -> None:
    # Nordlicht's page says prompts go to its own servers "and nowhere else", and has no recipients table.
    policy = tmp_path / "policy.yaml"
    policy.write_text(NORDLICHT.read_text().replace("  behoerden:\n", SECOND_PROVIDER + "  behoerden:\n", 1))
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "providers:\n"
        "  eigenes_modell:\n"
        "    api: openai\n"
        "    base_url: http://127.0.0.1:9/v1\n"
        "    models: [nordlicht-*]\n"
        "    fallback: [{provider: notfall, model: claude-standin}]\n"
        "  notfall:\n"
        "    api: anthropic\n"
        "    base_url: http://127.0.0.1:9\n"
        "    models: [claude-*]\n"
    )
    report = run_checks(CheckOptions(policy, site=None, config=config))
    found = [str(f) for f in report.findings if f.check == "gateway-conformance"]
    assert found == [
        f"{config}:7:3: error: [gateway-conformance] the privacy page never says that recipient 'notfall' of "
        "provider 'notfall' receives prompts (or where it is): add a `third_parties` subsection to "
        "sections.sharing (the recipients table), or name it in the page's text with "
        "{{ recipients.notfall.title }} (a recipient with a `transfer` needs the table)"
    ]


def test_the_shipped_nordlicht_config_names_only_a_recipient_its_page_names() -> None:
    plan = compile_policy(load_policy_text(NORDLICHT.read_text()).policy)
    config, _, _ = load_config(Path(__file__).parents[2] / "examples" / "nordlicht-gateway.yaml")
    assert conformance_problems(config, plan) == []
