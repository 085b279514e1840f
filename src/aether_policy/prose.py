"""Evaluate `{{ }}` references in policy prose, so every number on the page is written once, in a rule.

Prose is data, not a program. jinja2 only parses it: the syntax tree is checked against a short allowlist
(text, `{{ name.attribute["key"] | filter('text') }}`, lists of such values) and then evaluated here, by a
few lines that look up rule values and call allowlisted filters. There are no loops, conditions, calls,
arithmetic or globals such as `range` and `lipsum`, so a policy file cannot hang the build, fill memory or
make it non-deterministic, and every rejected construct is named in a located error.
Output is capped per string and per policy.

The rendered prose is then read as Markdown and must not carry images (a remote image is a tracking pixel
on the page) or links anywhere but the page itself, the service's own site, and `mailto:` addresses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import jinja2
from jinja2 import nodes
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel

from aether_policy._suggest import did_you_mean
from aether_policy.durations import Duration
from aether_policy.model import Policy

Path = tuple[str | int, ...]

MAX_STRING_OUTPUT = 64 * 1024
"""Most characters one prose string may render to; the longest section of the shipped policy has 1,500."""

MAX_POLICY_OUTPUT = 1024 * 1024
"""Most characters all `{{ }}` prose strings of a policy may render to together."""

MAX_EXPRESSION_DEPTH = 16
"""Longest chain of lookups and filters in one `{{ }}`."""


def join_and(items: Iterable[Any]) -> str:
    """'a', 'a and b', 'a, b, and c': lists read as the reference policy writes them."""
    words = [str(i) for i in items]
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + ", and " + words[-1]


def titles(items: Mapping[str, Any] | Iterable[Any]) -> list[str]:
    values = items.values() if isinstance(items, Mapping) else items
    return [getattr(v, "title", str(v)) for v in values]


def month_year(day: date) -> str:
    return day.strftime("%B %Y")


def long_date(day: date) -> str:
    return f"{day.strftime('%B')} {day.day}, {day.year}"


_SCALARS = (str, int, float, date, Duration)


def _scalar_items(value: Any, name: str) -> list[Any]:
    """The items a joining filter may print: scalars only, so the result's size is known before it is built."""
    items = list(value.values() if isinstance(value, Mapping) else value) if not isinstance(value, str) else [value]
    if not all(isinstance(item, _SCALARS) for item in items):
        raise _Refused(f"`{name}` joins a list of values; use `titles` first for a list of rules")
    return items


def _text(value: Any, name: str) -> str:
    if not isinstance(value, _SCALARS):
        raise _Refused(f"`{name}` applies to one value, not to a list or a rule")
    return str(value)


def _join(value: Any, separator: str = "") -> str:
    return separator.join(str(i) for i in _scalar_items(value, "join"))


def _length(value: Any) -> int:
    if isinstance(value, (str, Mapping, list, tuple)):
        return len(value)
    raise _Refused("`length` counts a list, a mapping or a text")


def _one(value: Any, index: int, name: str) -> Any:
    if not isinstance(value, (list, tuple)) or not value:
        raise _Refused(f"`{name}` takes an item of a non-empty list")
    return value[index]


FILTERS: dict[str, Callable[..., Any]] = {
    "join_and": lambda value: join_and(_scalar_items(value, "join_and")),
    "join": _join,
    "titles": titles,
    "month_year": lambda value: month_year(value) if isinstance(value, date) else _refuse("`month_year` needs a date"),
    "long_date": lambda value: long_date(value) if isinstance(value, date) else _refuse("`long_date` needs a date"),
    "lower": lambda value: _text(value, "lower").lower(),
    "upper": lambda value: _text(value, "upper").upper(),
    "title": lambda value: _text(value, "title").title(),
    "capitalize": lambda value: _text(value, "capitalize").capitalize(),
    "length": _length,
    "first": lambda value: _one(value, 0, "first"),
    "last": lambda value: _one(value, -1, "last"),
}
"""The filters prose may use; each takes rule values (and at most a quoted text or number) and returns data."""

_TOP_LEVEL = tuple(f for f in Policy.model_fields if f != "sections")


def prose_context(policy: Policy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in _TOP_LEVEL}


class ProseProblem(Exception):
    """A reference in one string failed; `line` is 1-based within that string."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(message)


class _Refused(Exception):
    """Raised while checking or evaluating one template; becomes a ProseProblem with the node's line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message, self.line = message, line
        super().__init__(message)


def _refuse(message: str) -> Any:
    raise _Refused(message)


# --- what prose may contain --------------------------------------------------------------------------

_PARSER = jinja2.Environment(keep_trailing_newline=True, autoescape=False)

_STATEMENTS: dict[type[nodes.Node], str] = {
    nodes.For: "loops (`{% for %}`)",
    nodes.If: "conditions (`{% if %}`)",
    nodes.Macro: "macros (`{% macro %}`)",
    nodes.CallBlock: "call blocks (`{% call %}`)",
    nodes.FilterBlock: "filter blocks (`{% filter %}`)",
    nodes.With: "`{% with %}` blocks",
    nodes.Assign: "variables (`{% set %}`)",
    nodes.AssignBlock: "variables (`{% set %}`)",
    nodes.Block: "template blocks (`{% block %}`)",
    nodes.Extends: "template inheritance (`{% extends %}`)",
    nodes.Include: "includes (`{% include %}`)",
    nodes.Import: "imports (`{% import %}`)",
    nodes.FromImport: "imports (`{% from %}`)",
}
_EXPRESSIONS: dict[type[nodes.Node], str] = {
    nodes.BinExpr: "arithmetic",
    nodes.UnaryExpr: "arithmetic and logic",
    nodes.Concat: "`~` concatenation",
    nodes.Compare: "comparisons",
    nodes.CondExpr: "inline `if`",
    nodes.Test: "tests (`is …`)",
    nodes.Slice: "slices",
    nodes.Literal: "tuple and mapping literals",
}


def _construct(node: nodes.Node) -> str:
    if isinstance(node, nodes.Call):
        callee = node.node
        named = callee.name if isinstance(callee, nodes.Name) else getattr(callee, "attr", None)
        return f"calls (`{named}()`)" if named else "calls"
    for kind, text in {**_STATEMENTS, **_EXPRESSIONS}.items():
        if isinstance(node, kind):
            if isinstance(node, nodes.BinExpr):
                return f"{text} (`{node.operator}`)"
            return text
    return f"`{type(node).__name__}`"


def _refusal(node: nodes.Node) -> _Refused:
    return _Refused(
        f"prose may not use {_construct(node)}; it may only print rule values, such as "
        "`{{ retention.usage_data.keep_for }}`, through the filters " + ", ".join(sorted(FILTERS)),
        node.lineno,
    )


def _check_template(text: str) -> nodes.Template:
    """Parse and check one string; raises _Refused naming the first construct prose may not use."""
    try:
        tree = _PARSER.parse(text)
    except jinja2.TemplateSyntaxError as error:
        raise _Refused(f"prose template syntax error: {error.message}", error.lineno) from None
    except RecursionError:
        raise _Refused("a `{{ }}` expression in prose is nested too deeply") from None
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            raise _refusal(statement)
        for child in statement.nodes:
            if not isinstance(child, nodes.TemplateData):
                _check_expression(child, 0)
    return tree


def _check_expression(node: nodes.Node, depth: int) -> None:
    if depth > MAX_EXPRESSION_DEPTH:
        message = f"a `{{{{ }}}}` expression in prose chains more than {MAX_EXPRESSION_DEPTH} lookups"
        raise _Refused(message, node.lineno)
    if isinstance(node, nodes.Name):
        return
    if isinstance(node, nodes.Const):
        if not isinstance(node.value, (str, int, float)) or isinstance(node.value, bool):
            raise _Refused("prose expressions may write quoted text and numbers, not `true`, `false` or `none`")
        return
    if isinstance(node, nodes.List):  # `[a.title, b.title] | join_and`: no bigger than its source text
        for item in node.items:
            _check_expression(item, depth + 1)
        return
    if isinstance(node, nodes.Getattr):
        _check_expression(node.node, depth + 1)  # left to right: the first bad name is reported
        _check_name(node.attr, node.lineno)
        return
    if isinstance(node, nodes.Getitem):
        if not isinstance(node.arg, nodes.Const) or not isinstance(node.arg.value, (str, int)):
            message = "`[…]` in prose takes a quoted name or a number, such as `categories['account']`"
            raise _Refused(message, node.lineno)
        _check_expression(node.node, depth + 1)
        if isinstance(node.arg.value, str):
            _check_name(node.arg.value, node.lineno)
        return
    if isinstance(node, nodes.Filter) and node.node is not None:
        if node.name not in FILTERS:
            raise _Refused(
                f"the filter `{node.name}` is not allowed in prose; use one of {', '.join(sorted(FILTERS))}",
                node.lineno,
            )
        if node.kwargs or node.dyn_args or node.dyn_kwargs or len(node.args) > 1:
            raise _Refused(f"`{node.name}` takes at most one quoted text or number in prose", node.lineno)
        for argument in node.args:
            if not isinstance(argument, nodes.Const):
                raise _Refused(f"`{node.name}` takes at most one quoted text or number in prose", node.lineno)
            _check_expression(argument, depth + 1)
        _check_expression(node.node, depth + 1)
        return
    raise _refusal(node)


def _check_name(name: str, line: int) -> None:
    if name.startswith("_"):
        raise _Refused(f"prose may only read rule values; '{name}' is not one", line)


# --- evaluation ---------------------------------------------------------------------------------------


def _lookup(value: Any, key: str | int) -> Any:
    """A rule's field, a mapping's entry or a list's item; nothing else (no methods, no Python attributes)."""
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        if key in fields:
            return getattr(value, str(key))
        raise _Refused(f"'{key}' is not defined here; {did_you_mean(str(key), fields)}")
    if isinstance(value, Mapping):
        if key in value:
            return value[key]
        raise _Refused(f"'{key}' is not defined here; {did_you_mean(str(key), [str(k) for k in value])}")
    if isinstance(value, (list, tuple)) and isinstance(key, int):
        if -len(value) <= key < len(value):
            return value[key]
        raise _Refused(f"item {key} does not exist: the list has {len(value)}")
    raise _Refused(f"'{key}' cannot be looked up in {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "a rule"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a single value"


def _evaluate(node: nodes.Node, context: Mapping[str, Any]) -> Any:
    try:
        if isinstance(node, nodes.Name):
            if node.name in context:
                return context[node.name]
            raise _Refused(f"'{node.name}' is not defined; {did_you_mean(node.name, context)}")
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.List):
            return [_evaluate(item, context) for item in node.items]
        if isinstance(node, nodes.Getattr):
            return _lookup(_evaluate(node.node, context), node.attr)
        if isinstance(node, nodes.Getitem):
            assert isinstance(node.arg, nodes.Const)  # checked by _check_expression
            return _lookup(_evaluate(node.node, context), node.arg.value)
        if isinstance(node, nodes.Filter) and node.node is not None:
            value = _evaluate(node.node, context)
            arguments = [argument.value for argument in node.args if isinstance(argument, nodes.Const)]
            try:
                return FILTERS[node.name](value, *arguments)
            except _Refused:
                raise
            except (TypeError, ValueError, AttributeError) as error:
                raise _Refused(f"the filter `{node.name}` cannot apply to {_kind(value)}: {error}") from None
    except _Refused as refused:
        refused.line = refused.line or node.lineno
        raise
    raise _refusal(node)  # unreachable after _check_expression, kept so a gap in the checks fails closed


def _printable(value: Any, line: int) -> str:
    if not isinstance(value, _SCALARS):
        hint = "join it with `| join_and`" if isinstance(value, (list, tuple, Mapping)) else "name one of its values"
        raise _Refused(f"this prints {_kind(value)}, not a value; {hint}", line)
    return str(value)


class _Budget:
    """Characters left for all prose of one policy."""

    def __init__(self) -> None:
        self.left = MAX_POLICY_OUTPUT


def _render(tree: nodes.Template, context: Mapping[str, Any], budget: _Budget) -> str:
    parts: list[str] = []
    size = 0
    for statement in tree.body:
        assert isinstance(statement, nodes.Output)  # checked by _check_template
        for child in statement.nodes:
            if isinstance(child, nodes.TemplateData):
                text = child.data
            else:
                text = _printable(_evaluate(child, context), child.lineno)
            size += len(text)
            if size > MAX_STRING_OUTPUT:
                message = f"this prose renders to more than {MAX_STRING_OUTPUT:,} characters; shorten it"
                raise _Refused(message, child.lineno)
            budget.left -= len(text)
            if budget.left < 0:
                budget.left = sys.maxsize  # said once for the policy, not again for every string after it
                message = f"the policy's prose renders to more than {MAX_POLICY_OUTPUT:,} characters in all; shorten it"
                raise _Refused(message, child.lineno)
            parts.append(text)
    return "".join(parts)


# --- Markdown: no images, no links off the site ---------------------------------------------------------

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})
_MARKDOWN.validateLink = lambda url: True  # type: ignore[method-assign]  # see every link, to judge it here


def _markdown_problems(text: str, own_host: str | None) -> Iterator[_Refused]:
    for block in _MARKDOWN.parse(text):
        line = block.map[0] + 1 if block.map else 1
        for token in _inline(block):
            if token.type == "image":
                yield _Refused(
                    "images are not allowed in prose: a picture from another server sees every reader of the "
                    "page; describe it in words",
                    line,
                )
            elif token.type == "link_open":
                target = str(token.attrGet("href") or "")
                if not _link_allowed(target, own_host):
                    site = f"a page of {own_host}, " if own_host else ""
                    yield _Refused(
                        f"the link to '{target[:80]}' leaves the site; prose may link to {site}an anchor on this "
                        "page (`#retention`) or a `mailto:` address",
                        line,
                    )


def _inline(block: Token) -> Iterator[Token]:
    for token in block.children or ():
        yield token
        yield from _inline(token)


def _link_allowed(target: str, own_host: str | None) -> bool:
    target = target.strip()
    if target.startswith("#") or target.lower().startswith("mailto:"):
        return True
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or own_host is None:
        return False
    host = parts.hostname.lower()
    return host == own_host or host.endswith("." + own_host)


def service_host(url: Any) -> str | None:
    """The host of the service's own site, the only one prose may link to."""
    if not isinstance(url, str):
        return None
    host = urlsplit(url).hostname
    return host.lower() if host else None


# --- walking a policy ------------------------------------------------------------------------------------


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key if isinstance(key, (str, int)) else str(key)))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _substitute(value: Any, path: Path, rendered: Mapping[Path, str]) -> Any:
    """A copy of `value` with the strings at the given paths replaced (lists and tuples become lists)."""
    if isinstance(value, str):
        return rendered.get(path, value)
    if isinstance(value, dict):
        return {key: _substitute(item, (*path, key), rendered) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_substitute(item, (*path, i), rendered) for i, item in enumerate(value)]
    return value


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _each(policy: Policy, judge_links: bool = True) -> Iterator[tuple[Path, str | None, ProseProblem | None]]:
    """Every string of the policy: its path, its rendered text (None when it failed) and its problem."""
    context = prose_context(policy)
    own_host = service_host(policy.service.url)
    budget = _Budget()
    data = policy.model_dump(mode="python")
    for path, text in list(_strings(data, ())):
        rendered = text
        if _is_template(text):
            try:
                tree = _check_template(text)
                rendered = _render(tree, context, budget)
            except _Refused as refused:
                yield path, None, ProseProblem(path, refused.line or 1, _prefixed(refused.message))
                continue
        # References add no lines, so a line of the rendered text is that line of the source.
        judged = judge_links and _is_prose(path, rendered)
        problem = next(_markdown_problems(rendered, own_host), None) if judged else None
        if problem is not None:
            yield path, None, ProseProblem(path, problem.line or 1, problem.message)
            continue
        yield path, rendered, None


def _is_prose(path: Path, text: str) -> bool:
    """Whether a string is read as Markdown and may hold a link: any text but an abuse-detection pattern."""
    return ("[" in text or "<" in text) and not (len(path) >= 2 and path[-2] == "patterns")


def _prefixed(message: str) -> str:
    """Messages about a lookup get the `prose reference:` prefix; the others already say `prose`."""
    return message if "prose" in message else f"prose reference: {message}"


def evaluate(policy: Policy) -> Policy:
    """The same policy with every string's `{{ }}` references filled in from the rules.

    Raises ProseProblem for the first string that fails; `problems()` lists them all, and the loader has
    already judged images and links, so they are not parsed again here.
    """
    changed: dict[Path, str] = {}
    for path, rendered, problem in _each(policy, judge_links=False):
        if problem is not None:
            raise problem
        assert rendered is not None
        changed[path] = rendered
    return Policy.model_validate(_substitute(policy.model_dump(mode="python"), (), changed))


def problems(policy: Policy) -> list[ProseProblem]:
    """Every failing reference, forbidden construct, image or outside link in the policy's strings."""
    return [problem for _, _, problem in _each(policy) if problem is not None]


def static_problems(raw: Any) -> list[ProseProblem]:
    """What can be judged without valid rules: forbidden constructs, images and outside links as written.

    Used when the policy does not validate, so its prose problems are reported with its schema problems.
    """
    own_host = service_host(raw.get("service", {}).get("url")) if isinstance(raw.get("service"), dict) else None
    found = []
    for path, text in _strings(raw, ()):
        try:
            if _is_template(text):
                _check_template(text)
        except _Refused as refused:
            found.append(ProseProblem(path, refused.line or 1, refused.message))
            continue
        problem = next(_markdown_problems(text, own_host), None) if _is_prose(path, text) else None
        if problem is not None:
            found.append(ProseProblem(path, problem.line or 1, problem.message))
    return found
