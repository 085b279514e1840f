"""Every error this library raises on purpose; the CLI turns them into exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class PolicyError(ValueError):
    """Base class: something about a policy, its inputs or its enforcement is wrong."""


@dataclass(frozen=True)
class Problem:
    """One located finding in a policy file: where it is, what is wrong, and what to do."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyLoadError(PolicyError):
    """The policy file cannot be read, parsed or validated; carries every located problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ProseError(PolicyError):
    """A `{{ }}` reference in a section's prose does not resolve."""


class EgressDenied(PolicyError):
    """An upstream request would send data somewhere the policy does not declare."""


class ConfigError(PolicyError):
    """The gateway configuration is invalid or disagrees with the policy."""


class StorageError(PolicyError):
    """The database URL or the stored data cannot be used."""


class EncryptionKeyError(PolicyError):
    """The encryption key for quarantined content is missing or malformed."""
