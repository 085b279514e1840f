"""Abuse flagging: decides whether a request's content may be kept for review.

Detectors are pluggable. The built-in ones are the policy's patterns and the upstream provider's own
moderation verdict; account marks come from the store. A detector that raises fails *closed* for storage
(nothing is kept for that request) and *open* for the request (it is still served), and is counted.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from aether_policy import flag_patterns
from aether_policy.gateway import protocols
from aether_policy.plan.compiled import Plan
from aether_policy.plan.gate import NOT_FLAGGED, Verdict

log = logging.getLogger("aether_policy.flagger")


class Detector(Protocol):
    name: str

    def inspect(self, request_text: str, response_body: bytes) -> str | None:
        """A reason to flag, or None."""


class PatternDetector:
    """The policy's named patterns, matched case-insensitively against the request's text."""

    name = "pattern"

    def __init__(self, patterns: dict[str, str]) -> None:
        # RE2, never `re`: the patterns are the operator's, the text is the caller's, and a backtracking
        # engine lets one prompt stall the event loop. Each pattern was checked when the policy loaded.
        self._patterns = flag_patterns.FlagPatterns(patterns)

    def inspect(self, request_text: str, response_body: bytes) -> str | None:
        name = self._patterns.first_match(request_text)
        return f"pattern:{name}" if name else None


class UpstreamModerationDetector:
    """The provider's own verdict, as each registered protocol signals it (OpenAI `finish_reason:
    content_filter`, Anthropic `stop_reason: refusal`), found in the response body as the client got it."""

    name = "upstream_moderation"
    _SIGNAL = re.compile(
        "|".join(
            rf'"{re.escape(key)}"\s*:\s*"(?P<v{i}>{re.escape(value)})"'
            for i, (key, value) in enumerate(
                signal for protocol in protocols.PROTOCOLS.values() for signal in protocol.moderation_signals
            )
        ).encode()
    )

    def inspect(self, request_text: str, response_body: bytes) -> str | None:
        match = self._SIGNAL.search(response_body)
        return f"upstream_moderation:{match[match.lastindex or 0].decode()}" if match else None


class Flagger:
    def __init__(self, detectors: Sequence[Detector], is_marked: Callable[[str], bool] | None = None) -> None:
        self.detectors = tuple(detectors)
        self._is_marked = is_marked
        self.failures: Counter[str] = Counter()

    def judge(self, request_text: str, response_body: bytes, account_id: str | None) -> Verdict:
        reasons: list[str] = []
        failed = False
        for detector in self.detectors:
            try:
                reason = detector.inspect(request_text, response_body)
            except Exception as error:  # a broken detector must not break serving
                self.failures[detector.name] += 1
                log.warning(
                    "detector %s failed (%s); nothing is stored for this request", detector.name, type(error).__name__
                )
                failed = True
                continue
            if reason:
                reasons.append(reason)
        marked = False
        if account_id is not None and self._is_marked is not None:
            try:
                marked = self._is_marked(account_id)
            except Exception as error:
                self.failures["account_marks"] += 1
                log.warning("account mark lookup failed (%s); nothing is stored", type(error).__name__)
                failed = True
        if marked:
            return Verdict("account_marked", ("account_marked", *reasons), failed)
        if reasons:
            return Verdict("flagged", tuple(reasons), failed)
        return Verdict(None, (), True) if failed else NOT_FLAGGED


def flagger_for(plan: Plan, is_marked: Callable[[str], bool] | None = None) -> Flagger:
    """The detectors the policy enables; marks count only if the policy keeps marked accounts' content."""
    detectors: list[Detector] = []
    if "pattern" in plan.detectors and plan.patterns:
        detectors.append(PatternDetector(dict(plan.patterns)))
    if "upstream_moderation" in plan.detectors:
        detectors.append(UpstreamModerationDetector())
    return Flagger(detectors, is_marked if "account_marked" in plan.storage_windows else None)
