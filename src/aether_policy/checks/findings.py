"""A finding: one check's verdict on one place, located at file:line so CI can annotate it."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal, ParamSpec

Severity = Literal["error", "warning"]

CHECKS = {
    "schema": "The policy is valid: schema, references, prose",
    "site-freshness": "The published site equals a fresh build",
    "gateway-conformance": "The gateway shares data only as the policy declares",
    "promise-coverage": "Every promise has its enforcement: retention jobs, prompt gate, declared storage",
    "rights": "Every right the policy grants has a command that answers it or a channel to ask at",
    "change-control": "Rule changes move last_updated and are logged",
}


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    file: str
    line: int
    column: int
    message: str
    internal: bool = False
    """aether-policy itself failed here (a bug): the check could not judge, and `check` exits 2."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "internal": self.internal,
        }

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: [{self.check}] {self.message}"


def internal_finding(check: str, file: str, error: BaseException) -> Finding:
    """A check that crashed, as a finding: CI still gets a valid report that says what broke and where."""
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return Finding(
        check,
        "error",
        file,
        1,
        1,
        f"internal error in aether-policy ({type(error).__name__}{where}: {error}); the check could not run, "
        "please report this",
        internal=True,
    )


P = ParamSpec("P")


def guarded(check: str) -> Callable[[Callable[P, list[Finding]]], Callable[P, list[Finding]]]:
    """Run a check so that a bug in it becomes one internal finding instead of a traceback and no report.

    The check's first argument is the loaded policy, whose file the finding points at.
    """

    def decorate(run: Callable[P, list[Finding]]) -> Callable[P, list[Finding]]:
        @wraps(run)
        def safely(*args: P.args, **kwargs: P.kwargs) -> list[Finding]:
            try:
                return run(*args, **kwargs)
            except Exception as error:  # any bug must still yield a valid report
                file = getattr(args[0], "file", "<policy>") if args else "<policy>"
                return [internal_finding(check, str(file), error)]

        return safely

    return decorate
