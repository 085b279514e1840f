"""Turn YAML parse errors and pydantic validation errors into located, fix-naming problems.

Shared by every YAML file the project reads: the policy and the gateway configuration.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from aether_policy._positions import DuplicateKeyError, Located, YamlContentError, load_located
from aether_policy._suggest import did_you_mean
from aether_policy.exceptions import PolicyLoadError, Problem

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


MAX_FILE_BYTES = 256 * 1024
"""Largest YAML file read: the shipped policy is 13 kB, and pure-Python PyYAML takes 1.5 to 2.5 s for 256 KiB
of dense YAML on the CI machine (`bench/hostile.py`), so a hostile file costs seconds, not minutes."""

# In this order: the UTF-32 little-endian mark begins with the UTF-16 one.
_OTHER_UNICODE = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


def read_yaml_file(path: FsPath, file: str, what: str = "file") -> str:
    """The file's text: at most MAX_FILE_BYTES, UTF-8 (a leading byte-order mark is allowed), else located errors."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PolicyLoadError([Problem(file, 1, 1, "", f"{what} not found; check the path")]) from None
    except OSError as error:
        raise PolicyLoadError([Problem(file, 1, 1, "", f"cannot read the {what}: {error.strerror}")]) from None
    return decode_yaml_bytes(data, file)


def decode_yaml_bytes(data: bytes, file: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise PolicyLoadError([_too_large(file)])
    for bom, encoding in _OTHER_UNICODE:
        if data.startswith(bom):
            raise PolicyLoadError([Problem(file, 1, 1, "", f"the file is {encoding}; save it as UTF-8")])
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        byte = data[error.start]
        message = f"not valid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8"
        raise PolicyLoadError([Problem(file, line, column, "", message)]) from None


def _too_large(file: str) -> Problem:
    return Problem(
        file, 1, 1, "", f"larger than {MAX_FILE_BYTES // 1024} KiB; a policy is a few kilobytes, check the file"
    )


def parse_yaml(text: str, file: str) -> Located:
    if len(text) > MAX_FILE_BYTES:
        raise PolicyLoadError([_too_large(file)])
    try:
        return load_located(text)
    except DuplicateKeyError as error:
        message = f"duplicate key '{error.key}' (first written on line {error.first_line}); keep one"
        raise PolicyLoadError([Problem(file, error.line, error.column, "", message)]) from None
    except YamlContentError as error:
        raise PolicyLoadError([Problem(file, error.line, error.column, "", error.message)]) from None
    except yaml.MarkedYAMLError as error:
        raise PolicyLoadError(_syntax_problems(error, file)) from None
    except yaml.reader.ReaderError as error:
        line, column = _text_position(text, error.position)
        character = error.character if isinstance(error.character, int) else 0
        message = (
            f"the character U+{character:04X} is not allowed in YAML; remove it or write it as an escape in quotes"
        )
        raise PolicyLoadError([Problem(file, line, column, "", message)]) from None
    except yaml.YAMLError as error:
        raise PolicyLoadError([Problem(file, 1, 1, "", f"YAML error: {error}")]) from None


def _text_position(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _syntax_problems(error: yaml.MarkedYAMLError, file: str) -> list[Problem]:
    """The place the parser gave up, and for a collection left open, the place it was opened too."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    opened = error.context_mark
    what = " ".join(str(part) for part in (error.context, error.problem) if part)
    if opened is not None and error.problem_mark is not None and opened.line != error.problem_mark.line:
        what += f" (the construct opened on line {opened.line + 1}, column {opened.column + 1})"
    problems = [
        Problem(
            file,
            line,
            column,
            "",
            f"YAML syntax error: {what}; check the indentation and quoting on this line and the one above",
        )
    ]
    if opened is None or error.problem_mark is None:
        return problems
    context = str(error.context)
    if context.startswith("while parsing a flow"):
        kind = context.removeprefix("while parsing a ")
        closer = "]" if "sequence" in kind else "}"
        fix = f"close it with `{closer}` or remove the opening bracket"
    elif context == "while scanning a quoted scalar":
        kind, closer = "quoted text", str(opened.buffer or "")[opened.pointer : opened.pointer + 1]
        fix = f"close it with `{closer}`" if closer in ("'", '"') else "close the quotes"
    else:
        return problems
    problems.insert(
        0,
        Problem(
            file,
            opened.line + 1,
            opened.column + 1,
            "",
            f"YAML syntax error: the {kind} opened here is not closed before line {line}; {fix}",
        ),
    )
    return problems


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


def validation_problems(error: ValidationError, located: Located, file: str, root: type[BaseModel]) -> list[Problem]:
    items = error.errors(include_url=False)
    unknown = {(tuple(i["loc"][:-1]), str(i["loc"][-1])) for i in items if i["type"] == "extra_forbidden"}
    problems = []
    for item in items:
        loc: Path = tuple(item["loc"])
        kind = item["type"]
        if kind == "missing" and _misspelled_as_unknown(loc, unknown):
            continue  # the "unknown key … did you mean" problem already says it
        message = _message(kind, item, loc, root)
        line, column = located.position(loc)
        problems.append(Problem(file, line, column, format_path(loc), message))
    return problems


def _misspelled_as_unknown(loc: Path, unknown: set[tuple[Path, str]]) -> bool:
    siblings = [key for parent, key in unknown if parent == loc[:-1]]
    return bool(siblings) and did_you_mean(str(loc[-1]), siblings).startswith("did you mean")


def _shown(value: Any) -> str:
    """A value quoted in a message, cut short: a 1 MB string must not become a 1 MB error line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _message(kind: str, item: Any, loc: Path, root: type[BaseModel]) -> str:
    value = item.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(root, loc[:-1])
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
        return f"{_shown(value)} is not valid: {hint}"
    if kind == "literal_error":
        return f"got {_shown(value)}; {str(item['msg']).replace('Input should be', 'expected')}"
    if kind == "value_error":
        return str(item["msg"]).removeprefix("Value error, ")
    if kind == "greater_than_equal":
        return f"must be at least {item['ctx']['ge']}, got {_shown(value)}"
    if kind == "less_than_equal":
        return f"must be at most {item['ctx']['le']}, got {_shown(value)}"
    if kind == "too_short":
        return "must not be empty"
    if kind in _FRIENDLY:
        return f"{_FRIENDLY[kind]}, got {_shown(value)}"
    return f"{item['msg']}, got {_shown(value)}"


def _allowed_keys(root: type[BaseModel], loc: Path) -> list[str]:
    """The keys of the model at `loc`, found by walking the annotations from the root model."""
    current: Any = root
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
