"""Per-key controls on the request path: expiry, allowed models, requests and tokens per minute.

Counting is a fixed one-minute window per key, shared through the database (`rate_windows`): each process
admits against the window's shared total as last read plus what it admitted since, and a background thread
adds its new counts to the shared row (one atomic UPSERT per key, RETURNING the new total) every
`sync_seconds` (0.1 s). A request never waits for a database write; the first request of a key in a new
minute reads the shared total once.

Tolerances, documented in the README: in one process, requests per minute are exact within a window; across
replicas, a window can overshoot by what the other replicas admit within one sync interval. A burst straddling
a minute boundary can pass up to twice the limit in 60 seconds (the price of fixed windows). Tokens are
charged when the provider reports them, so requests in flight when the window fills overshoot it by their own
tokens; a streamed request is charged an estimate when admitted (a quarter of the body's bytes plus its
`max_tokens`), since its usage arrives only at its end, and the reported usage beyond the estimate when it ends
(`charge`, fed by `stream_usage`). Counts not yet synced when a process stops are lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from aether_policy.derive import model_name
from aether_policy.gateway.errors import GatewayError
from aether_policy.gateway.protocols import WireProtocol
from aether_policy.middleware import facts_of
from aether_policy.store.key_controls import KeyControls, add_to_window, controls_for_hash
from aether_policy.store.store import Store

log = logging.getLogger("aether_policy.gateway")
_KEY_HASH = "aether_key_hash"
_CHARGE = "aether_key_charge"
_CHARGED = "aether_key_charged"
_INT_MAX = 2**31 - 1


class LimitExceeded(GatewayError):
    """429 in the caller's protocol, with the seconds until the window turns in `Retry-After`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, message, "rate_limit_error", "rate_limit_exceeded")
        self.retry_after = retry_after

    def response(self, protocol: WireProtocol) -> JSONResponse:
        response = super().response(protocol)
        response.headers["retry-after"] = str(self.retry_after)
        return response


class ModelNotAllowed(GatewayError):
    """403: the key may not call this model (each protocol's error shape says so: Anthropic's
    permission_error, Gemini's PERMISSION_DENIED)."""

    def __init__(self, model: str) -> None:
        named = f"model '{model}'" if model_name(model) else "this model"  # never echo free text
        super().__init__(403, f"this API key may not call {named}", "permission_error", "model_not_allowed")


@dataclass
class _Window:
    """One key's minute as this process sees it: the shared total as last read, and what it added since."""

    shared_requests: int = 0
    shared_tokens: int = 0
    pending_requests: int = 0
    pending_tokens: int = 0
    # Taken from pending by a sync whose database write has not returned yet: still counted, or a request
    # admitted while the write is in flight would see neither the old pending nor the new shared total.
    syncing_requests: int = 0
    syncing_tokens: int = 0
    read: bool = False

    def requests(self) -> int:
        return self.shared_requests + self.syncing_requests + self.pending_requests

    def tokens(self) -> int:
        return self.shared_tokens + self.syncing_tokens + self.pending_tokens


class KeyLimits:
    """The gateway's view of per-key controls; looked up by key hash and cached briefly, like authentication."""

    def __init__(
        self,
        store: Store,
        *,
        cache_ttl: float = 2.0,
        sync_seconds: float = 0.1,
        clock: Callable[[], float] = time.time,
        on_limited: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.cache_ttl = cache_ttl
        self.sync_seconds = sync_seconds
        self.clock = clock
        self.on_limited = on_limited
        self._cache: dict[str, tuple[KeyControls | None, float]] = {}
        self._lookups: dict[str, asyncio.Future[KeyControls | None]] = {}  # one database read per key at a time
        self._windows: dict[tuple[str, int], _Window] = {}
        self._lock = threading.Lock()
        self._syncer: threading.Thread | None = None
        self._closed = threading.Event()

    def remember(self, request: Request, key_hash: str) -> None:
        """Called by authentication: which key this request came with (`hash_key` of it, never the key)."""
        request.scope.setdefault("state", {})[_KEY_HASH] = key_hash

    async def admit(
        self, request: Request, body: Mapping[str, Any], *, model: str | None = None, stream: bool | None = None
    ) -> None:
        """Refuse an expired key (401), a model the key may not call (403) or a full window (429).

        `model` and `stream` default to the body's fields; a protocol that names them in the path (Gemini's
        `models/{model}:streamGenerateContent`) passes them.
        """
        if model is None:
            model = str(body.get("model"))
        if stream is None:
            stream = bool(body.get("stream"))
        digest = request.scope.get("state", {}).get(_KEY_HASH)
        if digest is None:
            return
        controls = await self._controls(digest)
        if controls is None:
            return
        now = self.clock()
        if controls.expires_at is not None and controls.expires_at.timestamp() <= now:
            raise GatewayError(
                401,
                f"this API key expired at {controls.expires_at.isoformat(timespec='seconds')}",
                "invalid_request_error",
                "expired_api_key",
            )
        if not controls.allows(model):
            raise ModelNotAllowed(model)
        if not controls.limited:
            return
        slot = (controls.key_id, int(now // 60))
        retry_after = max(1, 60 - int(now % 60))
        with self._lock:
            window = self._windows.setdefault(slot, _Window())
        if not window.read:  # this process's first request of the key in this minute: read the shared total
            await run_in_threadpool(self._sync, slot)
        estimate = await self._estimate(request, body) if stream else 0
        with self._lock:
            requests = window.requests() + 1
            tokens = window.tokens()
            if controls.rpm is not None and requests > controls.rpm:
                refused = f"{controls.rpm} requests"
            elif controls.tpm is not None and tokens >= controls.tpm:
                refused = f"{controls.tpm} tokens"
            else:
                refused = None
                window.pending_requests += 1
                window.pending_tokens += estimate
        if refused is not None:
            self._limited("requests" if "requests" in refused else "tokens")
            raise LimitExceeded(
                f"this API key is limited to {refused} per minute; retry in {retry_after} s", retry_after
            )
        # Tokens reported later are charged to this key (minus the estimate already charged to the window).
        request.scope["state"][_CHARGE] = controls.key_id
        request.scope["state"][_CHARGED] = estimate
        self._ensure_syncer()

    async def allows_model(self, request: Request, model: str) -> bool:
        """Whether the caller's key may call `model`: a fallback's own model is held to the key's patterns
        exactly like the model the caller asked for."""
        digest = request.scope.get("state", {}).get(_KEY_HASH)
        if digest is None:
            return True
        controls = await self._controls(digest)
        return controls is None or controls.allows(model)

    def settle(self, request: Request, data: Mapping[str, Any]) -> None:
        """After a complete (non-streamed) response: record its token counts and charge them to the window."""
        usage = data.get("usage")
        if not isinstance(usage, Mapping):
            usage = data.get("usageMetadata")  # Gemini's name for it
        if not isinstance(usage, Mapping):
            return
        self.charge(
            request,
            tokens_of(usage, "prompt_tokens", "input_tokens", "promptTokenCount"),
            tokens_of(usage, "completion_tokens", "output_tokens", "candidatesTokenCount"),
        )

    def charge(
        self, request: Request, input_tokens: int | None, output_tokens: int | None, *, at_least: int = 0
    ) -> None:
        """The token counts a provider reported: recorded in the usage event, and charged to the key's window.

        What admission already charged (a stream's estimate) is deducted, never refunded: a provider reporting
        fewer tokens than estimated leaves the estimate charged. Charging twice charges only the difference. The
        tokens count in the minute they are reported, so a stream outlasting its admission's minute still
        limits the next one. `at_least` is a floor for what was used but not reported (a stream the caller left
        before its usage came), charged but not recorded.
        """
        facts = facts_of(request.scope)
        facts.offered["input_tokens"], facts.offered["output_tokens"] = input_tokens, output_tokens
        state = request.scope.get("state", {})
        key_id = state.get(_CHARGE)
        # Each count is at most 2**31 - 1 (`tokens_of`), and Python's ints do not wrap.
        total = max((input_tokens or 0) + (output_tokens or 0), min(at_least, _INT_MAX))
        extra = total - state.get(_CHARGED, 0)
        if key_id is None or extra <= 0:
            return
        state[_CHARGED] = total
        slot = (key_id, int(self.clock() // 60))
        with self._lock:
            window = self._windows.setdefault(slot, _Window())
            window.pending_tokens = min(_INT_MAX // 2, window.pending_tokens + extra)
        self._ensure_syncer()

    def sync_now(self) -> None:
        """Add every pending count to the shared rows now (the background thread does this every sync_seconds)."""
        with self._lock:
            slots = list(self._windows)
        for slot in slots:
            self._sync(slot)

    def close(self) -> None:
        """Stop the background sync and add what is pending to the shared rows: a clean shutdown loses no count."""
        self._closed.set()
        syncer = self._syncer
        if syncer is not None:
            syncer.join(5)
        self.sync_now()

    def _sync(self, slot: tuple[str, int]) -> None:
        with self._lock:
            window = self._windows.get(slot)
            if window is None:
                return
            requests, tokens = window.pending_requests, window.pending_tokens
            window.pending_requests = window.pending_tokens = 0
            window.syncing_requests += requests
            window.syncing_tokens += tokens
        try:
            shared = add_to_window(self.store, slot[0], slot[1], requests, tokens)
        except Exception as error:
            with self._lock:  # keep the counts for the next try; the database may be back by then
                window.syncing_requests -= requests
                window.syncing_tokens -= tokens
                window.pending_requests += requests
                window.pending_tokens += tokens
            log.error("per-key counts not synced: %s", type(error).__name__)
            return
        with self._lock:
            window.syncing_requests -= requests
            window.syncing_tokens -= tokens
            # A window's shared total only grows: two syncs (the first read and the background thread) may
            # return out of order, and the older answer must not undo the newer one.
            window.shared_requests = max(window.shared_requests, shared[0])
            window.shared_tokens = max(window.shared_tokens, shared[1])
            window.read = True

    def _ensure_syncer(self) -> None:
        with self._lock:
            if self._syncer is None and not self._closed.is_set():
                self._syncer = threading.Thread(target=self._sync_loop, name="aether-key-limits", daemon=True)
                self._syncer.start()

    def _sync_loop(self) -> None:
        """Sync every interval while any window is current; stop (to be restarted by the next request) when idle."""
        while not self._closed.wait(self.sync_seconds):
            current = int(self.clock() // 60)
            with self._lock:
                for slot in [s for s in self._windows if s[1] < current - 1]:
                    del self._windows[slot]  # past minutes: their counts no longer limit anything
                slots = list(self._windows)
                if not slots:
                    self._syncer = None
                    return
            for slot in slots:
                self._sync(slot)
        with self._lock:
            self._syncer = None

    async def _controls(self, digest: str) -> KeyControls | None:
        """The key's controls, read again once `cache_ttl` has passed since the last read.

        When the cached entry expires under load, every request in flight with that key would otherwise read
        the database at once, each on its own pool thread and connection; the first starts the read and the
        others wait for its answer (which is no older than theirs would be). A caller that leaves does not
        cancel the read the others wait on.
        """
        cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[1] < self.cache_ttl:
            return cached[0]
        lookup = self._lookups.get(digest)
        if lookup is None:
            lookup = self._lookups[digest] = asyncio.ensure_future(self._read_controls(digest))
        return await asyncio.shield(lookup)

    async def _read_controls(self, digest: str) -> KeyControls | None:
        try:
            controls = await run_in_threadpool(controls_for_hash, self.store, digest)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (controls, time.monotonic())
            return controls
        finally:
            del self._lookups[digest]

    @staticmethod
    async def _estimate(request: Request, body: Mapping[str, Any]) -> int:
        """A streamed request's tokens before they are known: about 4 bytes a token, plus what it may generate."""
        size = len(await request.body())
        config = body.get("generationConfig")  # Gemini's place for it
        most = (
            body.get("max_tokens")
            or body.get("max_completion_tokens")
            or body.get("max_output_tokens")
            or (config.get("maxOutputTokens") if isinstance(config, Mapping) else None)
            or 0
        )
        generated = most if isinstance(most, int) and not isinstance(most, bool) and most > 0 else 0
        return min(_INT_MAX // 4, size // 4 + generated)

    def _limited(self, limit: str) -> None:
        if self.on_limited is not None:
            self.on_limited(limit)


def tokens_of(usage: Mapping[str, Any], *names: str) -> int | None:
    """The first of `names` that is a count a provider could mean; a hostile one (negative, a float, a string,
    past 2**31) is no count at all, so it can neither wrap a window around nor overflow a usage column."""
    for name in names:
        value = usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT_MAX:
            return value
    return None


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """`30 days` / `12h` from now, or an ISO-8601 date or time (UTC when no zone is given)."""
    from aether_policy.durations import Duration

    moment = now or datetime.now(UTC)
    try:
        return Duration.parse(text).after(moment)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is neither a duration (30 days, 12h) nor an ISO-8601 date or time (2027-01-31)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
