"""Optional parts of the package: what each needs installed, and what to tell a user who lacks it.

`build`, `validate`, `schema`, `diff` and `check` need only the core dependencies, so a repository that
publishes a policy installs a small package. The gateway (serve, its database, keys, review, retention) needs
the `gateway` extra; commands and checks that need it say so, with the command that installs it.
"""

from __future__ import annotations

import importlib.util

# The top-level modules the `gateway` extra installs (pyproject.toml, [project.optional-dependencies]).
GATEWAY_MODULES = (
    "starlette",
    "uvicorn",
    "httpx",
    "aiohttp",
    "httpx_sse",
    "cryptography",
    "sqlalchemy",
    "numpy",
    "prometheus_client",
)
GATEWAY_INSTALL = "pip install 'aether-policy[gateway]'"


def missing_gateway_module() -> str | None:
    """The first gateway dependency that cannot be imported, or None when the whole stack is installed."""
    for name in GATEWAY_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):  # a broken or blocked install counts as missing
            return name
    return None


def gateway_missing_reason() -> str | None:
    """A sentence for a user, or None when the gateway stack is installed."""
    missing = missing_gateway_module()
    if missing is None:
        return None
    return f"needs the gateway stack, and {missing} is not installed; install it with: {GATEWAY_INSTALL}"
