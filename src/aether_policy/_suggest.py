"""'Did you mean' hints, shared by the loader and the reference checks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choice, or listing them all when none is close."""
    options = sorted(choices)
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if not options:
        return "none are declared"
    return "expected one of: " + ", ".join(f"'{o}'" for o in options)
