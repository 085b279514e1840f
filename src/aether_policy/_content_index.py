"""Does a log record share 16 bytes with a request's content? Answered in time linear in the record.

The content (up to the whole body limit, megabytes) is indexed once, the record (usually a line) is looked up
window by window:

- Every shared run of 16 bytes contains one whole 8-byte block of the content that starts at a multiple of 8.
  So the index holds only those aligned blocks (one entry per 8 bytes), and a record is looked up at every
  offset: a hit is a candidate, confirmed by comparing the 16 bytes around it with the content itself.
- An entry is one 64-bit integer: 40 bits of a hash of the block, then the block's number. numpy sorts them
  (in C, without holding the GIL), and `searchsorted` finds a record's windows; a 1 MiB body is indexed in a
  few milliseconds of event-loop time and a large one in a worker thread.
- Content arrives in pieces (a body, a response streamed chunk by chunk): pieces are appended, indexed in
  runs of at least RUN_BYTES (runs of similar size are merged, so there are few), and the not yet indexed
  tail is searched directly, which is cheap because it is short.
"""

from __future__ import annotations

import codecs
import json
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from aether_policy._unescape import canonical, decode_json_escapes, decoded_pieces, escape_cut

WINDOW = 16
"""A record sharing this many bytes with the content quotes it."""
BLOCK = 8
RUN_BYTES = 8 * 1024
"""Content not yet indexed is searched directly up to this size, then indexed. A direct search costs the tail's
length per 9 bytes of record, so the tail is kept short: a 4 KiB record against an 8 KiB tail is about 1 ms."""
THREAD_ABOVE = 256 * 1024
"""Content larger than this is left for `index_pending` in a worker thread, off the event loop."""
_MAX_LINE = 1024 * 1024
"""An SSE line longer than this means the text is not an event stream after all."""
_POSITION_BITS = 24
_MAX_BLOCKS = 1 << _POSITION_BITS  # 128 MiB per stream; beyond it the tail is searched directly
_POSITION_MASK = (1 << _POSITION_BITS) - 1
_SHIFT = np.uint64(_POSITION_BITS)
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MAX_OCCURRENCES = 64
"""Occurrences of one block compared before a window is checked against the whole content instead."""
_MAX_SCANS = 8
"""Whole-content scans one check may make (for blocks repeated everywhere, like indentation); past that the
record is treated as quoting content: redaction fails closed, not slow."""

Entries = npt.NDArray[np.uint64]


def _hashes(blocks: Entries) -> Entries:
    with np.errstate(over="ignore"):
        return (blocks * _MULTIPLIER) >> _SHIFT


def _run(data: bytes, first_block: int) -> Entries:
    blocks = np.frombuffer(data, dtype="<u8")
    numbers = np.arange(first_block, first_block + len(blocks), dtype=np.uint64)
    entries: Entries = (_hashes(blocks) << _SHIFT) | numbers
    entries.sort()
    return entries


class RecordWindows:
    """A record's text, with its 8-byte windows at every offset hashed once for all streams it is checked
    against (only when one of them has an index: short content is searched with `probes` alone)."""

    __slots__ = ("_hashed", "data")

    def __init__(self, data: bytes) -> None:
        assert len(data) < 1 << _POSITION_BITS, "check long records in segments"
        self.data = data
        self._hashed: tuple[Entries, npt.NDArray[np.int64]] | None = None

    def probes(self) -> Iterator[tuple[int, bytes]]:
        """For the direct search of a short tail: a 16-byte run always contains one of these 8-byte probes."""
        for at in range(0, len(self.data) - BLOCK + 1, WINDOW - BLOCK + 1):
            yield at, self.data[at : at + BLOCK]

    def hashed(self) -> tuple[Entries, npt.NDArray[np.int64]]:
        """The windows' hashes, sorted (so each binary search starts where the last ended, which is several
        times faster on a large index), and their offsets in the record."""
        if self._hashed is None:
            values, offsets = [], []
            for start in range(min(BLOCK, len(self.data) - BLOCK + 1)):
                count = (len(self.data) - start) // BLOCK
                values.append(np.frombuffer(self.data, dtype="<u8", count=count, offset=start))
                offsets.append(np.arange(start, start + count * BLOCK, BLOCK, dtype=np.int64))
            if values:  # sorted by hash with the offset packed below it, as the index entries are
                packed = (_hashes(np.concatenate(values)) << _SHIFT) | np.concatenate(offsets).astype(np.uint64)
                packed.sort()
                self._hashed = packed >> _SHIFT, (packed & np.uint64(_POSITION_MASK)).astype(np.int64)
            else:
                self._hashed = np.empty(0, np.uint64), np.empty(0, np.int64)
        return self._hashed


def _confirmed(record: bytes, at: int, content: bytes | bytearray, position: int) -> bool:
    """Whether record[at:at+8], found at content[position:], lies inside a 16-byte run the two share."""
    for start in range(max(0, at - BLOCK), min(at, len(record) - WINDOW) + 1):
        begin = position - (at - start)
        if begin >= 0 and content[begin : begin + WINDOW] == record[start : start + WINDOW]:
            return True
    return False


class _TooManyScans(Exception):
    """A check gave up scanning the whole content: the record is treated as quoting it."""


class ContentStream:
    """One append-only text, as bytes, indexed for `shares`. Thread-safe: records are checked from any thread."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._runs: list[Entries] = []
        self._indexed = 0  # bytes covered by runs, a multiple of BLOCK
        self._building = False
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._data)

    def append(self, data: bytes, index: bool = True) -> None:
        """Add text; index it now unless it is large (then `index_pending` indexes it, e.g. in a worker thread)."""
        if not data:
            return
        with self._lock:
            self._data += data
        if index and RUN_BYTES <= self.pending() < THREAD_ABOVE:
            self.index_pending()

    def pending(self) -> int:
        return len(self._data) - self._indexed

    def index_pending(self) -> None:
        """Index what is not yet indexed. Sorting runs outside the lock: checks meanwhile search the tail."""
        with self._lock:
            if self._building:
                return
            start = self._indexed
            end = min(len(self._data) // BLOCK, _MAX_BLOCKS) * BLOCK
            if end - start < BLOCK:
                return
            chunk = bytes(self._data[start:end])
            self._building = True
        try:
            run = _run(chunk, start // BLOCK)
            with self._lock:
                runs = [*self._runs]
            while runs and len(runs[-1]) <= 2 * len(run):  # binary-counter merging: O(log n) runs
                run = np.sort(np.concatenate([runs.pop(), run]), kind="stable")  # two sorted runs: linear
            with self._lock:
                self._runs = [*runs, run]
                self._indexed = end
        finally:
            with self._lock:
                self._building = False

    def shares(self, record: RecordWindows) -> bool:
        """Whether the record and this text share WINDOW consecutive bytes."""
        if len(record.data) < WINDOW:
            return False
        scans: dict[bytes, bool] = {}
        with self._lock:
            try:
                for run in self._runs:
                    if self._run_shares(run, record, scans):
                        return True
                tail_start = max(0, self._indexed - WINDOW + 1)
                return self._tail_shares(record, tail_start, scans)
            except _TooManyScans:
                return True

    def _run_shares(self, run: Entries, record: RecordWindows, scans: dict[bytes, bool]) -> bool:
        hashes, offsets = record.hashed()
        if not len(hashes):
            return False
        lows = np.searchsorted(run, hashes << _SHIFT)  # sorted keys: numpy narrows each search by the last
        found = lows < len(run)
        found[found] = (run[lows[found]] >> _SHIFT) == hashes[found]
        for index in np.flatnonzero(found):
            at, key, low = int(offsets[index]), int(hashes[index]), int(lows[index])
            for seen, entry in enumerate(run[low : low + _MAX_OCCURRENCES + 1].tolist()):
                if entry >> _POSITION_BITS != key:
                    break
                if seen == _MAX_OCCURRENCES:  # a block repeated this often: ask the content itself
                    if self._window_in_content(record.data, at, scans):
                        return True
                    break
                if _confirmed(record.data, at, self._data, (entry & _POSITION_MASK) * BLOCK):
                    return True
        return False

    def _window_in_content(self, record: bytes, at: int, scans: dict[bytes, bool]) -> bool:
        """Whether a 16-byte window of the record around `at` occurs anywhere in the content (a full scan:
        each distinct window is scanned once per check, and only _MAX_SCANS of them)."""
        for start in range(max(0, at - BLOCK), min(at, len(record) - WINDOW) + 1):
            window = record[start : start + WINDOW]
            if window not in scans:
                if len(scans) >= _MAX_SCANS:
                    raise _TooManyScans
                scans[window] = window in self._data
            if scans[window]:
                return True
        return False

    def _tail_shares(self, record: RecordWindows, tail_start: int, scans: dict[bytes, bool]) -> bool:
        """Search the part no run covers (short, except while a worker thread indexes a large piece)."""
        if len(self._data) - tail_start < WINDOW:
            return False
        for at, probe in record.probes():
            position = self._data.find(probe, tail_start)
            for _ in range(_MAX_OCCURRENCES):
                if position < 0:
                    break
                if _confirmed(record.data, at, self._data, position):
                    return True
                position = self._data.find(probe, position + 1)
            else:
                if position >= 0 and self._window_in_content(record.data, at, scans):
                    return True
        return False


class ContentSource:
    """One text as it arrives (a request body, a response, streamed or not), in the views a log may quote:

    - text: the bytes as they travel until the first escape, and from then on with JSON escapes undone.
      One stream is enough: a record quoting the escaped form is compared in its own unescaped view too;
    - spelled: for server-sent events, the text the stream's deltas spell out across events.
    """

    def __init__(self) -> None:
        self.text = ContentStream()
        self.spelled: ContentStream | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._unescaping = False
        self._carry = ""  # an escape cut by a chunk boundary, decoded with the next chunk
        self._line = ""  # an SSE line cut by a chunk boundary
        self._sse: bool | None = None

    def streams(self) -> list[ContentStream]:
        return [self.text] if self.spelled is None else [self.text, self.spelled]

    def feed_document(self, body: bytes) -> None:
        """A whole document at once (a request body), decoded by C code in pieces and indexed once."""
        if b"\\" not in body:
            self.text.append(body, index=False)
        else:
            for piece in decoded_pieces(body):
                self.text.append(canonical(piece), index=False)
        if self.text.pending() >= RUN_BYTES:  # a short text is searched directly: cheaper than indexing it
            self.text.index_pending()

    def feed(self, chunk: bytes) -> None:
        """The next piece of a streamed text."""
        if not chunk:
            return
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = self._decoder.decode(chunk)
        if self._sse is None:
            self._sse = text.lstrip().startswith(("data:", "event:", ":"))
        if not self._unescaping and "\\" not in text:
            self.text.append(chunk)
        else:
            self._unescaping = True
            text_with_carry = self._carry + text
            cut = escape_cut(text_with_carry)
            self._carry = text_with_carry[cut:]
            self.text.append(canonical(decode_json_escapes(text_with_carry[:cut])))
        if self._sse:
            self._feed_events(text)

    def finish(self) -> None:
        """The text has ended: what was held back for a next piece that will not come (an escape near its end,
        an event's last line without its newline) is registered too, so its last bytes are redacted as well."""
        if self._carry:
            carry, self._carry = self._carry, ""
            self.text.append(canonical(decode_json_escapes(carry)))
        if self._sse and self._line:
            self._feed_events("\n")

    def _feed_events(self, text: str) -> None:
        lines = (self._line + text).split("\n")
        self._line = lines.pop()
        if len(self._line) > _MAX_LINE:  # not an event stream after all: stop buffering
            self._line, self._sse = "", False
        spelled: list[str] = []
        for line in lines:
            if not line.startswith("data:"):
                continue
            try:
                spelled.extend(_streamed_text(json.loads(line[5:])))
            except (ValueError, RecursionError):  # not JSON, or nested past what Python parses
                continue
        if spelled:
            if self.spelled is None:
                self.spelled = ContentStream()
            self.spelled.append(canonical("".join(spelled)))

    def index_pending(self) -> None:
        for stream in self.streams():
            stream.index_pending()

    def pending(self) -> int:
        return sum(stream.pending() for stream in self.streams())


_STREAMED_KEYS = frozenset({"content", "text", "partial_json", "arguments"})


def _streamed_text(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _STREAMED_KEYS and isinstance(item, str):
                yield item
            else:
                yield from _streamed_text(item)
    elif isinstance(value, list):
        for item in value:
            yield from _streamed_text(item)
