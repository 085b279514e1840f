"""Reduce a User-Agent to (family, major version): all the policy lets us keep of it.

API traffic comes mostly from SDKs and HTTP tools ("OpenAI/Python 1.51.0", "curl/8.5.0"), not browsers,
so the first product token is the family; for browsers the engine's brand wins. The raw string is never kept,
and neither is a product name outside a fixed list: the User-Agent is the caller's free text, and a family of
its choosing ("MyProjectCodename/1") would be text it chose, stored for 30 days. Anything else is "Other".
"""

from __future__ import annotations

import re
from functools import lru_cache

_BROWSERS = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"OPR/(\d+)")),
    ("Firefox", re.compile(r"Firefox/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[^ ]* .*Safari/")),
)
# Clients of an AI API gateway, as their User-Agent's first product token spells them.
KNOWN_FAMILIES = frozenset(
    {
        "OpenAI/Python",
        "AsyncOpenAI/Python",
        "OpenAI/JS",
        "Anthropic/Python",
        "AsyncAnthropic/Python",
        "Anthropic/JS",
        "curl",
        "Wget",
        "HTTPie",
        "python-httpx",
        "python-requests",
        "Python-urllib",
        "Python",
        "aiohttp",
        "Go-http-client",
        "okhttp",
        "axios",
        "node-fetch",
        "undici",
        "node",
        "Deno",
        "Bun",
        "Java",
        "Apache-HttpClient",
        "Dart",
        "PostmanRuntime",
        "insomnia",
        "reqwest",
        "Ruby",
        "Faraday",
        "PHP",
        "GuzzleHttp",
    }
)
_PRODUCT = re.compile(r"^([A-Za-z][A-Za-z0-9._-]{0,40}(?:/[A-Za-z][A-Za-z0-9._-]{0,20})?)[/ ]v?(\d{1,6})")


@lru_cache(maxsize=1024)
def browser_family_and_major(raw: bytes | None) -> tuple[str | None, str | None]:
    """Cached: a gateway sees the same few SDK User-Agents over and over."""
    if not raw:
        return None, None
    user_agent = raw.decode("latin-1")
    if user_agent.startswith("Mozilla/"):
        for family, pattern in _BROWSERS:
            match = pattern.search(user_agent)
            if match:
                return family, match.group(1)
        return "Other", None
    match = _PRODUCT.match(user_agent)
    if match and match.group(1) in KNOWN_FAMILIES:
        return match.group(1), match.group(2)
    return "Other", None
