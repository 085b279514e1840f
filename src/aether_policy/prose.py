"""Evaluate `{{ }}` references in policy prose, so every number on the page is written once, in a rule.

Prose runs in jinja2's SandboxedEnvironment: a policy file is data, and must not be able to run code.
StrictUndefined turns a typo into an error we can locate, instead of an empty string on the page.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from aether_policy._suggest import did_you_mean
from aether_policy.model import Policy

Path = tuple[str | int, ...]


class _Undefined(jinja2.StrictUndefined):
    """StrictUndefined with a hint naming what does exist at that point."""

    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if isinstance(obj, BaseModel):
            return f"'{name}' is not defined here; {did_you_mean(str(name), type(obj).model_fields)}"
        if isinstance(obj, Mapping):
            return f"'{name}' is not defined here; {did_you_mean(str(name), [str(k) for k in obj])}"
        if obj is jinja2.utils.missing:
            return f"'{name}' is not defined; {did_you_mean(str(name), _TOP_LEVEL)}"
        return super()._undefined_message


_TOP_LEVEL = tuple(f for f in Policy.model_fields if f != "sections")


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


def make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=_Undefined, autoescape=False, keep_trailing_newline=True)
    env.filters.update(join_and=join_and, titles=titles, month_year=month_year, long_date=long_date)
    return env


def prose_context(policy: Policy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in _TOP_LEVEL}


class ProseProblem(Exception):
    """A reference in one string failed; `line` is 1-based within that string."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(message)


def _template_line(error: BaseException) -> int:
    line = getattr(error, "lineno", None)
    if isinstance(line, int):
        return line
    tb: types.TracebackType | None = error.__traceback__
    found = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _replace(value: Any, path: Path, new: str) -> None:
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


def evaluate(policy: Policy) -> Policy:
    """The same policy with every string's `{{ }}` references filled in from the rules.

    Raises ProseProblem for the first reference that fails; `problems()` lists them all.
    """
    env = make_environment()
    context = prose_context(policy)
    data = policy.model_dump(mode="python")
    for path, text in list(_strings(data, ())):
        if "{{" not in text and "{%" not in text:
            continue
        try:
            rendered = env.from_string(text).render(context)
        except jinja2.TemplateError as error:
            raise ProseProblem(path, _template_line(error), _describe(error)) from None
        _replace(data, path, rendered)
    return Policy.model_validate(data)


def problems(policy: Policy) -> list[ProseProblem]:
    """Every failing reference in the policy's strings."""
    env = make_environment()
    context = prose_context(policy)
    found: list[ProseProblem] = []
    for path, text in _strings(policy.model_dump(mode="python"), ()):
        if "{{" not in text and "{%" not in text:
            continue
        try:
            env.from_string(text).render(context)
        except jinja2.TemplateError as error:
            found.append(ProseProblem(path, _template_line(error), _describe(error)))
    return found


def _describe(error: jinja2.TemplateError) -> str:
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"prose template syntax error: {error.message}"
    if isinstance(error, jinja2.exceptions.SecurityError):
        return f"prose may only read rule values: {error}"
    return f"prose reference: {error}"
