"""YAML loading that remembers where every key and value came from.

PyYAML's `compose` keeps marks on nodes; we build plain Python values from the nodes ourselves so we
can record a (line, column) for each key path and refuse duplicate keys, which PyYAML would silently
let the last one win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class Located:
    """A YAML document as Python values, with the position of each key path (1-based line and column)."""

    value: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    block_scalars: set[Path] = field(default_factory=set)

    def position(self, path: Path) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that exists in the file."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found:
                return found
        return (1, 1)


class DuplicateKeyError(Exception):
    def __init__(self, key: str, line: int, column: int, first_line: int) -> None:
        self.key, self.line, self.column, self.first_line = key, line, column, first_line
        super().__init__(key)


def load_located(text: str) -> Located:
    """Parse one YAML document; raises yaml.YAMLError or DuplicateKeyError."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        located = Located(None)
        if node is not None:
            located.positions[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
            located.value = _build(loader, node, (), located)
        return located
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, located: Located) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            here = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            child = (*path, key if isinstance(key, (str, int)) else str(key))
            if key in result:
                first = located.positions[child][0]
                raise DuplicateKeyError(str(key), here[0], here[1], first)
            located.positions[child] = here
            result[key] = _build(loader, value_node, child, located)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            child = (*path, i)
            located.positions[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_build(loader, item, child, located))
        return items
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        located.block_scalars.add(path)
    return loader.construct_object(node, deep=True)
