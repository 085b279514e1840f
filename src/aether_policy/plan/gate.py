"""The prompt gate: the one path by which request or response content can reach storage.

Unflagged content gets no record at all. Flagged content (by a detector, or from a marked account) gets
one encrypted `QuarantineRecord` whose expiry is fixed at creation from the policy's window. Stores accept
only records this gate made, so no other code path can put content into a table.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from aether_policy.durations import Duration

if TYPE_CHECKING:  # cryptography is part of the gateway extra; compiling a plan does not need it
    from aether_policy.crypto import Cipher

Trigger = Literal["flagged", "account_marked"]
_MINTED_BY_GATE = object()


@dataclass(frozen=True, slots=True)
class QuarantineInfo:
    """What a reviewer sees of a kept item before decrypting it."""

    id: str
    account_id: str | None
    trigger: str
    reasons: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class QuarantineRecord(QuarantineInfo):
    """A kept item with its sealed content; only the gate can make one."""

    sealed: bytes
    _mint: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._mint is not _MINTED_BY_GATE:
            raise TypeError("QuarantineRecord is created only by PromptGate.admit")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the flagger concluded about one request."""

    trigger: Trigger | None = None
    reasons: tuple[str, ...] = ()
    detector_failed: bool = False

    @property
    def storable(self) -> bool:
        return self.trigger is not None and not self.detector_failed


NOT_FLAGGED = Verdict()


class PromptGate:
    def __init__(self, windows: Mapping[str, Duration], cipher: Cipher | None) -> None:
        self._windows = dict(windows)
        self._cipher = cipher

    @property
    def windows(self) -> Mapping[str, Duration]:
        return self._windows

    def admit(
        self,
        verdict: Verdict,
        *,
        account_id: str | None,
        request: str,
        response: str,
        now: datetime,
    ) -> QuarantineRecord | None:
        """A sealed record for flagged content the policy lets us keep; None for everything else."""
        if not verdict.storable or verdict.trigger not in self._windows or self._cipher is None:
            return None
        record_id = uuid.uuid4().hex
        plaintext = json.dumps({"request": request, "response": response}, ensure_ascii=False).encode("utf-8")
        return QuarantineRecord(
            id=record_id,
            account_id=account_id,
            trigger=verdict.trigger,
            reasons=",".join(verdict.reasons),
            created_at=now,
            expires_at=self._windows[verdict.trigger].after(now),
            sealed=self._cipher.encrypt(plaintext, record_id.encode()),
            _mint=_MINTED_BY_GATE,
        )


def unseal(cipher: Cipher, record_id: str, sealed: bytes) -> dict[str, str]:
    """The kept request and response, for a reviewer."""
    data: dict[str, str] = json.loads(cipher.decrypt(sealed, record_id.encode()))
    return data
