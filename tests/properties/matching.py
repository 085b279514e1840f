"""How the proof recognises a secret in a sink: 16-character fragments, through escapes, or a whole value.

A sink rarely holds text the way the caller sent it. A JSON log line writes `é` as `\\u00e9`, a Python repr of
bytes writes it as `\\xc3\\xa9`, an access log writes a path percent-encoded. Each haystack is therefore searched
as it is and as each of those encodings decodes it, so an escaped copy of a prompt is as much a leak as a plain
one. A prompt shorter than 16 characters has no fragment; where a sink stores whole values (a table cell) it
is compared exactly instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

FRAGMENT = 16


def fragments(secret: str) -> set[str]:
    """Every 16-character piece of `secret`: any one found in a sink is a leak."""
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}


_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "/": "/", "'": "'", "b": "\b", "f": "\f", "0": "\0"}
_ESCAPE = re.compile(
    r"(?P<x>(?:\\x[0-9a-fA-F]{2})+)|(?P<u>(?:\\u[0-9a-fA-F]{4})+)|\\U(?P<U>[0-9a-fA-F]{8})|\\(?P<s>[nrt\"\\/'bf0])"
)


_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_PLUS = re.compile(r"\w\+\w")


def _unescape(text: str, *, x_as_utf8: bool) -> str:
    """Decode JSON and Python escapes. `\\xNN` runs are UTF-8 bytes in a bytes repr and code points in a str repr."""

    def one(match: re.Match[str]) -> str:
        if match["x"]:
            raw = bytes.fromhex(match["x"].replace("\\x", ""))
            return raw.decode("utf-8", "replace") if x_as_utf8 else raw.decode("latin-1")
        if match["u"]:
            units = [int(match["u"][i + 2 : i + 6], 16) for i in range(0, len(match["u"]), 6)]
            pairs = "".join(chr(unit) for unit in units).encode("utf-16-le", "surrogatepass")
            return pairs.decode("utf-16-le", "replace")  # joins surrogate pairs; a lone one becomes U+FFFD
        if match["U"]:
            code = int(match["U"], 16)
            return chr(code) if code <= 0x10FFFF else match[0]
        return _SIMPLE[match["s"]]

    return _ESCAPE.sub(one, text)


def decodings(text: str) -> list[str]:
    """`text` as stored, and as each escape scheme a sink may have applied to it decodes it (twice, for an
    escaped copy of an escaped copy, as a JSON log line of a repr)."""
    found = [text]
    frontier = [text]
    for _ in range(2):
        decoded: list[str] = []
        for item in frontier:
            if _ESCAPE.search(item):
                decoded += [_unescape(item, x_as_utf8=True), _unescape(item, x_as_utf8=False)]
            if _PERCENT.search(item):
                decoded.append(unquote(item, errors="replace"))
            if _PERCENT.search(item) or _PLUS.search(item):  # a form-encoded query writes spaces as "+"
                decoded.append(unquote_plus(item, errors="replace"))
        frontier = [item for item in decoded if item not in found]
        found += frontier
    return found


def _found(haystack: str, pieces: frozenset[str]) -> set[str]:
    if len(pieces) > 64 and len(haystack) > 8192:
        # Many pieces, a long haystack: one pass of set look-ups beats a substring search per piece.
        windows = {haystack[i : i + FRAGMENT] for i in range(len(haystack) - FRAGMENT + 1)}
        return set(pieces & windows)
    return {piece for piece in pieces if piece in haystack}


class Matcher:
    """Finds one secret in haystacks: by fragment (16 characters or more) or, for a short one, as a whole value.

    `ambient` is text every run produces whatever is sent (a policy digest, a model name, an error message):
    a fragment of the secret that is also ambient proves nothing and is not searched for. `vocabulary` is the
    whole values the gateway may store of its own (route names, methods, routed models): a short secret equal
    to one of them proves nothing either.
    """

    def __init__(self, secret: str, ambient: str = "", vocabulary: Iterable[str] = ()) -> None:
        self.secret = secret
        self.pieces = frozenset(p for p in fragments(secret) if p not in ambient)
        short = 0 < len(secret) < FRAGMENT and not secret.strip().isdigit()
        self.whole = secret if short and secret not in set(vocabulary) else None

    def __bool__(self) -> bool:
        return bool(self.pieces) or self.whole is not None

    def found_in(self, haystack: str, *, decode: bool = True) -> set[str]:
        """The fragments of the secret in `haystack`, plain or (with `decode`) escaped."""
        if not self.pieces or not haystack:
            return set()
        texts = decodings(haystack) if decode else [haystack]
        return set().union(*(_found(text, self.pieces) for text in texts))

    def in_text(self, haystack: str, before: str = "", *, decode: bool = True) -> bool:
        """A fragment of the secret in `haystack` that was not already in `before` (what the same sink held
        before the request: a rewritten database page also holds rows older than the request)."""
        found = self.found_in(haystack, decode=decode)
        return bool(found and (not before or found - self.found_in(before, decode=decode)))

    def in_values(self, values: Iterable[object]) -> bool:
        """A fragment in any value, or (for a short secret) a value that is the secret, plain or escaped."""
        for value in values:
            if value is None:
                continue
            text = (
                bytes(value).decode("utf-8", "replace")
                if isinstance(value, bytes | bytearray | memoryview)
                else str(value)
            )
            if self.whole is not None and self.whole in decodings(text):
                return True
            if self.in_text(text):
                return True
        return False
