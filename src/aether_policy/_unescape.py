"""The escaped forms in which a log line may quote request text, undone.

A prompt reaches a log in the form some library printed it: as sent (JSON with `\\u00e9` escapes), decoded
(`été`), as the repr of its UTF-8 bytes (`b'\\xc3\\xa9t\\xc3\\xa9'`), as a str repr (`'\\xe9t\\xe9'`), or
percent-encoded in a URL (`%C3%A9t%C3%A9`). Redaction compares a record in each of these views with the
request's content, so every form of the same text meets the same text.

Everything here is linear in its input; the request body, which may be megabytes, is decoded only by C code
(`json`, the `unicode_escape` codec), never by a Python loop per escape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_ESCAPE = re.compile(
    r"""
    (?P<bytes>(?:\\x[0-9a-fA-F]{2})+)                              # bytes repr (UTF-8) or str repr (code points)
    | \\u(?P<high>[dD][89abAB][0-9a-fA-F]{2})\\u(?P<low>[dD][c-fC-F][0-9a-fA-F]{2})   # a JSON surrogate pair
    | \\u(?P<u>[0-9a-fA-F]{4})
    | \\U(?P<wide>[0-9a-fA-F]{8})
    | \\(?P<char>[nrtbf"'\\/])
    """,
    re.VERBOSE,
)
_PERCENT = re.compile(r"(?:%[0-9a-fA-F]{2})+")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\", "/": "/"}


def _hex_bytes(run: str, marker: str) -> str:
    """A run of byte escapes as text: UTF-8 when it is (a bytes repr), else one code point per byte (a str repr)."""
    raw = bytes.fromhex(run.replace(marker, ""))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _replace(match: re.Match[str]) -> str:
    if match["bytes"] is not None:
        return _hex_bytes(match["bytes"], "\\x")
    if match["high"] is not None:
        high, low = int(match["high"], 16), int(match["low"], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if match["u"] is not None:
        return chr(int(match["u"], 16))
    if match["wide"] is not None:
        code = int(match["wide"], 16)
        return chr(code) if code <= 0x10FFFF else match[0]
    return _SIMPLE[match["char"]]


def unescape(text: str) -> str:
    """One level of JSON and Python escapes undone (a doubly escaped text needs two calls)."""
    return _ESCAPE.sub(_replace, text) if "\\" in text else text


def percent_decoded(text: str) -> str:
    """Percent-escapes undone, each run of them read as UTF-8."""
    return _PERCENT.sub(lambda match: _hex_bytes(match[0], "%"), text) if "%" in text else text


def record_views(text: str) -> list[str]:
    """The text of a log record, and each decoding of it that differs: what redaction compares with content."""
    views = [text]
    if "\\" in text:
        once = unescape(text)
        views.append(once)
        if "\\" in once:  # a repr of JSON, or JSON of a repr: escapes of escapes
            views.append(unescape(once))
    if "%" in text:
        views.append(percent_decoded(text))
        if "+" in text:  # form encoding writes spaces as '+'
            views.append(percent_decoded(text.replace("+", " ")))
    return views


_SHORT = (("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t"), ('\\"', '"'), ("\\/", "/"), ("\\b", "\b"), ("\\f", "\f"))
_SURROGATE = re.compile("[\ud800-\udfff]")
_HIGH_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")
PIECE = 256 * 1024


def decode_json_escapes(text: str) -> str:
    """JSON escapes undone by C code only (str.replace and the raw_unicode_escape codec), no Python loop per
    escape. A literal backslash (`\\\\`) is parked on NUL, which JSON text cannot hold unescaped."""
    text = text.replace("\\\\", "\x00")
    for escape, char in _SHORT:
        if escape in text:
            text = text.replace(escape, char)
    if "\\u" in text or "\\U" in text:
        # Encoding escapes only what latin-1 cannot hold and leaves backslashes alone; decoding then reads
        # both those and the text's own \uXXXX escapes.
        text = text.encode("raw_unicode_escape").decode("raw_unicode_escape", "replace")
        if _SURROGATE.search(text):  # pairs from \ud83d\ude00 escapes become one character
            text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", "\\")


def escape_cut(text: str) -> int:
    """Where to cut a text so that no escape sequence is split: before a backslash run near its end."""
    position = text.rfind("\\", max(0, len(text) - 12))
    if position < 0:
        return len(text)
    while position > 0 and text[position - 1] == "\\" and len(text) - position < 64:
        position -= 1
    if position >= 6 and _HIGH_SURROGATE.fullmatch(text, position - 6, position):
        position -= 6  # the first half of a surrogate pair stays with its second
    return position


def decoded_pieces(body: bytes) -> Iterator[str]:
    """A document's text with JSON escapes undone, in pieces cut between escapes, so that a worker thread
    decoding megabytes gives the GIL back between pieces."""
    text = body.decode("utf-8", "replace")
    start = 0
    while start < len(text):
        end = start + PIECE
        if end < len(text):
            end = start + (escape_cut(text[start:end]) or PIECE)
        yield decode_json_escapes(text[start:end])
        start = end


def canonical(text: str) -> bytes:
    """The bytes redaction compares: UTF-8, lone surrogates kept rather than refused."""
    return text.encode("utf-8", "surrogatepass")
