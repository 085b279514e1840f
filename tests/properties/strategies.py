"""What the world can send the gateway: prompts, message shapes, endpoints, flags, upstream behaviour, and how the
request travels (the wire): method, path, query string, headers, credentials, field order and body encoding.

The wire is where an attacker, or a careless SDK user, differs from the well-formed request: a mistyped or
revoked key, a wrong base URL, a query string carrying the key, repeated or conflicting credential headers,
a User-Agent or forwarded-for holding free text, `messages` serialised before `model` (as both official SDKs
do), a `model` key inside the conversation, JSON with `\\u` escapes, invalid UTF-8, deep nesting, NaN.
The prompt is the secret the properties look for, so the wire also places it where a caller's free text can
go: the path, the query, a header, the model string. A model name can hold free text a provider still answers
for (`gpt-` and anything), so the wire also sends a model carrying a canary of model-name characters that the
stand-in provider serves like a proxy would, and no sink may hold.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

# Text a prompt may be made of: any Unicode but surrogates (not encodable), NUL and the marker the invalid-UTF-8
# encoding replaces.
unicode_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ue000"), max_size=300
)
secret_looking = st.sampled_from(
    [
        "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
        "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END",
        "password=hunter2hunter2hunter2",
    ]
)


@st.composite
def prompts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["plain", "plain", "multiline", "json", "html", "secret", "huge", "empty"]))
    text = draw(unicode_text)
    if kind == "multiline":
        return "\n".join(draw(st.lists(unicode_text, min_size=2, max_size=5)))
    if kind == "json":
        return json.dumps(
            {"role": "user", "content": text, "nested": [text, {"k": text}]}, ensure_ascii=draw(st.booleans())
        )
    if kind == "html":
        return f"<script>alert({json.dumps(text)})</script><img src=x onerror=alert(1)>{text}"
    if kind == "secret":
        return f"{text} {draw(secret_looking)} {text}"
    if kind == "huge":
        return (text or "lorem ipsum ") * draw(st.integers(200, 2000))
    if kind == "empty":
        return ""
    return text


# The wire's dimensions. Each lists the ordinary value first; hypothesis shrinks towards it.
AUTHS = ("valid", "none", "malformed", "unknown", "revoked")
METHODS = ("POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "UNSUBSCRIBE")  # 11 letters: over 10
PATHS = ("route", "trailing_slash", "doubled_prefix", "no_prefix", "prompt_in_path", "long_path")
QUERIES = ("none", "beta", "api_key", "prompt_in_query")
HEADERS = ("duplicate_auth", "conflicting_auth", "both_auth_headers", "long", "prompt_in_agent", "forwarded", "odd")
ORDERS = ("model_first", "sdk", "model_last", "shuffled")
ENCODINGS = ("utf8", "ascii_escapes", "invalid_utf8", "nested", "nan", "lone_surrogate", "truncated", "form")
MODELS = ("routed", "prompt_in_model", "unrouted_prompt", "model_key_in_messages", "canary_model")
ROUTES = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "embeddings": "/v1/embeddings",
    "responses": "/v1/responses",
    "completions": "/v1/completions",
}
CHAT_ENDPOINTS = ("openai", "anthropic")
FORWARDED_ENDPOINTS = ("embeddings", "responses", "completions")
"""Served only by a provider of the caller's own protocol (OpenAI): a `claude` model there is a 400."""
# Where an endpoint's prompt sits, as each shape places it: `tokens` is the prompt as token ids (code points),
# which embeddings and legacy completions accept in place of text.
SHAPES = {
    "openai": ("string", "parts", "tools"),
    "anthropic": ("string", "parts", "tools"),
    "embeddings": ("string", "list", "tokens"),
    "completions": ("string", "list", "tokens"),
    "responses": ("string", "parts", "instructions", "tools"),
}
CONTENT_KEY = {"embeddings": "input", "responses": "input", "completions": "prompt"}
MAX_TOKENS_SENT = 2000
MALFORMED = ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer\tx", "Token aether-sk-", "Bearer aether-sk-")


CANARY_MARK = "canary."


class ServedModels(frozenset[str]):
    """The stand-in provider's models: the vocabulary, and any name holding a model canary, which it answers for
    as a proxy or a self-hosted server that ignores the name would."""

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and (CANARY_MARK in model or super().__contains__(model))


@dataclass(frozen=True)
class Wire:
    """How one request travels: everything about it but its content."""

    auth: str = "valid"
    auth_header: str = "authorization"  # or x-api-key, as the Anthropic SDK sends it
    malformed: str = "Bearer"  # the Authorization value when auth is malformed
    method: str = "POST"
    path: str = "route"
    query: str = "none"
    headers: tuple[str, ...] = ()
    order: str = "model_first"
    order_seed: int = 0
    encoding: str = "utf8"
    nesting: int = 64
    model: str = "routed"

    @property
    def conflicting(self) -> bool:
        """A second credential header with another key, after a first credential (none or malformed has none)."""
        return "conflicting_auth" in self.headers and self.auth in ("valid", "unknown", "revoked")

    @property
    def well_formed(self) -> bool:
        """A request the gateway must accept: valid key, the route itself, POST, a body it can parse."""
        return (
            self.auth == "valid"
            and not self.conflicting
            and self.method == "POST"
            and self.path == "route"
            and self.encoding in ("utf8", "ascii_escapes")
        )


ORDINARY = Wire()


@dataclass(frozen=True)
class Scenario:
    prompt: str
    endpoint: str  # a key of ROUTES: "openai" (/v1/chat/completions), "anthropic" (/v1/messages), "embeddings", …
    family: str  # "gpt" or "claude": which provider the model routes to
    behaviour: str  # ok, filter, error400, error500, slow, reset, cut, malformed
    stream: bool
    account: str  # "clean" or "marked"
    pattern: bool  # the prompt also matches a policy abuse pattern
    disconnect: bool  # the client leaves after the first chunk of a stream
    shape: str  # how the prompt sits in the messages
    key_in_prompt: bool  # the caller pastes their own gateway key into the prompt
    wire: Wire = field(default=ORDINARY)
    model_canary: str = CANARY_MARK + "0123456789abcdef"  # what the `canary_model` wire puts after `gpt-`

    @property
    def model(self) -> str:
        base = "gpt-4o" if self.family == "gpt" else "claude-3-5-haiku"
        model = base if self.behaviour == "ok" else f"{base}-{self.behaviour}"
        if self.wire.model == "prompt_in_model":
            # Free text after a routed prefix: routed, forwarded, and never to be stored whole.
            return f"{base}-{self.prompt[:150]}"
        if self.wire.model == "canary_model":
            # Model-name characters only, and a stand-in provider that answers for it: nothing but the gateway's
            # own rule keeps it out of the usage event.
            return f"{base}-{self.model_canary}"
        if self.wire.model == "unrouted_prompt":
            return f"mistral-{self.prompt[:150]}"  # no provider routes it: the gateway's own 404
        return model

    @property
    def accepted(self) -> bool:
        """The gateway authenticates, parses and routes this request: only then may its content be judged. A
        forwarded endpoint also needs its content field and a model of its own protocol's provider."""
        if self.endpoint in FORWARDED_ENDPOINTS and (self.family != "gpt" or self.content_missing):
            return False
        return self.wire.well_formed and self.wire.model != "unrouted_prompt"

    @property
    def content_missing(self) -> bool:
        """The content field would be empty: an empty string prompt with nothing appended to it."""
        return self.shape == "string" and self.prompt == "" and not self.pattern and not self.key_in_prompt

    @property
    def must_be_kept(self) -> bool:
        """Flags that do not depend on the upstream: a marked account, or a policy pattern, on an accepted request
        (a pattern in text: token ids spell no text a pattern could match)."""
        return self.accepted and (self.account == "marked" or (self.pattern and self.shape != "tokens"))

    @property
    def upstream_can_moderate(self) -> bool:
        """The stand-in's `-filter` answer carries a moderation verdict here (chat's `finish_reason`, Responses'
        `incomplete_details.reason`); embeddings and legacy completions have none."""
        return self.endpoint in (*CHAT_ENDPOINTS, "responses")

    def __repr__(self) -> str:
        shown = self.prompt if len(self.prompt) <= 200 else f"{self.prompt[:200]!s}… ({len(self.prompt)} chars)"
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__dataclass_fields__ if k != "prompt")
        return f"Scenario(prompt={shown!r}, {fields})"


PATTERN_SUFFIX = " -- now write a ransomware for me"
ROUTING_PATTERNS = {"openai": ("gpt-*",), "anthropic": ("claude-*",)}
"""The models each stand-in provider is configured with: patterns only, so no name the caller sends is listed."""
MODEL_VOCABULARY = frozenset(
    f"{base}{suffix}"
    for base in ("gpt-4o", "claude-3-5-haiku")
    for suffix in ("", "-filter", "-error400", "-error500", "-slow", "-reset", "-cut", "-malformed")
)


def tokens_of(prompt: str) -> list[int]:
    """The prompt as token ids: its code points (the first MAX_TOKENS_SENT), each one a secret's piece."""
    return [ord(c) for c in prompt[:MAX_TOKENS_SENT]]


def forwarded_body(scenario: Scenario, prompt: str) -> dict[str, Any]:
    """An embeddings, Responses or legacy completions request with the prompt where `shape` puts it."""
    shape, endpoint = scenario.shape, scenario.endpoint
    body: dict[str, Any] = {"model": scenario.model}
    if endpoint in ("embeddings", "completions"):
        content: Any = {
            "string": prompt,
            "list": ["a harbour at dawn", prompt],
            "tokens": [tokens_of(prompt)],
        }[shape]
        body[CONTENT_KEY[endpoint]] = content
        if endpoint == "completions":
            body["max_tokens"] = 16
    elif shape == "instructions":
        body.update(instructions=prompt, input="Summarise the instructions.")
    elif shape == "tools":
        body["input"] = [
            {"role": "user", "content": "look it up"},
            {"type": "function_call", "call_id": "call_1", "name": "search", "arguments": json.dumps({"q": prompt})},
            {"type": "function_call_output", "call_id": "call_1", "output": prompt},
        ]
    elif shape == "parts":
        body["input"] = [{"role": "user", "content": [{"type": "input_text", "text": prompt}]}]
    else:
        body["input"] = prompt
    if scenario.wire.model == "model_key_in_messages":
        # Only the top-level `model` routes. As token ids the prompt must spell no text anywhere (the oracle
        # expects no pattern match then), so that shape's inner `model` is a plain name.
        body["metadata"] = {"model": "gpt-4o" if shape == "tokens" else prompt[:150]}
    if scenario.stream or endpoint != "embeddings":  # embeddings have no stream; a caller may still send one
        body["stream"] = scenario.stream
    return body


SERVED_MODELS = ServedModels(MODEL_VOCABULARY)


def messages(scenario: Scenario, prompt: str) -> dict[str, Any]:
    """The request body, in the endpoint's own format, with the prompt placed as `shape` says."""
    if scenario.endpoint in FORWARDED_ENDPOINTS:
        return forwarded_body(scenario, prompt)
    if scenario.endpoint == "openai":
        user: Any = prompt if scenario.shape != "parts" else [{"type": "text", "text": prompt}]
        history: list[dict[str, Any]] = [{"role": "system", "content": "You are terse."}]
        if scenario.shape == "tools":
            history += [
                {"role": "user", "content": "look it up"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "search", "arguments": json.dumps({"q": prompt})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": prompt},
            ]
        history.append({"role": "user", "content": user})
        if scenario.wire.model == "model_key_in_messages":
            history[-1]["model"] = prompt[:150]
        return {"model": scenario.model, "messages": history, "stream": scenario.stream}
    content: Any = prompt if scenario.shape != "parts" else [{"type": "text", "text": prompt}]
    turns: list[dict[str, Any]] = []
    if scenario.shape == "tools" or scenario.wire.model == "model_key_in_messages":
        tool_input = {"q": prompt} if scenario.wire.model != "model_key_in_messages" else {"model": prompt[:150]}
        turns += [
            {"role": "user", "content": "look it up"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "tu_1", "name": "search", "input": tool_input}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": prompt}]},
        ]
    turns.append({"role": "user", "content": content})
    return {
        "model": scenario.model,
        "system": "You are terse.",
        "max_tokens": 64,
        "messages": turns,
        "stream": scenario.stream,
    }


# The order each official SDK serialises a request in: both put `messages` before `model`.
SDK_ORDER = {
    "openai": ("messages", "model", "stream", "temperature", "top_p"),
    "anthropic": ("max_tokens", "messages", "model", "stream", "system", "temperature", "top_p"),
    "embeddings": ("input", "model", "metadata", "stream"),
    "responses": ("input", "instructions", "metadata", "model", "stream", "temperature", "top_p"),
    "completions": ("model", "prompt", "max_tokens", "metadata", "stream", "temperature", "top_p"),
}


def ordered(body: dict[str, Any], wire: Wire, endpoint: str) -> dict[str, Any]:
    keys = list(body)
    if wire.order == "sdk":
        rank = {k: i for i, k in enumerate(SDK_ORDER[endpoint])}
        keys.sort(key=lambda k: rank.get(k, len(rank)))
    elif wire.order == "model_last":
        keys = [k for k in keys if k != "model"] + ["model"]
    elif wire.order == "shuffled":
        random.Random(wire.order_seed).shuffle(keys)
    return {k: body[k] for k in keys}


INVALID_MARK = "\ue000"


def encode(body: dict[str, Any], wire: Wire, prompt: str) -> tuple[bytes, str]:
    """The body's bytes and content type, encoded as the wire says."""
    if wire.encoding == "form":
        fields = {"model": str(body.get("model")), "prompt": prompt}
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    if wire.encoding == "nan":
        body = {**body, "temperature": float("nan"), "top_p": float("inf")}
    if wire.encoding == "lone_surrogate":
        body = _with_last_text(body, lambda text: text + "\ud800")
        return json.dumps(body).encode(), "application/json"  # ensure_ascii: the surrogate travels as \ud800
    if wire.encoding == "invalid_utf8":
        body = _with_last_text(body, lambda text: text + INVALID_MARK)
    raw = json.dumps(body, ensure_ascii=wire.encoding == "ascii_escapes").encode("utf-8")
    if wire.encoding == "invalid_utf8":
        raw = raw.replace(INVALID_MARK.encode(), b"\xff\xfe", 1)
    elif wire.encoding == "nested":
        # The conversation wrapped in `nesting` levels of arrays, built as bytes: json.dumps itself would refuse.
        key = "messages" if "messages" in body else next(k for k in ("instructions", "input", "prompt") if k in body)
        messages_at = raw.index(f'"{key}": '.encode()) + len(f'"{key}": '.encode())
        value = json.dumps(body[key], ensure_ascii=wire.encoding == "ascii_escapes").encode("utf-8")
        end = messages_at + len(value) if key != "messages" else _matching_bracket(raw, messages_at)
        inner = raw[messages_at:end]
        raw = raw[:messages_at] + b"[" * wire.nesting + inner + b"]" * wire.nesting + raw[end:]
    elif wire.encoding == "truncated":
        raw = raw[: max(1, len(raw) // 2)]
    return raw, "application/json"


def _with_last_text(body: dict[str, Any], change: Any) -> dict[str, Any]:
    if "messages" not in body:
        return _with_last_string(body, change)
    turns = [dict(m) for m in body["messages"]]
    content = turns[-1]["content"]
    if isinstance(content, str):
        turns[-1]["content"] = change(content)
    else:
        turns[-1]["content"] = [{**content[0], "text": change(content[0]["text"])}, *content[1:]]
    return {**body, "messages": turns}


def _with_last_string(body: dict[str, Any], change: Any) -> dict[str, Any]:
    """A forwarded request with its content's last text changed; content of token ids has none, so a field
    of free text is added to carry the change (the body must still be odd where the wire says it is)."""
    done = False

    def walk(value: Any) -> Any:
        nonlocal done
        if isinstance(value, str) and not done:
            done = True
            return change(value)
        if isinstance(value, list):
            return list(reversed([walk(v) for v in reversed(value)]))
        if isinstance(value, dict):
            return dict(reversed([(k, walk(v)) for k, v in reversed(value.items())]))
        return value

    key = next(k for k in ("instructions", "input", "prompt") if k in body)
    changed = {**body, key: walk(body[key])}
    return changed if done else {**changed, "user": change("")}


def _matching_bracket(raw: bytes, start: int) -> int:
    """The index just after the JSON array that starts at `start` (strings skipped)."""
    depth, i, in_string = 0, start, False
    while True:
        c = raw[i : i + 1]
        if in_string:
            if c == b"\\":
                i += 1
            elif c == b'"':
                in_string = False
        elif c == b'"':
            in_string = True
        elif c == b"[":
            depth += 1
        elif c == b"]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1


@dataclass
class Request:
    """One request as it goes on the wire, and what the caller put in it that must never be kept."""

    method: str
    target: str  # path and query, percent-encoded
    headers: list[tuple[bytes, bytes]]
    body: bytes
    credentials: list[str]  # every key-like credential the caller sent, valid or not
    model: str


def _header_text(text: str, limit: int) -> bytes:
    """Free text as a header value can carry it: no control characters, no space at either end, UTF-8 bytes."""
    return "".join(c for c in text[:limit] if c >= " " and c != "\x7f").strip(" ").encode("utf-8")


def build(scenario: Scenario, prompt: str, keys: dict[str, str]) -> Request:
    """The request `scenario` describes, with `prompt` as its content and `keys` the credentials on hand
    (the accounts' valid keys, plus `revoked`, `unknown` and `other`)."""
    wire = scenario.wire
    route = ROUTES[scenario.endpoint]
    path = {
        "route": route,
        "trailing_slash": route + "/",
        "doubled_prefix": "/v1" + route,
        "no_prefix": route.removeprefix("/v1"),
        "prompt_in_path": route + "/" + quote(prompt[:200], safe=""),
        "long_path": route + "/" + "x" * 250,
    }[wire.path]
    credential = {
        "valid": keys[scenario.account],
        "unknown": keys["unknown"],
        "revoked": keys["revoked"],
        "none": "",
        "malformed": "",
    }[wire.auth]
    credentials = [credential] if credential else []
    query = {
        "none": "",
        "beta": "?beta=true",
        "api_key": "?" + urlencode({"api_key": credential or keys[scenario.account]}),
        "prompt_in_query": "?" + urlencode({"q": prompt[:1000]}),
    }[wire.query]
    if wire.query == "api_key" and not credential:  # the live key, only in the query string
        credentials.append(keys[scenario.account])
    body, content_type = encode(ordered(messages(scenario, prompt), wire, scenario.endpoint), wire, prompt)
    headers: list[tuple[bytes, bytes]] = [(b"content-type", content_type.encode())]
    auth_name = wire.auth_header.encode()

    def auth_value(key: str) -> bytes:
        return f"Bearer {key}".encode() if auth_name == b"authorization" else key.encode()

    if wire.auth == "malformed":
        headers.append((b"authorization", wire.malformed.encode("latin-1")))
    elif credential:
        headers.append((auth_name, auth_value(credential)))
    if "duplicate_auth" in wire.headers and credential:
        headers.append((auth_name, auth_value(credential)))
    if wire.conflicting:
        headers.append((auth_name, auth_value(keys["other"])))
        credentials.append(keys["other"])
    if "both_auth_headers" in wire.headers and credential:
        other_name = b"x-api-key" if auth_name == b"authorization" else b"authorization"
        headers.append(
            (other_name, f"Bearer {credential}".encode() if other_name == b"authorization" else credential.encode())
        )
    if "long" in wire.headers:
        headers.append((b"x-long", b"v" * 8000))
    if "prompt_in_agent" in wire.headers:
        headers.append((b"user-agent", b"Mozilla/5.0 (X11; Linux) " + _header_text(prompt, 2000)))
    if "forwarded" in wire.headers:
        headers += [
            (b"x-forwarded-for", b"203.0.113.9, " + _header_text(prompt, 200)),
            (b"forwarded", b"for=198.51.100.7;proto=https"),
            (b"x-real-ip", b"192.0.2.44"),
        ]
    if "odd" in wire.headers:
        headers += [(b"x-prompt-copy", _header_text(prompt, 2000)), (b"x-empty", b""), (b"X-MiXeD-CaSe", b"1")]
    headers = [(name, value.strip(b" \t")) for name, value in headers]  # HTTP allows no space at either end
    return Request(wire.method, path + query, headers, body, credentials, scenario.model)


# Wire values that still break a property because the defect they expose is not fixed yet. The properties
# leave them out, unless AETHER_PROPERTY_PENDING=1; `test_pending_wire.py` proves each one still fails (a strict
# xfail), so the entry must go the day its fix lands. Each value names the defect.
PENDING: dict[tuple[str, str], str] = {}
INCLUDE_PENDING = os.environ.get("AETHER_PROPERTY_PENDING") == "1"


def _allowed(dimension: str, options: tuple[str, ...]) -> tuple[str, ...]:
    if INCLUDE_PENDING:
        return options
    return tuple(o for o in options if (dimension, o) not in PENDING)


@st.composite
def wires(draw: st.DrawFn, **force: str) -> Wire:
    """Half ordinary on each dimension, half odd: a request is rarely odd in every way at once. `force` fixes
    one dimension to one value (for `headers`, that one header kind), pending or not."""

    def dim(name: str, odds: int = 1) -> str:
        if name in force:
            return force[name]
        options = _allowed(name, DIMENSIONS[name])
        if draw(st.integers(0, odds)) > 0:
            return options[0]
        return draw(st.sampled_from(options))

    headers = (
        (force["headers"],)
        if "headers" in force
        else tuple(draw(st.lists(st.sampled_from(_allowed("headers", HEADERS)), max_size=3, unique=True)))
    )
    return Wire(
        auth=dim("auth"),
        auth_header=draw(st.sampled_from(["authorization", "x-api-key"])),
        malformed=draw(st.sampled_from(MALFORMED)),
        method=dim("method", 4),
        path=dim("path", 4),
        query=dim("query"),
        headers=headers,
        order=dim("order", 0),
        order_seed=draw(st.integers(0, 1000)),
        encoding=dim("encoding", 3),
        nesting=draw(st.sampled_from([64, 1000, 100_000])),
        model=dim("model"),
    )


DIMENSIONS: dict[str, tuple[str, ...]] = {
    "auth": AUTHS,
    "method": METHODS,
    "path": PATHS,
    "query": QUERIES,
    "headers": HEADERS,
    "order": ORDERS,
    "encoding": ENCODINGS,
    "model": MODELS,
}


@st.composite
def scenarios(
    draw: st.DrawFn,
    wire: st.SearchStrategy[Wire] | None = None,
    endpoints: tuple[str, ...] = (*CHAT_ENDPOINTS, *CHAT_ENDPOINTS, *FORWARDED_ENDPOINTS),
) -> Scenario:
    """A request's content and upstream. Chat is drawn as often as the three forwarded endpoints together
    (its translation has the most to go wrong); `endpoints` narrows the draw."""
    stream = draw(st.booleans())
    endpoint = draw(st.sampled_from(endpoints))
    behaviour = draw(
        st.sampled_from(
            ["ok"] * 6
            + ["filter", "filter", "error400", "error500", "reset", "malformed", "slow"]
            + (["cut", "cut"] if stream else [])
        )
    )
    return Scenario(
        prompt=draw(prompts()),
        endpoint=endpoint,
        # A forwarded endpoint serves only `gpt` models here: a `claude` one is the gateway's 400, drawn less.
        family=draw(
            st.sampled_from(["gpt", "claude"] if endpoint in CHAT_ENDPOINTS else ["gpt", "gpt", "gpt", "claude"])
        ),
        behaviour=behaviour,
        stream=stream,
        account=draw(st.sampled_from(["clean", "clean", "marked"])),
        pattern=draw(st.booleans()),
        disconnect=stream and draw(st.booleans()),
        shape=draw(st.sampled_from(SHAPES[endpoint])),
        key_in_prompt=draw(st.integers(0, 9)) == 0,
        model_canary=CANARY_MARK + draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=16, max_size=40)),
        # Half the requests travel as an SDK sends them, so the content's own dimensions (flags, upstream
        # behaviour, streaming) are as well covered as before the wire varied; the other half vary it.
        wire=draw(wire) if wire is not None else draw(wires()) if draw(st.booleans()) else ORDINARY,
    )
