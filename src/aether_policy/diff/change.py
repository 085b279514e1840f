"""One change between two policies, and the helper every rule family uses for what joined or left a collection."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

Path = tuple[str | int, ...]
Kind = Literal["rule", "prose"]


@dataclass(frozen=True)
class Change:
    """What changed, where in the new policy to point at, and whether it lets us collect, share or keep more.

    `kind` is `prose` for wording only (section text, notices, titles, descriptions): it never changes what
    happens to anyone's data, so it is never material.
    """

    path: Path
    description: str
    material: bool
    kind: Kind = "rule"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": ".".join(str(p) for p in self.path),
            "description": self.description,
            "material": self.material,
            "kind": self.kind,
        }


def membership(
    before: Iterable[str],
    after: Iterable[str],
    where: Callable[[str], Path],
    added: Callable[[str], str],
    removed: Callable[[str], str],
    *,
    adding_is_material: bool = True,
    removing_is_material: bool = False,
) -> Iterator[Change]:
    """Changes for items that joined or left a collection (dict keys keep their order, the rest sorted)."""
    before_list, after_list = list(before), list(after)
    before_set, after_set = set(before_list), set(after_list)
    for item in after_list:
        if item not in before_set:
            yield Change(where(item), added(item), adding_is_material)
    for item in before_list:
        if item not in after_set:
            yield Change(where(item), removed(item), removing_is_material)


def words(identifier: str) -> str:
    """`required_by_law` -> `required by law`, for descriptions a reader of the change log understands."""
    return identifier.replace("_", " ")
