"""The bundled minimal gateway: OpenAI- and Anthropic-compatible routing under the policy middleware.

The names below are imported on first use, so that `aether_policy.gateway.protocols` (pure Python) can be
imported without the gateway stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aether_policy.gateway.app import Gateway, create_app
    from aether_policy.gateway.config import (
        GatewayConfig,
        ProviderConfig,
        check_conformance,
        config_from_env,
        load_config,
    )

_WHERE = {
    "Gateway": "app",
    "create_app": "app",
    "GatewayConfig": "config",
    "ProviderConfig": "config",
    "check_conformance": "config",
    "config_from_env": "config",
    "load_config": "config",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'aether_policy.gateway' has no attribute '{name}'")
    import importlib

    return getattr(importlib.import_module(f"aether_policy.gateway.{_WHERE[name]}"), name)


__all__ = [
    "Gateway",
    "GatewayConfig",
    "ProviderConfig",
    "check_conformance",
    "config_from_env",
    "create_app",
    "load_config",
]
