"""The gateway's provider configuration, and the proof that it shares data only as the policy declares.

With no file, providers come from the environment as the official SDKs read it (OPENAI_API_KEY,
OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL). Either way, every provider must be an AI-provider
recipient of the policy, speak the protocol the policy says, and live on a host the policy lists.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
from pathlib import Path
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from aether_policy._positions import Located
from aether_policy._validation import parse_yaml, read_yaml_file, validation_problems
from aether_policy.exceptions import ConfigError, PolicyLoadError
from aether_policy.model import ProtocolName
from aether_policy.plan.compiled import Plan

Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}$")]
"""An exact model name (no glob pattern): what a fallback is asked for."""

# Exact names are what `GET /v1/models` lists; the patterns route every other model of each family. The
# listed names are current ones (the newest in the official SDKs' model lists); none is deprecated.
DEFAULT_OPENAI_MODELS = (
    "gpt-6.2-sol",
    "gpt-6.2-astra",
    "gpt-5.5",
    "gpt-5.4-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "gpt-*",
    "o1*",
    "o3*",
    "o4*",
    "chatgpt-*",
    "text-embedding-*",
)
DEFAULT_ANTHROPIC_MODELS = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-*")


class Fallback(BaseModel):
    """Another provider to try when this one fails; `aether_policy.gateway.fallback` says when it may be."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str = Field(min_length=1, description="The name of another provider in this config.")
    model: ModelName | None = Field(
        None, description="The model asked of the fallback; default: the model the caller asked for."
    )


class ProviderConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    recipient: str | None = Field(None, description="The policy recipient this provider is; default: its name.")
    api: ProtocolName
    base_url: Url
    api_key_env: str | None = Field(None, description="Environment variable holding the provider's API key.")
    models: tuple[str, ...] = Field(min_length=1, description="Model names or glob patterns routed here.")
    timeout: float = Field(
        120.0,
        gt=0,
        le=86400,  # a day; `.inf` or 1e300 would pass `gt=0` and then fail every call in the event loop's timer
        allow_inf_nan=False,
        description="Seconds the provider has for each attempt's whole answer (a stream: its headers, then each read).",
    )
    max_connections: int = Field(
        256,
        ge=1,
        le=65536,
        description="Connections open to the provider at once (per process); a request beyond them waits for one "
        "within its timeout.",
    )
    retries: int = Field(
        2, ge=0, le=10, description="Retries after a 429 or 5xx answer, with backoff, honouring Retry-After."
    )
    max_retry_wait: float = Field(
        20.0,
        ge=0,
        le=86400,
        allow_inf_nan=False,
        description="Longest one call to this provider waits between its retries, in all (seconds): a wait "
        "that would pass it is not taken, and the caller is answered at once (a 429 with the provider's Retry-After).",
    )
    fallback: tuple[Fallback, ...] = Field(
        (),
        max_length=8,
        description="Providers tried in order when this one refuses the connection or fails (5xx, 429) after its "
        "retries; each must be a recipient of the same data in the policy. A name, or {provider, model}.",
    )

    @field_validator("base_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str) -> str:
        """A user name or password in the URL would go to the provider as an `Authorization` header the
        policy does not declare (HTTP clients add it from the URL), and be printed wherever the URL is."""
        authority = value.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        if "@" in authority:
            raise ValueError(
                "must not carry a user name or password (`user:password@host`): the HTTP client would send them "
                "to the provider as an Authorization header; give the provider's key with api_key_env instead"
            )
        return value

    @field_validator("fallback", mode="before")
    @classmethod
    def _names_are_fallbacks(cls, value: object) -> object:
        """`fallback: [backup]` is short for `fallback: [{provider: backup}]`."""
        if isinstance(value, list | tuple):
            return [{"provider": item} if isinstance(item, str) else item for item in value]
        return value

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def serves(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def recorded_as(self, model: str) -> str | None:
        """What a usage event may say of a request for `model`: the name if this provider lists it exactly, else
        the pattern that routes it here. Both are the operator's text; an unlisted name is the caller's."""
        if model in self.models and not any(ch in model for ch in "*?["):
            return model
        return next((pattern for pattern in self.models if fnmatch.fnmatchcase(model, pattern)), None)


class GatewayConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    providers: dict[str, ProviderConfig] = Field(min_length=1)

    def route(self, model: str) -> tuple[str, ProviderConfig] | None:
        for name, provider in self.providers.items():
            if provider.serves(model):
                return name, provider
        return None

    def listed_models(self) -> list[tuple[str, str]]:
        """(model, provider) for every exact model name in the config; glob patterns are not listed."""
        return [
            (model, name)
            for name, provider in self.providers.items()
            for model in provider.models
            if not any(ch in model for ch in "*?[")
        ]


def config_from_env() -> GatewayConfig:
    return GatewayConfig(
        providers={
            "openai": ProviderConfig(
                api="openai",
                base_url=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
                api_key_env="OPENAI_API_KEY",
                models=DEFAULT_OPENAI_MODELS,
            ),
            "anthropic": ProviderConfig(
                api="anthropic",
                base_url=os.environ.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                api_key_env="ANTHROPIC_API_KEY",
                models=DEFAULT_ANTHROPIC_MODELS,
            ),
        }
    )


def load_config(path: Path | None) -> tuple[GatewayConfig, Located, str]:
    """The config, where each key is written (for located conformance findings), and the file name."""
    if path is None:
        return config_from_env(), Located(None), "<environment>"
    file = str(path)
    located = parse_yaml(read_yaml_file(path, file, "gateway config"), file)
    try:
        return GatewayConfig.model_validate(located.value), located, file
    except ValidationError as error:
        raise PolicyLoadError(validation_problems(error, located, file, GatewayConfig)) from None


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1: traffic that never leaves the machine, where TLS adds nothing."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def conformance_problems(config: GatewayConfig, plan: Plan) -> list[tuple[tuple[str | int, ...], str]]:
    """Where the config would send data the policy does not declare: (key path, message) pairs."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    declared = sorted(plan.egress)
    for name, provider in config.providers.items():
        recipient = provider.recipient or name
        rule = plan.egress.get(recipient)
        if rule is None:
            found.append(
                (
                    ("providers", name),
                    f"provider '{name}' is not an AI-provider recipient in the policy (declared: "
                    f"{', '.join(declared) or 'none'}); add it under `recipients` with `kind: ai_provider`, "
                    "or set `recipient:` to one of those",
                )
            )
            continue
        if rule.when != "always":
            found.append(
                (
                    ("providers", name),
                    f"recipient '{recipient}' of provider '{name}' receives data only `when: {rule.when}`, so the "
                    "page's recipients table leaves it out, yet the gateway would send it every request routed "
                    f"to it; set recipients.{recipient}.when to always, or remove the provider",
                )
            )
        elif not rule.on_page:
            found.append(
                (
                    ("providers", name),
                    f"the privacy page never says that recipient '{recipient}' of provider '{name}' receives "
                    "prompts (or where it is): add a `third_parties` subsection to sections.sharing (the "
                    f"recipients table), or name it in the page's text with {{{{ recipients.{recipient}.title }}}}"
                    " (a recipient with a `transfer` needs the table)",
                )
            )
        if rule.api != provider.api:
            found.append(
                (
                    ("providers", name, "api"),
                    f"the policy says recipient '{recipient}' speaks '{rule.api}', not '{provider.api}'",
                )
            )
        url = httpx.URL(provider.base_url)
        # The policy promises TLS to AI providers: only a loopback stand-in may be spoken to in plain HTTP.
        if url.scheme != "https" and not is_loopback(url.host):
            found.append(
                (
                    ("providers", name, "base_url"),
                    f"{provider.base_url} is not https: prompts would cross the network unencrypted; use https "
                    "(plain http is allowed only for a loopback host such as 127.0.0.1)",
                )
            )
        if not rule.allows_host(url.host, url.port):
            found.append(
                (
                    ("providers", name, "base_url"),
                    f"host {url.host} is not declared for recipient '{recipient}' (policy allows: "
                    f"{', '.join(rule.hosts)}); add it to recipients.{recipient}.provider.hosts or change base_url",
                )
            )
    from aether_policy.gateway.fallback import fallback_problems  # it reads this module's models

    return found + fallback_problems(config, plan)


def check_conformance(config: GatewayConfig, plan: Plan, file: str) -> None:
    """Refuse to serve with a config that disagrees with the policy."""
    problems = conformance_problems(config, plan)
    if problems:
        raise ConfigError(
            "the gateway config shares data the policy does not declare:\n"
            + "\n".join(f"{file}: {'.'.join(str(p) for p in path)}: {message}" for path, message in problems)
        )
