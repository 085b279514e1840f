"""The intermediate representation every wire protocol translates to and from.

Translation is hub-and-spoke: a request in one protocol becomes an IR `ChatRequest`, and the IR becomes the
request of the provider's protocol, so a new protocol needs two mappings, not one per other protocol. Whatever
the IR cannot carry is refused by the reading side (`Unsupported`), and whatever the writing side cannot
express is refused there: nothing is dropped in between.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
"""How hard a reasoning model thinks: OpenAI's `reasoning_effort` values, which include Anthropic's efforts."""
EFFORTS: tuple[Effort, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
Finish = Literal["stop", "length", "tool_use", "moderated"]
"""Why a response ended; `moderated` is the provider's own moderation verdict (a content filter, a refusal)."""


class Unsupported(ValueError):
    """A request parameter the target protocol can neither carry nor emulate: the caller's 400, naming it."""

    def __init__(self, param: str, why: str) -> None:
        super().__init__(f"`{param}` {why}")
        self.param = param


class BadRequest(ValueError):
    """A request whose shape its protocol does not allow: the caller's error, with a code, never quoting it."""

    def __init__(self, message: str, code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Image:
    url: str | None = None
    media_type: str | None = None
    data: str | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(slots=True)
class ToolResult:
    id: str
    content: str


Part = Text | Image | ToolCall | ToolResult


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "any", "none", "tool"]
    name: str | None = None
    parallel: bool = True


@dataclass(slots=True)
class JsonSchema:
    """Structured output: the reply must be JSON matching `schema`."""

    name: str
    schema: dict[str, Any]
    strict: bool = True


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    system: list[str] = field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    stream: bool = False
    json_schema: JsonSchema | None = None
    json_object: bool = False
    reasoning_effort: Effort | None = None
    user: str | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def take(self, report: UsageReport) -> None:
        """A stream's usage report: each count it carries replaces the one held (counts are cumulative)."""
        if report.input_tokens is not None:
            self.input_tokens = report.input_tokens
        if report.output_tokens is not None:
            self.output_tokens = report.output_tokens


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    parts: list[Part]
    finish: Finish
    usage: Usage
    moderation: str | None = None
    """The provider's own word for a moderated answer (`content_filter`, `refusal`), when `finish` is moderated."""


# -- stream events: what one provider's stream says, in the order it says it --------------------------------------


@dataclass(slots=True)
class Start:
    id: str
    model: str
    input_tokens: int = 0


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolStart:
    index: int
    id: str
    name: str


@dataclass(slots=True)
class ToolArguments:
    index: int
    partial_json: str


@dataclass(slots=True)
class Finished:
    """The end of the answer; usage may still follow (OpenAI sends it in a chunk after the finish reason)."""

    finish: Finish
    moderation: str | None = None


@dataclass(slots=True)
class UsageReport:
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(slots=True)
class End:
    pass


@dataclass(slots=True)
class StreamFailed:
    kind: str


Event = Start | TextDelta | ToolStart | ToolArguments | Finished | UsageReport | End | StreamFailed


# -- emulation: structured output through a forced tool ------------------------------------------------------------

JSON_TOOL = "json_response"
"""The tool a protocol without native structured output is forced to call; its input is the JSON answer."""


def emulate_json_output(request: ChatRequest) -> ChatRequest:
    """`json_schema` / `json_object` as one forced tool whose input schema is the requested one: the model
    must answer with that JSON. Refused alongside the caller's own tools, which the forced call would shut out."""
    if request.json_schema is None and not request.json_object:
        return request
    param = "response_format"
    if request.tools:
        raise Unsupported(param, "with `tools` cannot be emulated for this provider (it has no structured output)")
    schema = request.json_schema.schema if request.json_schema is not None else {"type": "object"}
    description = "Answer by calling this tool; its input is the whole answer, as JSON."
    request.tools = [Tool(JSON_TOOL, description, schema)]
    request.tool_choice = ToolChoice("tool", JSON_TOOL)
    request.json_schema, request.json_object = None, False
    return request


def json_answer(response: ChatResponse) -> ChatResponse:
    """The forced tool's input as the text answer, as a native structured output would have given it."""
    parts: list[Part] = []
    for part in response.parts:
        if isinstance(part, ToolCall) and part.name == JSON_TOOL:
            parts.append(Text(json.dumps(part.arguments, separators=(",", ":"))))
        else:
            parts.append(part)
    finish: Finish = "stop" if response.finish == "tool_use" else response.finish
    return ChatResponse(response.id, response.model, parts, finish, response.usage, response.moderation)


class JsonAnswerStream:
    """The same, for a stream: the forced tool's argument deltas become text deltas."""

    def __init__(self) -> None:
        self._index: int | None = None

    def adapt(self, event: Event) -> Iterator[Event]:
        if isinstance(event, ToolStart) and event.name == JSON_TOOL:
            self._index = event.index
        elif isinstance(event, ToolArguments) and event.index == self._index:
            yield TextDelta(event.partial_json)
        elif isinstance(event, Finished) and event.finish == "tool_use":
            yield Finished("stop", event.moderation)
        else:
            yield event
