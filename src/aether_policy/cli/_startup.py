"""What `serve` tells the operator at start: what it enforces, where it stores, and where it sends data."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aether_policy.durations import Duration
    from aether_policy.gateway.config import GatewayConfig
    from aether_policy.plan.compiled import Plan


def startup_lines(
    plan: Plan, config: GatewayConfig, database: str, every: Duration | None, host: str, port: int
) -> list[str]:
    """The start banner, one fact a line; `database` must already have its password hidden."""
    lines = [
        f"aether-policy gateway on http://{host}:{port} enforcing policy {plan.digest}",
        f"  database: {database}",
    ]
    for name, provider in config.providers.items():
        recipient = provider.recipient or name
        fallback = ", ".join(f.provider + (f" ({f.model})" if f.model else "") for f in provider.fallback)
        lines.append(
            f"  provider {name} ({provider.api} API, recipient '{recipient}') at {provider.base_url}: "
            f"models {', '.join(provider.models)}" + (f"; fallback {fallback}" if fallback else "")
        )
    rules = ", ".join(f"{spec.name} {spec.keep_for} after {spec.after}" for spec in plan.retention)
    if every is None:
        lines.append(f"  retention: not scheduled here (run `aether-policy retention run` regularly); rules: {rules}")
    else:
        lines.append(f"  retention: every {every}; rules: {rules}")
    return lines
