"""The usage a provider reports inside a stream, read from its bytes however the network splits them."""

from __future__ import annotations

import json
from typing import Any

from aether_policy.gateway.stream_usage import UsageWatcher, asking_for_usage


def event(data: Any, name: str | None = None, eol: str = "\n") -> bytes:
    head = f"event: {name}{eol}" if name else ""
    return f"{head}data: {json.dumps(data)}{eol}{eol}".encode()


def chunk(text: str, usage: Any = None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}], "usage": usage}


USAGE_ONLY = event(
    {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}}
)
OPENAI = event(chunk("Tejo")) + event(chunk(" Douro")) + USAGE_ONLY + b"data: [DONE]\n\n"


def splits(stream: bytes) -> list[list[bytes]]:
    """The stream cut in two at every position, and byte by byte."""
    return [[stream[:i], stream[i:]] for i in range(len(stream) + 1)] + [[bytes([b]) for b in stream]]


def test_openai_usage_is_read_wherever_the_stream_is_split() -> None:
    for pieces in splits(OPENAI):
        watcher = UsageWatcher()
        for piece in pieces:
            watcher.watch(piece)
        watcher.rest()
        assert (watcher.input_tokens, watcher.output_tokens) == (5, 7)


def test_the_hidden_usage_chunk_alone_is_left_out_wherever_the_stream_is_split() -> None:
    expected = OPENAI.replace(USAGE_ONLY, b"\n")  # its data line goes; the blank line ending it dispatches nothing
    for pieces in splits(OPENAI):
        watcher = UsageWatcher()
        relayed = b"".join(watcher.without_usage_chunk(piece) for piece in pieces) + watcher.rest()
        assert relayed == expected
        assert (watcher.input_tokens, watcher.output_tokens) == (5, 7)


def test_a_usage_chunk_that_also_carries_an_answer_is_relayed() -> None:
    both = event(chunk("Sado", {"prompt_tokens": 5, "completion_tokens": 7}))
    watcher = UsageWatcher()
    assert watcher.without_usage_chunk(both) == both
    assert watcher.output_tokens == 7


def test_anthropic_usage_is_read_with_cr_and_crlf_line_endings_split_anywhere() -> None:
    for eol in ("\r", "\r\n", "\n"):
        start = {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 0}}}
        delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1000}}
        stream = event(start, "message_start", eol) + event(delta, "message_delta", eol)
        for pieces in splits(stream):
            watcher = UsageWatcher()
            for piece in pieces:
                watcher.watch(piece)
            watcher.rest()
            assert (watcher.input_tokens, watcher.output_tokens) == (5, 1000), (eol, pieces)


def test_gemini_usage_metadata_is_read_and_the_last_report_wins() -> None:
    def part(tokens: int) -> bytes:
        usage = {"promptTokenCount": 5, "candidatesTokenCount": tokens}
        return event({"candidates": [{"content": {"parts": [{"text": "x"}]}}], "usageMetadata": usage}, eol="\r\n")

    watcher = UsageWatcher()
    for piece in (part(1), part(2), part(9)):
        watcher.watch(piece)
    assert (watcher.input_tokens, watcher.output_tokens) == (5, 9)


def test_a_responses_streams_completed_event_is_read() -> None:
    completed = {"type": "response.completed", "response": {"usage": {"input_tokens": 5, "output_tokens": 7}}}
    watcher = UsageWatcher()
    watcher.read_data(json.dumps(completed))
    assert (watcher.input_tokens, watcher.output_tokens) == (5, 7)


def test_usage_quoted_in_the_answers_text_is_not_a_count() -> None:
    watcher = UsageWatcher()
    watcher.watch(event(chunk('"usage": {"prompt_tokens": 999, "completion_tokens": 999}')))
    watcher.watch(b'data: {"choices": [], "note": "usage": {"prompt_tokens": 1}}\n\n')  # not JSON
    watcher.watch(b"data: " + b'{"usage": {"a":' * 100_000 + b"\n\n")  # nested past the recursion limit
    assert (watcher.input_tokens, watcher.output_tokens) == (None, None)


def test_counts_no_provider_means_are_no_counts() -> None:
    for hostile in (-5, 10**30, 2**31, 1e308, "999", True, None, [1], {"n": 1}):
        watcher = UsageWatcher()
        watcher.watch(event({"choices": [], "usage": {"prompt_tokens": hostile, "completion_tokens": hostile}}))
        assert (watcher.input_tokens, watcher.output_tokens) == (None, None), hostile
    watcher = UsageWatcher()
    watcher.watch(event({"choices": [], "usage": {"prompt_tokens": 2**31 - 1, "completion_tokens": 0}}))
    assert (watcher.input_tokens, watcher.output_tokens) == (2**31 - 1, 0)


def test_an_endless_line_is_not_kept_and_the_usage_after_it_is_still_read() -> None:
    watcher = UsageWatcher()
    for _ in range(40):  # 2.5 MiB without a line ending
        watcher.watch(b"x" * 65536)
    assert watcher._held_bytes == 0 and not watcher._held  # the memory bound is the behaviour under test
    watcher.watch(b"x\n\n" + USAGE_ONLY)
    assert (watcher.input_tokens, watcher.output_tokens) == (5, 7)


def test_an_endless_line_in_a_stream_whose_usage_is_hidden_is_relayed_unchanged() -> None:
    watcher = UsageWatcher()
    pieces = [b"data: " + b"x" * 65536] + [b"x" * 65536] * 20 + [b"\n\n" + USAGE_ONLY + b"data: [DONE]\n\n"]
    relayed = b"".join(watcher.without_usage_chunk(piece) for piece in pieces) + watcher.rest()
    assert relayed == b"".join(pieces).replace(USAGE_ONLY, b"\n")
    assert watcher.output_tokens == 7


def test_the_gateway_asks_only_openai_chat_and_completions_streams_for_usage() -> None:
    body: dict[str, Any] = {"model": "m", "stream": True}
    assert asking_for_usage(True, "chat", body, True) == ({**body, "stream_options": {"include_usage": True}}, True)
    assert asking_for_usage(True, "completions", body, True)[1]
    assert asking_for_usage(True, "chat", body, False) == (body, False)  # not a stream
    assert asking_for_usage(False, "chat", body, True) == (body, False)  # Anthropic and Gemini always report it
    assert asking_for_usage(True, "responses", body, True) == (body, False)  # so do Responses streams
    asked = {**body, "stream_options": {"include_usage": True}}
    assert asking_for_usage(True, "chat", asked, True) == (asked, False)  # the caller's own: relayed
    odd = {**body, "stream_options": "yes"}
    assert asking_for_usage(True, "chat", odd, True) == (odd, False)  # the provider refuses it, as it would


def test_a_stream_ending_before_its_output_tokens_is_charged_a_token_per_event_relayed() -> None:
    watcher = UsageWatcher()
    for piece in (event(chunk("Tejo")), event(chunk(" Douro")), event(chunk(" Sado"))):
        watcher.watch(piece)
    assert watcher.floor() == 3  # the caller left here
    watcher.watch(USAGE_ONLY)
    assert watcher.floor() == 0  # reported: the provider's counts are charged, not the floor


def test_a_long_line_in_tiny_chunks_is_relayed_unchanged_on_both_paths() -> None:
    line = b"data: " + b'{"choices":[{"delta":{"content":"' + b"y" * 200_000 + b'"}}]}\n\n'
    pieces = [line[i : i + 64] for i in range(0, len(line), 64)]
    hiding, watching = UsageWatcher(), UsageWatcher()
    relayed = b"".join(hiding.without_usage_chunk(piece) for piece in pieces) + hiding.rest(hiding=True)
    for piece in pieces:
        watching.watch(piece)
    assert relayed == line
    assert hiding._held_bytes == watching._held_bytes == 0


def test_a_usage_only_chunk_without_its_line_ending_is_still_hidden_at_the_end() -> None:
    watcher = UsageWatcher()
    relayed = watcher.without_usage_chunk(b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n' + USAGE_ONLY.rstrip())
    relayed += watcher.rest(hiding=True)
    assert relayed == b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    assert (watcher.input_tokens, watcher.output_tokens) == (5, 7)
