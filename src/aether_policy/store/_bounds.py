"""Values fitted to their columns before they reach the database, so one odd value never fails a batch.

PostgreSQL refuses a string longer than its VARCHAR, a NUL character, or an integer outside 32 bits, and
psycopg cannot encode a lone surrogate; SQLite accepts all of these silently. Either way the row must be
decided here, once, before it joins a batch with everyone else's rows. The bounds are read from the table
definitions in `tables.py`: widening a column there widens it here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import Column, DateTime, Float, Integer, LargeBinary, String, Table, UniqueConstraint

# The narrowest integer both backends store: PostgreSQL's INTEGER is 32 bits.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

Kind = Literal["string", "integer", "float", "datetime", "binary", "other"]


class OutOfBounds(ValueError):
    """A value that cannot be fitted without changing which row it is, or a required value that is missing.

    The message names the table, the column and the limit, never the value: it may be anything a caller sent.
    """


@dataclass(frozen=True, slots=True)
class ColumnBound:
    name: str
    kind: Kind
    length: int | None
    nullable: bool
    # Primary, foreign and unique keys are never altered: a cut id would be another row's id.
    identity: bool


@cache
def bounds_of(table: Table) -> tuple[ColumnBound, ...]:
    """Each column's bound, derived from its SQLAlchemy type (cached: tables are declared once)."""
    return tuple(_bound(table, column) for column in table.columns)


def _bound(table: Table, column: Column[Any]) -> ColumnBound:
    kind: Kind
    column_type = column.type
    if isinstance(column_type, String):  # Text is a String without a length
        kind = "string"
    elif isinstance(column_type, Integer):
        kind = "integer"
    elif isinstance(column_type, Float):
        kind = "float"
    elif isinstance(column_type, DateTime) or isinstance(getattr(column_type, "impl", None), DateTime):
        kind = "datetime"
    elif isinstance(column_type, LargeBinary):
        kind = "binary"
    else:
        kind = "other"
    length = getattr(column_type, "length", None) if kind == "string" else None
    unique = any(
        isinstance(constraint, UniqueConstraint) and constraint.contains_column(column)
        for constraint in table.constraints
    )
    identity = bool(column.primary_key or column.foreign_keys or column.unique or unique)
    nullable = bool(column.nullable) and not column.primary_key
    return ColumnBound(column.name, kind, length, nullable, identity)


@dataclass
class Fitted:
    """A row ready for the database, and how many of its values had to be cut or cleared to fit."""

    values: dict[str, Any]
    altered: int


def fit_row(table: Table, values: Mapping[str, Any], *, alter: bool = True) -> Fitted:
    """The row with every value inside its column's bounds.

    With `alter`, a string too long is cut to the column's length, NUL characters are removed, lone
    surrogates replaced, and an out-of-range or wrongly typed optional value is cleared. Without it (values
    an operator typed, which should be corrected, not silently changed) any such value is refused.
    Identity columns and required values are always refused rather than altered.
    """
    fitted: dict[str, Any] = {}
    altered = 0
    for bound in bounds_of(table):
        if bound.name not in values:
            continue  # left to the column's default; the database says if it has none
        value = values[bound.name]
        new = None if value is None else _fit(bound, value)
        if new is None and not bound.nullable:
            raise OutOfBounds(_why(table, bound, value))
        if new is not value:
            if not alter or bound.identity:
                raise OutOfBounds(_why(table, bound, value))
            altered += 1
        fitted[bound.name] = new
    return Fitted(fitted, altered)


def _fit(bound: ColumnBound, value: Any) -> Any:
    if value is None:
        return None
    if bound.kind == "string":
        if not isinstance(value, str):
            return None
        text = value if bound.length is None else value[: bound.length]
        if "\x00" in text:
            text = text.replace("\x00", "")
        if not text.isascii():  # an ASCII string (CPython knows without a scan) has no surrogate
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: no database encoding can store it
                text = text.encode("utf-8", "replace").decode("utf-8")
        return value if text == value else text  # the same object when nothing changed
    if bound.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not _INT_MIN <= value <= _INT_MAX:
            return None
        return value
    if bound.kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return value
    if bound.kind == "datetime":
        # UTCDateTime refuses naive datetimes when binding, which would fail the whole batch.
        return value if isinstance(value, datetime) and value.tzinfo is not None else None
    if bound.kind == "binary":
        return value if isinstance(value, bytes | bytearray | memoryview) else None
    return value


def _why(table: Table, bound: ColumnBound, value: Any) -> str:
    where = f"{table.name}.{bound.name}"
    if bound.kind == "string" and isinstance(value, str):
        if bound.length is not None and len(value) > bound.length:
            return f"{where} is {len(value)} characters; at most {bound.length} fit"
        return f"{where} contains a NUL character or a lone surrogate"
    if value is None:
        return f"{where} is required"
    return f"{where} must be a {_NAMES[bound.kind]}"


_NAMES: Mapping[Kind, str] = {
    "string": "string",
    "integer": "32-bit integer",
    "float": "finite number",
    "datetime": "time zone aware datetime",
    "binary": "byte string",
    "other": "value of the column's type",
}
