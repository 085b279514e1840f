"""JSON as the gateway accepts it: UTF-8, finite numbers, bounded nesting, no lone surrogates.

Python's `json` accepts more than JSON: `NaN` and `Infinity`, `1e400` (as infinity), UTF-16 and UTF-32 bodies,
`\\ud800` escapes that decode to a lone surrogate no encoder can write back, and nesting until the interpreter's
recursion limit raises an unhandled `RecursionError`. Each of those would otherwise reach an upstream (billed)
or crash the answer after it. Here each is a `BadJSON` whose message says where, never what.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.responses import JSONResponse

MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadJSON(ValueError):
    """A body the gateway refuses, with a message that locates the problem and quotes none of the content."""


def _no_constants(name: str) -> Any:
    raise BadJSON(f"`{name}` is not a JSON number; send finite numbers only")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJSON("a number is too large to represent; send finite numbers only")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite)
"""One decoder for every call: `json.loads` with options builds a new one each time."""


def loads(raw: bytes, what: str = "the request body", *, surrogates: bool = False) -> Any:
    """Parse `raw` strictly. `surrogates=True` lets lone surrogates through (for a provider's response,
    which is relayed with them escaped rather than lost after the call was paid for)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadJSON(f"{what} is not valid UTF-8 (invalid byte at offset {error.start})") from None
    try:
        if text.startswith("\ufeff"):  # as `json.loads` refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except RecursionError:
        raise BadJSON(f"{what} is nested deeper than {MAX_DEPTH} levels") from None
    except BadJSON:
        raise
    except json.JSONDecodeError as error:
        raise BadJSON(f"{what} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except ValueError:  # an integer beyond Python's digit limit
        raise BadJSON(f"{what} has a number with too many digits") from None
    check_shape(value, what, text, surrogates=surrogates)
    return value


def check_shape(value: Any, what: str, text: str, *, surrogates: bool) -> None:
    """Depth and lone surrogates, iteratively (a recursive walk would fail where the parser just succeeded)."""
    deep = text.count("[") + text.count("{") > MAX_DEPTH
    odd = not surrogates and _SURROGATE_ESCAPE.search(text) is not None
    if not deep and not odd:
        return  # the common case: two C-speed scans prove there is nothing to walk for
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise BadJSON(f"{what} is nested deeper than {MAX_DEPTH} levels (at {_where(path[:MAX_DEPTH])})")
        if isinstance(item, dict):
            for key, child in item.items():
                if odd and _SURROGATE.search(key):
                    raise BadJSON(f"{what} has a lone UTF-16 surrogate in a key at {_where(path)}")
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
        elif odd and isinstance(item, str) and _SURROGATE.search(item):
            raise BadJSON(f"{what} has a lone UTF-16 surrogate (\\ud800-\\udfff) at {_where(path)}")


# Keys of the two wire protocols, which a location may name; any other key (a tool's input, metadata) is the
# caller's own text and shows as `<key>`, so an error message never quotes content.
_PROTOCOL_KEYS = frozenset(
    "messages content role text model system tools tool_calls tool_choice function functions arguments input "
    "parameters properties type name id image_url url source data media_type metadata stop stream max_tokens "
    "temperature top_p response_format json_schema schema thinking".split()
)


def _where(path: tuple[str | int, ...]) -> str:
    """`messages[0].content`: a location built from indexes and protocol keys only."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if part in _PROTOCOL_KEYS else "<key>"
            out += f".{name}" if out else name
    return out or "the top level"


class SafeJSONResponse(JSONResponse):
    """A JSON response that can always be written: a lone surrogate relayed from a provider is sent escaped
    (`\\ud800`, as the provider sent it) instead of failing the UTF-8 encoding after the upstream call."""

    def render(self, content: Any) -> bytes:
        text = _COMPACT.encode(content)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return _COMPACT_ASCII.encode(content).encode("ascii")


# Built once (`json.dumps` with options builds an encoder per call).
_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_COMPACT_ASCII = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))
