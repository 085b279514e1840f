"""The token counts a provider reports inside a stream, read as the bytes go by.

A streamed answer's usage arrives in its events (OpenAI's last chunk `usage`, with `stream_options.include_usage`;
Anthropic's `message_start.message.usage.input_tokens` and `message_delta.usage.output_tokens`; Gemini's
`usageMetadata`; a Responses stream's `response.completed`), and per-key token limits must charge it. The
same-protocol path relays bytes as they arrive, so this watcher scans them incrementally: one C-level regex
search per chunk finds whether any complete line holds a usage object, and only such `data:` lines are parsed.
Counts are taken only from the structural places providers put them (never from text inside a delta), and are
bounded like a non-streamed answer's (`limits.tokens_of`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aether_policy.gateway.limits import tokens_of

_USAGE = re.compile(rb'"usage(?:Metadata)?"\s*:\s*\{')
"""A usage key holding an object: OpenAI's other chunks carry `"usage": null`, which is not worth parsing."""
_USAGE_TEXT = re.compile(r'"usage(?:Metadata)?"\s*:\s*\{')
_MAX_LINE = 1 << 20
"""A partial line longer than this (1 MiB) is not kept: usage never needs one, and a hostile provider sending
one endless line must not grow the gateway's memory. Its counts, if any, are lost; the estimate stays charged."""


def asking_for_usage(openai: bool, kind: str, body: dict[str, Any], streaming: bool) -> tuple[dict[str, Any], bool]:
    """The body to forward to a provider of the caller's own protocol, and whether the gateway added
    `stream_options.include_usage` to it: an OpenAI stream reports its usage only when asked, and the token
    limit needs it. Only for chat and legacy completions streams, and only when `stream_options` is absent or
    an object (anything else is forwarded as it is, for the provider to refuse)."""
    if not (openai and streaming and kind in ("chat", "completions")):
        return body, False
    options = body.get("stream_options")
    if options is None:
        options = {}
    if not isinstance(options, dict) or options.get("include_usage") is True:
        return body, False
    return {**body, "stream_options": {**options, "include_usage": True}}, True


class UsageWatcher:
    """Incremental SSE line scanner over a provider's stream bytes, keeping the last reported counts.

    `watch` never changes or holds back a chunk. `without_usage_chunk` is for a stream the gateway asked to
    report usage (`include_usage`) for a caller who did not: it forwards every complete line at once except
    OpenAI's usage-only chunk (`choices: []`), and holds only a trailing partial line, which no SSE client can
    act on before its end arrives anyway.
    """

    __slots__ = ("input_tokens", "output_tokens", "events", "_held", "_held_bytes", "_overlong")

    def __init__(self) -> None:
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.events = 0
        """`data:` lines relayed (about: text inside an answer may say it too), each at least one token of the
        answer or of its framing: the floor charged when a stream ends before its output tokens are reported."""
        # The start of a line whose end has not come yet, as the pieces it came in: joined once, when its end
        # arrives, so a provider sending one long line in tiny chunks costs time linear in the line (copying the
        # held bytes on every chunk would be quadratic, on the event loop).
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._overlong = False  # inside a line longer than _MAX_LINE: skip to its end

    def watch(self, chunk: bytes) -> None:
        """Read the usage in `chunk`'s complete lines; the caller forwards `chunk` unchanged."""
        self.events += chunk.count(b"data:")
        complete = self._complete_lines(chunk)
        if complete and _USAGE.search(complete) is not None:  # the hot path: one regex scan, no parse
            for line in complete.splitlines():
                self._line(line)

    def without_usage_chunk(self, chunk: bytes) -> bytes:
        """The complete lines of `chunk` (and of what was held) to forward now, minus the usage-only chunk.

        Nothing is ever dropped but that chunk: a partial line too long to hold is forwarded as it is, and the
        rest of it as it comes."""
        self.events += chunk.count(b"data:")
        head = b""
        if self._overlong:
            end = _first_end(chunk)
            if end < 0:
                return chunk
            head, chunk, self._overlong = chunk[: end + 1], chunk[end + 1 :], False
        complete = self._split(chunk)
        if self._overlong:  # a partial line too long to hold: forwarded now, the rest of it as it comes
            complete += b"".join(self._release())
        if complete and _USAGE.search(complete) is not None:
            kept = [line for line in complete.splitlines(keepends=True) if not self._line(line, usage_only=True)]
            complete = b"".join(kept)
        return head + complete if head else complete

    def rest(self, hiding: bool = False) -> bytes:
        """What is still held when the stream ends (a last line without its line ending); with `hiding`, as
        `without_usage_chunk` forwards it: nothing, if it is the usage-only chunk."""
        rest = b"".join(self._release())
        usage_only = self._line(rest, usage_only=hiding)
        return b"" if usage_only else rest

    def read_data(self, data: str) -> None:
        """One already-parsed event's data (the translating path), when it may carry usage."""
        self.events += 1
        if _USAGE_TEXT.search(data) is not None:
            self._payload(data)

    def floor(self) -> int:
        """What to charge at least: the events relayed when the stream ended before its output tokens were
        reported (the caller left, or the provider cut it), else nothing beyond the report."""
        return self.events if self.output_tokens is None else 0

    def _complete_lines(self, chunk: bytes) -> bytes:
        if self._overlong:  # inside a line too long to keep: skipped to its end, unread
            end = _first_end(chunk)
            if end < 0:
                return b""
            chunk, self._overlong = chunk[end + 1 :], False
        complete = self._split(chunk)
        if self._overlong:
            self._release()  # read no further into a line this long: its rest is skipped
        return complete

    def _split(self, chunk: bytes) -> bytes:
        """The complete lines that `chunk` ends (with what was held before them); holds its last partial line.

        Only `chunk` is searched for a line end, and held pieces are joined once, when their line ends."""
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            self._held.append(chunk)
            self._held_bytes += len(chunk)
            if self._held_bytes > _MAX_LINE:
                self._overlong = True
            return b""
        head = chunk[: end + 1]
        complete = b"".join((*self._release(), head)) if self._held else head
        if end + 1 < len(chunk):
            tail = chunk[end + 1 :]
            self._held, self._held_bytes = [tail], len(tail)
            if self._held_bytes > _MAX_LINE:
                self._overlong = True
        return complete

    def _release(self) -> list[bytes]:
        held, self._held, self._held_bytes = self._held, [], 0
        return held

    def _line(self, line: bytes, usage_only: bool = False) -> bool:
        """Read one line's usage; whether it is OpenAI's usage-only chunk (when `usage_only` asks)."""
        if not line.startswith(b"data:") or _USAGE.search(line) is None:
            return False
        payload = self._payload(line[5:])
        return usage_only and payload is not None and payload.get("choices") == []

    def _payload(self, data: bytes | str) -> Mapping[str, Any] | None:
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            return None  # not JSON: a provider's own problem, and no count to read
        if not isinstance(payload, dict):
            return None
        for holder in (payload, payload.get("message"), payload.get("response")):  # Anthropic's, Responses'
            if not isinstance(holder, dict):
                continue
            for usage in (holder.get("usage"), holder.get("usageMetadata")):
                if isinstance(usage, Mapping):
                    self._counts(usage)
        return payload

    def _counts(self, usage: Mapping[str, Any]) -> None:
        # Later reports replace earlier ones: every protocol's counts are cumulative.
        found = tokens_of(usage, "prompt_tokens", "input_tokens", "promptTokenCount")
        if found is not None:
            self.input_tokens = found
        found = tokens_of(usage, "completion_tokens", "output_tokens", "candidatesTokenCount")
        if found is not None:
            self.output_tokens = found


def _first_end(data: bytes) -> int:
    """Where the first line of `data` ends (its CR or LF), or -1."""
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    return min(ends) if ends else -1
