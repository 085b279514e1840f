"""The policy's flag patterns, compiled with RE2: matching time is linear in the text, whatever the pattern.

Python's `re` backtracks, so a pattern such as `(a+)+$` takes seconds on a 26-character prompt, and the
gateway scans every authenticated prompt with the policy's patterns. RE2 cannot backtrack; the price is that
it has no backreferences (`\\1`) and no lookarounds (`(?=`, `(?!`, `(?<=`, `(?<!`). A pattern RE2 cannot
compile is refused when the policy is validated (`validate`, `check`), not at the first request, which is why
RE2 is a core dependency rather than part of the `gateway` extra.

RE2's Perl classes `\\d`, `\\w`, `\\s` (and their negations) are ASCII-only, where `re` on text is Unicode-aware:
a card number in fullwidth or Arabic-Indic digits would slip past `\\d{4}`. `unicode_classes` rewrites them into
RE2's Unicode classes before compiling, so a pattern means what it meant under `re`. `\\b` has no Unicode form in
RE2 and stays ASCII: `\\bпароль\\b` never matches; write such word edges with `\\pL` (letters).
"""

from __future__ import annotations

import re2

FIX = (
    "policy patterns run on RE2 (linear time), which has no backreferences (\\1) or lookarounds "
    "((?=, (?!, (?<=, (?<!); rewrite the pattern without them"
)
FIX_SIZE = "RE2 bounds a pattern's size (at most 1000 repetitions of anything); use fewer or shorter repetitions"


# Each Perl class as `re` means it on text, for use outside a character class and inside one. A negated class
# has no form inside a class (a class cannot hold a negated class), so there it stays as RE2 reads it.
_UNICODE_CLASSES = {
    "d": ("\\p{Nd}", "\\p{Nd}"),
    "D": ("\\P{Nd}", None),
    "w": ("[\\p{L}\\p{N}\\p{Mn}_]", "\\p{L}\\p{N}\\p{Mn}_"),
    "W": ("[^\\p{L}\\p{N}\\p{Mn}_]", None),
    "s": ("[\\s\\p{Z}\\x{85}]", "\\s\\p{Z}\\x{85}"),
    "S": ("[^\\s\\p{Z}\\x{85}]", None),
}


def unicode_classes(pattern: str) -> str:
    """`pattern` with `\\d \\w \\s \\D \\W \\S` as Unicode classes; every other character and escape as written.

    Walks the pattern once, knowing whether it is inside a character class (`[...]`, where `]` first is a
    literal and `[:alpha:]` is a POSIX class) so that an escaped backslash (`\\\\d`) stays a backslash and a `d`.
    """
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            escaped = pattern[i + 1]
            forms = _UNICODE_CLASSES.get(escaped)
            form = None if forms is None else forms[1] if in_class else forms[0]
            out.append(form if form is not None else pattern[i : i + 2])
            i += 2
            continue
        if in_class and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            if end >= 0:
                out.append(pattern[i : end + 2])
                i = end + 2
                continue
        if not in_class and char == "[":
            in_class = True
            out.append(char)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):  # a `]` first in a class is a literal
                out.append("]")
                i += 1
            continue
        if in_class and char == "]":
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False  # patterns are documented as case-insensitive
    options.log_errors = False  # a refused pattern is reported once, located, not also on stderr
    return options


OPTIONS = _options()


def check_pattern(pattern: str) -> str:
    """The pattern itself if RE2 compiles it; else a ValueError saying why and what to do."""
    try:
        re2.compile(unicode_classes(pattern), OPTIONS)
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
            joined = "|".join(f"(?P<{name}>{unicode_classes(pattern)})" for name, pattern in patterns.items())
            self._union: re2._Regexp[str] | None = re2.compile(joined, OPTIONS)
        except re2.error:
            self._union = None
            self._each = tuple(
                (name, re2.compile(unicode_classes(pattern), OPTIONS)) for name, pattern in patterns.items()
            )

    def first_match(self, text: str) -> str | None:
        """The name of a pattern that matches `text`, or None."""
        if self._union is not None:
            match = self._union.search(text)
            # The group's name (the stubs type `lastgroup` as an int; RE2's wrapper returns the name).
            return str(match.lastgroup) if match and match.lastgroup is not None else None
        return next((name for name, regex in self._each if regex.search(text)), None)
