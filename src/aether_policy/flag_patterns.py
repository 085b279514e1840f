"""The policy's flag patterns, compiled with RE2: matching time is linear in the text, whatever the pattern.

Python's `re` backtracks, so a pattern such as `(a+)+$` takes seconds on a 26-character prompt, and the
gateway scans every authenticated prompt with the policy's patterns. RE2 cannot backtrack; the price is that
it has no backreferences (`\\1`) and no lookarounds (`(?=`, `(?!`, `(?<=`, `(?<!`). A pattern RE2 cannot
compile is refused when the policy is validated (`validate`, `check`), not at the first request, which is why
RE2 is a core dependency rather than part of the `gateway` extra.
"""

from __future__ import annotations

import re2

FIX = (
    "policy patterns run on RE2 (linear time), which has no backreferences (\\1) or lookarounds "
    "((?=, (?!, (?<=, (?<!); rewrite the pattern without them"
)


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
        raise ValueError(f"not a pattern RE2 can run ({reason[:120] or 'invalid'}): {FIX}") from None
    return pattern


def union(patterns: dict[str, str]) -> re2._Regexp[str]:
    """One alternation with a named group per pattern: one linear scan of the text, whatever the count."""
    return re2.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in patterns.items()), OPTIONS)
