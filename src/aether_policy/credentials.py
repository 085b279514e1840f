"""The credentials a request presents, read from every value of every credential header.

HTTP lets a header repeat. Code that reads only the first value (most frameworks' `headers.get`) and code
that reads only the last (a dict built from the header list) then disagree about who the caller is: the app
would authenticate one key while the egress guard protects another. Everything here reads all values.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key", b"api-key", b"x-goog-api-key"})
MIN_SECRET_LENGTH = 8
"""Shorter values are not treated as secrets: redacting every 3-letter match would redact every log."""


_SCHEMES = frozenset({"bearer", "basic", "digest", "token", "apikey"})
_SEPARATORS = re.compile(r"[\s,]+")


def _tokens(value: bytes) -> list[str]:
    """Every token of a credential value: a proxy may have joined repeated headers with commas, and
    `Authorization` puts a scheme before its token."""
    parts = _SEPARATORS.split(value.decode("latin-1").strip())
    return [part for part in parts if part and part.lower() not in _SCHEMES]


CREDENTIAL_PARAMETERS = frozenset({"api_key", "api-key", "apikey", "key", "access_token", "token"})
"""Query parameters that carry a key when a client (wrongly) puts it in the URL."""


def secrets_of(headers: Iterable[tuple[bytes, bytes]], query_string: bytes = b"") -> tuple[str, ...]:
    """Every credential value the request carries, each token of it (`Bearer k1, Bearer k2` gives k1 and k2),
    and a key put in the query string (`?api_key=…`): none of them may be logged or sent upstream."""
    found: list[str] = []
    candidates = [token for name, value in headers if name.lower() in CREDENTIAL_HEADERS for token in _tokens(value)]
    if query_string:
        pairs = urllib.parse.parse_qsl(query_string.decode("latin-1"), keep_blank_values=False)
        candidates += [value.strip() for name, value in pairs if name.lower() in CREDENTIAL_PARAMETERS]
    for token in candidates:
        if len(token) >= MIN_SECRET_LENGTH and token not in found:
            found.append(token)
    return tuple(found)


class ConflictingCredentials(ValueError):
    """The request presents more than one different API key."""


def api_key_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The one API key the request presents as `Authorization: Bearer …`, `x-api-key: …` or
    `x-goog-api-key: …`, or None.

    Raises ConflictingCredentials when those headers, repeated or together, carry different keys: the
    gateway must not guess which one the caller meant. A non-Bearer `Authorization` counts as a key that
    will not authenticate.
    """
    keys: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"authorization":
            text = value.decode("latin-1").strip()
            scheme, _, token = text.partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else text
        elif lowered in (b"x-api-key", b"x-goog-api-key"):  # Anthropic's and Google's SDKs
            key = value.decode("latin-1").strip()
        else:
            continue
        if key and key not in keys:
            keys.append(key)
    if len(keys) > 1:
        raise ConflictingCredentials(
            "the request carries more than one API key (a repeated Authorization, x-api-key or x-goog-api-key "
            "header, or several of them with different keys); send exactly one"
        )
    return keys[0] if keys else None
