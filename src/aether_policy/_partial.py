"""The parts of an invalid policy that do validate, so reference checks can still run over them.

An author who breaks one rule should see every other problem of the file in the same run, not only after
fixing the first. Each top-level key is validated alone, and each entry of a named collection (`purposes`,
`categories`, `recipients`, `retention`, `cookies`) alone, keeping what passes.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from aether_policy.model import Policy


@dataclass
class PartialPolicy:
    policy: Policy
    """Built without validation from the parts that validated; only the `present` keys may be read."""
    present: set[str] = field(default_factory=set)
    broken: dict[str, set[str]] = field(default_factory=dict)
    """Per top-level key: the entries left out because they did not validate (empty for a whole key)."""


def partial_policy(raw: dict[Any, Any]) -> PartialPolicy:
    values: dict[str, Any] = {}
    present: set[str] = set()
    broken: dict[str, set[str]] = {}
    for name, info in Policy.model_fields.items():
        if name not in raw:
            if not info.is_required():
                values[name] = info.get_default(call_default_factory=True)
                present.add(name)
            continue
        annotation: Any = info.annotation
        if typing.get_origin(annotation) is dict and isinstance(raw[name], dict):
            kept, dropped = _entries(annotation, raw[name])
            values[name] = kept
            present.add(name)
            if dropped:
                broken[name] = dropped
            continue
        try:
            values[name] = TypeAdapter[Any](annotation).validate_python(raw[name])
        except ValidationError:
            broken[name] = set()
            continue
        present.add(name)
    construct: Any = Policy.model_construct  # deliberately without every required key
    return PartialPolicy(construct(**values), present, broken)


def _entries(annotation: Any, raw: dict[Any, Any]) -> tuple[dict[Any, Any], set[str]]:
    adapter: TypeAdapter[dict[Any, Any]] = TypeAdapter(annotation)
    kept: dict[Any, Any] = {}
    dropped: set[str] = set()
    for key, value in raw.items():
        try:
            kept.update(adapter.validate_python({key: value}))
        except ValidationError:
            dropped.add(str(key))
    return kept, dropped
