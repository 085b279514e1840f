"""Per-key controls on the request path: expiry, allowed models, requests and tokens per minute.

Counting is a fixed one-minute window per key in the database (`rate_windows`), moved by one atomic UPSERT
per request, so replicas sharing one PostgreSQL database share one count. Tolerances, documented in the
README: requests per minute are exact within a window, but a burst straddling a window boundary can pass up
to twice the limit in 60 seconds (the price of fixed windows); tokens are charged when the provider reports
them, so requests already in flight when the window fills can overshoot it by their own tokens. A streamed
response is charged an estimate when it is admitted (a quarter of the body's bytes plus its `max_tokens`),
since its usage arrives only at its end. Keys without rpm or tpm pay no database write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from aether_policy.gateway.errors import GatewayError
from aether_policy.middleware import facts_of
from aether_policy.store.key_controls import KeyControls, controls_for_hash, count_request, count_tokens
from aether_policy.store.store import Store, hash_key

log = logging.getLogger("aether_policy.gateway")
_KEY_HASH = "aether_key_hash"
_CHARGE = "aether_key_charge"
_INT_MAX = 2**31 - 1


class LimitExceeded(GatewayError):
    """429 in the caller's protocol, with the seconds until the window turns in `Retry-After`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, message, "rate_limit_error", "rate_limit_exceeded")
        self.retry_after = retry_after

    def response(self, flavour: str) -> JSONResponse:
        response = super().response(flavour)
        response.headers["retry-after"] = str(self.retry_after)
        return response


class ModelNotAllowed(GatewayError):
    """403: the key may not call this model (Anthropic calls it a permission_error)."""

    def __init__(self, model: str) -> None:
        super().__init__(
            403, f"this API key may not call model '{model[:200]}'", "permission_error", "model_not_allowed"
        )

    def response(self, flavour: str) -> JSONResponse:
        if flavour == "anthropic":
            body = {"type": "error", "error": {"type": "permission_error", "message": self.message}}
            return JSONResponse(body, status_code=403)
        return super().response(flavour)


class KeyLimits:
    """The gateway's view of per-key controls; looked up by key hash and cached briefly, like authentication."""

    def __init__(
        self,
        store: Store,
        *,
        cache_ttl: float = 2.0,
        clock: Callable[[], float] = time.time,
        on_limited: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.cache_ttl = cache_ttl
        self.clock = clock
        self.on_limited = on_limited
        self._cache: dict[str, tuple[KeyControls | None, float]] = {}

    def remember(self, request: Request, key: str) -> None:
        """Called by authentication: which key this request came with (its hash, never the key)."""
        request.scope.setdefault("state", {})[_KEY_HASH] = hash_key(key)

    async def admit(self, request: Request, body: Mapping[str, Any]) -> None:
        """Refuse an expired key (401), a model the key may not call (403) or a full window (429)."""
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
        if not controls.allows(str(body.get("model"))):
            raise ModelNotAllowed(str(body.get("model")))
        if not controls.limited:
            return
        window = int(now // 60)
        retry_after = max(1, 60 - int(now % 60))
        estimate = await self._estimate(request, body) if body.get("stream") else 0
        requests, tokens = await run_in_threadpool(count_request, self.store, controls.key_id, window, estimate)
        if controls.rpm is not None and requests > controls.rpm:
            self._limited("requests")
            raise LimitExceeded(
                f"this API key is limited to {controls.rpm} requests per minute; retry in {retry_after} s",
                retry_after,
            )
        if controls.tpm is not None and tokens - estimate >= controls.tpm:
            self._limited("tokens")
            raise LimitExceeded(
                f"this API key is limited to {controls.tpm} tokens per minute; retry in {retry_after} s",
                retry_after,
            )
        if not body.get("stream"):
            request.scope["state"][_CHARGE] = (controls.key_id, window)

    def settle(self, request: Request, data: Mapping[str, Any]) -> None:
        """After a complete (non-streamed) response: record its token counts and charge them to the window."""
        usage = data.get("usage")
        if not isinstance(usage, Mapping):
            return
        counts = [_tokens(usage, "prompt_tokens", "input_tokens"), _tokens(usage, "completion_tokens", "output_tokens")]
        facts = facts_of(request.scope)
        facts.offered["input_tokens"], facts.offered["output_tokens"] = counts
        charge = request.scope.get("state", {}).get(_CHARGE)
        total = sum(c for c in counts if c is not None)
        if charge is None or not total:
            return
        key_id, window = charge
        # Off the request path: the client has its answer; a failed charge is logged, never raised.
        future = asyncio.get_running_loop().run_in_executor(None, count_tokens, self.store, key_id, window, total)
        future.add_done_callback(_log_failure)

    async def _controls(self, digest: str) -> KeyControls | None:
        cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[1] < self.cache_ttl:
            return cached[0]
        controls = await run_in_threadpool(controls_for_hash, self.store, digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (controls, time.monotonic())
        return controls

    @staticmethod
    async def _estimate(request: Request, body: Mapping[str, Any]) -> int:
        """A streamed request's tokens before they are known: about 4 bytes a token, plus what it may generate."""
        size = len(await request.body())
        most = body.get("max_tokens") or body.get("max_completion_tokens") or 0
        generated = most if isinstance(most, int) and not isinstance(most, bool) and most > 0 else 0
        return min(_INT_MAX // 2, size // 4 + generated)

    def _limited(self, limit: str) -> None:
        if self.on_limited is not None:
            self.on_limited(limit)


def _tokens(usage: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT_MAX:
            return value
    return None


def _log_failure(future: asyncio.Future[Any]) -> None:
    error = future.exception()
    if error is not None:
        log.error("tokens not charged to the key's window: %s", type(error).__name__)


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
