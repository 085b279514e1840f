"""The content index behind log redaction: every shared 16-byte run is found, wherever it lies."""

from __future__ import annotations

import asyncio
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from aether_policy._content_index import RUN_BYTES, ContentSource, ContentStream, RecordWindows
from aether_policy._context import Inflight
from aether_policy._unescape import PIECE, decoded_pieces


def text_of(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choice(b"abcdefghij klmnop") for _ in range(size))


def shares(stream: ContentStream, record: bytes) -> bool:
    return stream.shares(RecordWindows(record))


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(16, 3 * RUN_BYTES),
    chunks=st.integers(1, 7),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_any_16_bytes_of_content_appended_in_pieces_are_found(
    size: int, chunks: int, seed: int, data: st.DataObject
) -> None:
    content = text_of(size, seed)
    stream = ContentStream()
    cuts = sorted(data.draw(st.lists(st.integers(0, size), min_size=chunks - 1, max_size=chunks - 1)))
    for start, end in zip([0, *cuts], [*cuts, size], strict=True):
        stream.append(content[start:end])
    at = data.draw(st.integers(0, size - 16))
    length = data.draw(st.integers(16, 40))
    assert shares(stream, b"<<" + content[at : at + length] + b">>")


def test_a_record_sharing_only_15_bytes_is_not_flagged() -> None:
    content = text_of(4 * RUN_BYTES, 11)  # long enough to be indexed in runs
    stream = ContentStream()
    stream.append(content)
    stream.index_pending()
    assert not shares(stream, b"\x01" + content[100:115] + b"\x01" + content[500:515] + b"\x01")
    assert shares(stream, b"\x01" + content[100:116] + b"\x01")


def test_a_block_repeated_everywhere_still_finds_the_one_run_around_it() -> None:
    content = b"        filler\n" * 20000 + b"        secret-prompt-text\n" + b"        filler\n" * 20000
    stream = ContentStream()
    stream.append(content)
    stream.index_pending()
    assert shares(stream, b"log: [        secret-p]")


def test_a_large_body_is_indexed_off_the_event_loop_and_then_found() -> None:
    body = text_of(2 * 1024 * 1024, 3)
    inflight = Inflight(body)
    asyncio.run(inflight.expose_body())
    (stream,) = inflight.streams()
    assert stream.pending() < 8
    assert shares(stream, body[1_234_567 : 1_234_567 + 16])


def test_an_escape_cut_by_a_chunk_boundary_is_still_decoded() -> None:
    source = ContentSource()
    for chunk in (b'{"content": "Gen\\u00', b'e8ve est une ville suisse"}'):
        source.feed(chunk)
    assert shares(source.text, "Genève est une ville".encode())


def test_a_record_made_of_blocks_repeated_everywhere_is_redacted_rather_than_scanned_without_end() -> None:
    content = bytes(range(32, 127)) * 2000  # every 8-byte block occurs hundreds of times
    stream = ContentStream()
    stream.append(content)
    stream.index_pending()
    record = b"\x01".join(content[i : i + 15] for i in range(0, 40 * 95, 95 + 8))  # many blocks, no 16-byte run
    assert shares(stream, record)


def test_a_large_body_of_escapes_decodes_whole_across_its_pieces() -> None:
    text = '你好，世界。\n"引号" \\ 😀 ' * 40000  # no ASCII run long enough to cut at, every escape kind
    body = json.dumps({"content": text}).encode()
    assert len(body) > 4 * PIECE
    assert "".join(decoded_pieces(body)) == json.dumps({"content": text}, ensure_ascii=False).replace(
        '\\"', '"'
    ).replace("\\n", "\n").replace("\\\\", "\\")


def test_a_stream_event_nested_past_what_python_parses_is_skipped_not_raised() -> None:
    source = ContentSource()
    source.feed(b"data: " + b"[" * 100_000 + b"]" * 100_000 + b"\n\n")
    source.feed(b'data: {"choices": [{"delta": {"content": "still registered afterwards"}}]}\n\n')
    assert shares(source.text, b"still registered afterwards")
