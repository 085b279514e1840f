"""A finding: one check's verdict on one place, located at file:line so CI can annotate it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

CHECKS = {
    "schema": "The policy is valid: schema, references, prose",
    "site-freshness": "The published site equals a fresh build",
    "gateway-conformance": "The gateway shares data only as the policy declares",
    "promise-coverage": "Every promise has its enforcement: retention jobs, prompt gate, declared storage",
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: [{self.check}] {self.message}"
