"""The policy's flag patterns, compiled with RE2: matching time is linear in the text, whatever the pattern.

Python's `re` backtracks, so a pattern such as `(a+)+$` takes seconds on a 26-character prompt, and the
gateway scans every authenticated prompt with the policy's patterns. RE2 cannot backtrack; the price is that
it has no backreferences (`\\1`) and no lookarounds (`(?=`, `(?!`, `(?<=`, `(?<!`). A pattern RE2 cannot
compile is refused when the policy is validated (`validate`, `check`), not at the first request, which is why
RE2 is a core dependency rather than part of the `gateway` extra.

One difference matches silently rather than failing: RE2's `\\b`, `\\w`, `\\d` and `\\s` are ASCII-only, where `re`
on text is Unicode-aware, so `\\bпароль\\b` never matches. Unicode text needs `\\pL` (letters), `\\pN` (digits).
"""

from __future__ import annotations

import re2

FIX = (
    "policy patterns run on RE2 (linear time), which has no backreferences (\\1) or lookarounds "
    "((?=, (?!, (?<=, (?<!); rewrite the pattern without them"
)
FIX_SIZE = "RE2 bounds a pattern's size (at most 1000 repetitions of anything); use fewer or shorter repetitions"


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False  # patterns are documented as case-insensitive
    options.log_errors = False  # a refused pattern is reported once, located, not also on stderr
    return options


OPTIONS = _options()


def check_pattern(pattern: str) -> str:
    """The pattern itself if RE2 compiles it; else a ValueError saying why and what to do."""
    try:
        re2.compile(pattern, OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) else ""
        fix = FIX_SIZE if "too large" in reason or "repetition size" in reason else FIX
        raise ValueError(f"not a pattern RE2 can run ({reason[:120] or 'invalid'}): {fix}") from None
    return pattern


class FlagPatterns:
    """The policy's patterns, compiled: one alternation with a named group per pattern (one linear scan of the
    text, whatever the count) when RE2 can hold it, else one regex per pattern. Each pattern compiles alone
    (`check_pattern`), but RE2 bounds a program's size, and large patterns that each fit may not fit together:
    a policy `validate` accepts must not stop `serve` from starting."""

    def __init__(self, patterns: dict[str, str]) -> None:
        self._each: tuple[tuple[str, re2._Regexp[str]], ...] = ()
        try:
            joined = "|".join(f"(?P<{name}>{pattern})" for name, pattern in patterns.items())
            self._union: re2._Regexp[str] | None = re2.compile(joined, OPTIONS)
        except re2.error:
            self._union = None
            self._each = tuple((name, re2.compile(pattern, OPTIONS)) for name, pattern in patterns.items())

    def first_match(self, text: str) -> str | None:
        """The name of a pattern that matches `text`, or None."""
        if self._union is not None:
            match = self._union.search(text)
            # The group's name (the stubs type `lastgroup` as an int; RE2's wrapper returns the name).
            return str(match.lastgroup) if match and match.lastgroup is not None else None
        return next((name for name, regex in self._each if regex.search(text)), None)
