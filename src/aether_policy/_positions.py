"""YAML loading that remembers where every key and value came from, and cannot be made to explode.

PyYAML's `compose` keeps marks on nodes; we build plain Python values from the nodes ourselves so we
can record a (line, column) for each key path and refuse duplicate keys, which PyYAML would silently
let the last one win.

Building the values ourselves is also where a hostile file is stopped. PyYAML's composer recurses once per
nesting level (5,000 nested `[` end in RecursionError), and it shares one node for every use of an alias, so a
few lines of "billion laughs" aliases expand into billions of values when constructed. Here nesting is capped
while composing, and every value built (aliases and merge keys expanded) is counted against a budget, so the
work done is bounded by the limits below whatever the file says. Errors from constructing a scalar (an
impossible date, a 10,000-digit number) and keys that are lists or mappings are located errors, not tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]
_Mark = Any  # yaml.error.Mark; the stubs also allow the C parser's, which we do not use

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists, aliases included; the shipped policy nests 7 deep."""

MAX_VALUES = 100_000
"""Most keys, values and list items a document may build once aliases and merge keys are expanded."""

MAX_TEXT = 4 * 1024 * 1024
"""Most characters of text a document may build once aliases are expanded (200 kB used 2,000 times is 400 MB)."""

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"
_KINDS = {
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:int": "a whole number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:binary": "base64 data",
    "tag:yaml.org,2002:bool": "true or false",
}


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


class YamlContentError(Exception):
    """The YAML is well-formed but cannot become a policy value here: located, with what to do."""

    def __init__(self, mark: _Mark | None, message: str) -> None:
        self.line, self.column = _at(mark) if mark else (1, 1)
        self.message = message
        super().__init__(message)


def _at(mark: _Mark) -> tuple[int, int]:
    return (int(mark.line) + 1, int(mark.column) + 1)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting and remembers where each alias was used.

    PyYAML returns the anchored node for an alias and forgets the alias' own mark; we keep it, keyed by the
    parent node and the child's index (a list position, or the key node for a mapping value), so errors about
    an alias point at the alias rather than at the anchor it names.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.alias_marks: dict[tuple[int, int], _Mark] = {}

    def _next_event(self) -> yaml.Event:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        return event

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self._next_event()
            if parent is not None and index is not None:
                self.alias_marks[(id(parent), index if isinstance(index, int) else id(index))] = event.start_mark
            return super().compose_node(parent, index)
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise YamlContentError(
                    self._next_event().start_mark,
                    f"nested more than {MAX_DEPTH} levels deep; a policy needs far fewer, flatten this structure",
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_located(text: str) -> Located:
    """Parse one YAML document; raises yaml.YAMLError, DuplicateKeyError or YamlContentError."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        located = Located(None)
        if node is not None:
            located.positions[()] = _at(node.start_mark)
            located.value = _Builder(loader, located).build(node, ())
        return located
    finally:
        loader.dispose()


@dataclass
class _Pair:
    key: Any
    key_node: yaml.Node
    value_node: yaml.Node
    owner: yaml.MappingNode
    via: _Mark | None = None
    """For a merged pair: the `<<` that brought it in, where a problem with its value is reported."""


class _Builder:
    """Builds Python values from nodes, counting every value against MAX_VALUES."""

    def __init__(self, loader: _BoundedLoader, located: Located) -> None:
        self.loader, self.located = loader, located
        self.built = 0
        self.text = 0
        self.open: set[int] = set()  # collection nodes on the current path: an alias to one is a cycle
        self.aliases: list[_Mark] = []  # aliases used along the current path, outermost first
        self.merging: set[int] = set()

    def _count(self, mark: _Mark, text: int = 0) -> None:
        self.built += 1
        self.text += text
        if self.text > MAX_TEXT:
            raise YamlContentError(
                self.aliases[0] if self.aliases else mark,
                f"this document expands to more than {MAX_TEXT // 1024 // 1024} MiB of text"
                + (
                    " through aliases (`*name`) or merges (`<<`); repeat less, or write the values out"
                    if self.aliases
                    else ""
                ),
            )
        if self.built > MAX_VALUES:
            # Point at the outermost alias on the way here: that is the one that multiplies the document.
            where = self.aliases[0] if self.aliases else mark
            raise YamlContentError(
                where,
                f"this document expands to more than {MAX_VALUES:,} values"
                + (
                    " through aliases (`*name`) or merges (`<<`); repeat less, or write the values out"
                    if self.aliases
                    else ""
                ),
            )

    def _alias_mark(self, parent: yaml.Node, index: int) -> _Mark | None:
        return self.loader.alias_marks.get((id(parent), index))

    def build(self, node: yaml.Node, path: Path, alias: _Mark | None = None) -> Any:
        if alias is not None:
            self.aliases.append(alias)
        try:
            return self._build(node, path, alias)
        finally:
            if alias is not None:
                self.aliases.pop()

    def _build(self, node: yaml.Node, path: Path, alias: _Mark | None) -> Any:
        self._count(node.start_mark, len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        if isinstance(node, yaml.ScalarNode):
            if node.style in ("|", ">"):
                self.located.block_scalars.add(path)
            return self._scalar(node)
        if id(node) in self.open:
            raise YamlContentError(alias or node.start_mark, "this alias refers to a value that contains it; remove it")
        if len(path) >= MAX_DEPTH:
            raise YamlContentError(
                alias or node.start_mark,
                f"nested more than {MAX_DEPTH} levels deep (aliases included); flatten this structure",
            )
        if node.tag not in (_MAP_TAG, _SEQ_TAG):
            raise YamlContentError(node.start_mark, f"the tag `{node.tag}` is not used in a policy file; remove it")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            assert isinstance(node, yaml.MappingNode)
            return self._mapping(node, path)
        finally:
            self.open.discard(id(node))

    def _sequence(self, node: yaml.SequenceNode, path: Path) -> list[Any]:
        items = []
        for i, item in enumerate(node.value):
            child = (*path, i)
            alias = self._alias_mark(node, i)
            self.located.positions[child] = _at(alias or item.start_mark)
            items.append(self.build(item, child, alias))
        return items

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        explicit, merged = self._pairs(node)
        for pair in explicit:
            child = (*path, pair.key if isinstance(pair.key, (str, int)) else str(pair.key))
            here = _at(pair.key_node.start_mark)
            if pair.key in result:
                raise DuplicateKeyError(str(pair.key), here[0], here[1], self.located.positions[child][0])
            self.located.positions[child] = here
            result[pair.key] = self._value(pair, child)
        for pair in merged:  # `<<` merge keys: the mapping's own keys win, then earlier merged mappings
            if pair.key in result:
                continue
            child = (*path, pair.key if isinstance(pair.key, (str, int)) else str(pair.key))
            self.located.positions[child] = _at(pair.key_node.start_mark)
            result[pair.key] = self._value(pair, child)
        return result

    def _value(self, pair: _Pair, child: Path) -> Any:
        return self.build(pair.value_node, child, pair.via or self._alias_mark(pair.owner, id(pair.key_node)))

    def _pairs(self, node: yaml.MappingNode) -> tuple[list[_Pair], list[_Pair]]:
        """The mapping's own pairs, and those it merges with `<<` in precedence order (not deduplicated)."""
        explicit: list[_Pair] = []
        merged: list[_Pair] = []
        for key_node, value_node in node.value:
            self._count(key_node.start_mark, len(key_node.value) if isinstance(key_node, yaml.ScalarNode) else 0)
            if key_node.tag == _MERGE_TAG:
                self.aliases.append(key_node.start_mark)  # a merge multiplies like an alias does
                try:
                    pairs = self._merge(value_node)
                finally:
                    self.aliases.pop()
                for pair in pairs:
                    pair.via = key_node.start_mark
                merged += pairs
                continue
            explicit.append(_Pair(self._key(key_node), key_node, value_node, node))
        return explicit, merged

    def _merge(self, value: yaml.Node) -> list[_Pair]:
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        pairs: list[_Pair] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise YamlContentError(source.start_mark, "`<<` merges mappings only; give it a `*name` of a mapping")
            if id(source) in self.merging:
                raise YamlContentError(source.start_mark, "this `<<` merge includes itself; remove it")
            if len(self.merging) >= MAX_DEPTH:
                raise YamlContentError(  # at the outermost `<<` of the chain, the one being built
                    self.aliases[0], f"`<<` merges nest more than {MAX_DEPTH} deep; merge fewer levels"
                )
            self.merging.add(id(source))
            try:
                explicit, nested = self._pairs(source)
            finally:
                self.merging.discard(id(source))
            pairs += explicit + nested
        return pairs

    def _key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
            raise YamlContentError(
                node.start_mark, f"a key must be a name, not a {kind} (`? ` complex keys are not used in a policy)"
            )
        if node.tag == _VALUE_TAG:  # the YAML `=` value key: PyYAML reads it as the text "="
            return node.value
        return self._scalar(node)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, OverflowError, ArithmeticError) as error:
            what = _KINDS.get(node.tag, "a value")
            reason = "too many digits" if "digits" in str(error) else str(error)
            text = node.value if len(node.value) <= 40 else node.value[:40] + "…"
            if node.tag == "tag:yaml.org,2002:timestamp":
                hint = "write a date that exists, such as 2025-02-28, or quote it to mean text"
            else:
                hint = "quote it to mean text"
            raise YamlContentError(node.start_mark, f"'{text}' cannot be read as {what} ({reason}); {hint}") from None
