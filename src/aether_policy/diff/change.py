"""One change between two policies, and the helpers every rule family uses: what joined or left a collection,
and a named family of rules compared rule by rule."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

Path = tuple[str | int, ...]
Kind = Literal["rule", "prose"]
Item = TypeVar("Item")


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


def rule_family(
    name: str,
    before: Mapping[str, Item],
    after: Mapping[str, Item],
    added: Callable[[str], str],
    removed: Callable[[str], str],
    compare: Callable[[str, Item, Item], Iterable[Change]],
    *,
    adding_is_material: bool = True,
) -> Iterator[Change]:
    """A top-level family of named rules (`purposes`, `categories`, …): the rules that joined or left it, each at
    `(name, rule)`, then every rule in both policies handed to `compare` with its old and new form."""
    yield from membership(before, after, lambda n: (name, n), added, removed, adding_is_material=adding_is_material)
    for rule in (n for n in after if n in before):
        yield from compare(rule, before[rule], after[rule])


def words(identifier: str) -> str:
    """`required_by_law` -> `required by law`, for descriptions a reader of the change log understands."""
    return identifier.replace("_", " ")
