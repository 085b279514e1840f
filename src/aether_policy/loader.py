"""Read a policy file into a validated `Policy`, or explain every problem with file, line and fix."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from aether_policy import prose
from aether_policy._positions import DuplicateKeyError, Located, load_located
from aether_policy._suggest import did_you_mean
from aether_policy.digest import policy_digest
from aether_policy.exceptions import PolicyLoadError, Problem
from aether_policy.model import Policy
from aether_policy.references import cross_reference_problems

Path = tuple[str | int, ...]
DEFAULT_POLICY_DIR = FsPath("policies")


@dataclass(frozen=True)
class LoadedPolicy:
    """A valid policy with the file it came from and where each of its keys is written."""

    policy: Policy
    file: str
    located: Located

    @cached_property
    def digest(self) -> str:
        return policy_digest(self.policy)

    def locate(self, path: Path, message: str) -> Problem:
        line, column = self.located.position(path)
        return Problem(self.file, line, column, format_path(path), message)


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def default_policy_files(directory: FsPath = DEFAULT_POLICY_DIR) -> list[FsPath]:
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def find_policy(path: FsPath | None = None) -> FsPath:
    """The policy to use: the given path, or the only `policies/*.yaml` under the current directory."""
    if path is not None:
        return path
    found = default_policy_files()
    if len(found) == 1:
        return found[0]
    where = DEFAULT_POLICY_DIR.resolve()
    if not found:
        raise PolicyLoadError(
            [
                Problem(
                    str(DEFAULT_POLICY_DIR),
                    1,
                    1,
                    "",
                    f"no policy file found in {where}; pass one with --policy",
                )
            ]
        )
    names = ", ".join(p.name for p in found)
    raise PolicyLoadError(
        [Problem(str(DEFAULT_POLICY_DIR), 1, 1, "", f"several policies ({names}); choose one with --policy")]
    )


def load_policy(path: FsPath | str) -> LoadedPolicy:
    file = str(path)
    try:
        text = FsPath(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyLoadError([Problem(file, 1, 1, "", "file not found; check the path")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyLoadError([Problem(file, 1, 1, "", f"cannot read the file: {error}")]) from None
    return load_policy_text(text, file)


def load_policy_text(text: str, file: str = "<policy>") -> LoadedPolicy:
    """Parse, validate and cross-check one policy document; raises PolicyLoadError listing every problem."""
    located = _parse(text, file)
    if not isinstance(located.value, dict):
        raise PolicyLoadError(
            [
                Problem(
                    file,
                    1,
                    1,
                    "",
                    "a policy is a YAML mapping with keys such as `service`, `categories`, `retention`",
                )
            ]
        )
    try:
        policy = Policy.model_validate(located.value)
    except ValidationError as error:
        raise PolicyLoadError(_validation_problems(error, located, file)) from None
    loaded = LoadedPolicy(policy, file, located)
    found = [loaded.locate(path, message) for path, message in cross_reference_problems(policy)]
    found += [_prose_problem(p, located, file) for p in prose.problems(policy)]
    if found:
        raise PolicyLoadError(found)
    return loaded


def _parse(text: str, file: str) -> Located:
    try:
        return load_located(text)
    except DuplicateKeyError as error:
        message = f"duplicate key '{error.key}' (first written on line {error.first_line}); keep one"
        raise PolicyLoadError([Problem(file, error.line, error.column, "", message)]) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(str(part) for part in (error.context, error.problem) if part)
        message = f"YAML syntax error: {what}; check the indentation and quoting on this line and the one above"
        raise PolicyLoadError([Problem(file, line, column, "", message)]) from None
    except yaml.YAMLError as error:
        raise PolicyLoadError([Problem(file, 1, 1, "", f"YAML error: {error}")]) from None


def _prose_problem(problem: prose.ProseProblem, located: Located, file: str) -> Problem:
    line, column = located.position(problem.path)
    if problem.path in located.block_scalars:
        line, column = line + problem.line, 1  # the text starts on the line after `key: |`
    return Problem(file, line, column, format_path(problem.path), problem.message)


_FRIENDLY = {
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "date_from_datetime_parsing": "expected a date such as 2025-10-01",
    "date_parsing": "expected a date such as 2025-10-01",
    "date_type": "expected a date such as 2025-10-01",
    "dict_type": "expected a mapping of names to entries",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
}


def _validation_problems(error: ValidationError, located: Located, file: str) -> list[Problem]:
    items = error.errors(include_url=False)
    unknown = {(tuple(i["loc"][:-1]), str(i["loc"][-1])) for i in items if i["type"] == "extra_forbidden"}
    problems = []
    for item in items:
        loc: Path = tuple(item["loc"])
        kind = item["type"]
        if kind == "missing" and _misspelled_as_unknown(loc, unknown):
            continue  # the "unknown key … did you mean" problem already says it
        message = _message(kind, item, loc)
        line, column = located.position(loc)
        problems.append(Problem(file, line, column, format_path(loc), message))
    return problems


def _misspelled_as_unknown(loc: Path, unknown: set[tuple[Path, str]]) -> bool:
    siblings = [key for parent, key in unknown if parent == loc[:-1]]
    return bool(siblings) and did_you_mean(str(loc[-1]), siblings).startswith("did you mean")


def _message(kind: str, item: Any, loc: Path) -> str:
    value = item.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"unknown key '{loc[-1]}'; {did_you_mean(str(loc[-1]), allowed)}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}'; add it"
    if kind == "string_pattern_mismatch":
        if loc and loc[-1] in ("keep_for", "max_age"):
            return str(item["msg"])
        hint = (
            "a name uses lower-case letters, digits and underscores, starting with a letter"
            if "a-z" in item["ctx"]["pattern"]
            else f"it must match {item['ctx']['pattern']}"
        )
        return f"'{value}' is not valid: {hint}"
    if kind == "literal_error":
        return f"got {value!r}; {str(item['msg']).replace('Input should be', 'expected')}"
    if kind == "value_error":
        return str(item["msg"]).removeprefix("Value error, ")
    if kind == "greater_than_equal":
        return f"must be at least {item['ctx']['ge']}, got {value!r}"
    if kind == "less_than_equal":
        return f"must be at most {item['ctx']['le']}, got {value!r}"
    if kind == "too_short":
        return "must not be empty"
    if kind in _FRIENDLY:
        return f"{_FRIENDLY[kind]}, got {value!r}"
    return f"{item['msg']}, got {value!r}"


def _allowed_keys(loc: Path) -> list[str]:
    """The keys of the model at `loc`, found by walking the annotations from `Policy`."""
    current: Any = Policy
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
            continue
        args = typing.get_args(current)
        if typing.get_origin(current) in (dict, tuple, list) and args:
            current = args[-1] if typing.get_origin(current) is dict else args[0]
            continue
        return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so the walk reaches the model or container underneath."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation
