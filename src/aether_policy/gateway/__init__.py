"""The bundled minimal gateway: OpenAI- and Anthropic-compatible routing under the policy middleware."""

from aether_policy.gateway.app import Gateway, create_app
from aether_policy.gateway.config import GatewayConfig, ProviderConfig, check_conformance, config_from_env, load_config

__all__ = [
    "Gateway",
    "GatewayConfig",
    "ProviderConfig",
    "check_conformance",
    "config_from_env",
    "create_app",
    "load_config",
]
