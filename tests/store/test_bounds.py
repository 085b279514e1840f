"""Bounds are read from the table definitions, so a column changed in tables.py is bounded the new way."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from aether_policy.store import tables
from aether_policy.store._bounds import OutOfBounds, bounds_of, fit_row

widget = Table(
    "widget",
    MetaData(),
    Column("id", String(8), primary_key=True),
    Column("code", String(12), unique=True),
    Column("label", String(5)),
    Column("note", Text),
    Column("count", Integer, nullable=False),
)


def test_a_string_is_cut_to_the_length_its_column_declares() -> None:
    fitted = fit_row(widget, {"id": "w1", "label": "abcdefgh", "count": 1})
    assert fitted.values == {"id": "w1", "label": "abcde", "count": 1} and fitted.altered == 1


def test_a_text_column_has_no_length_but_is_still_cleaned() -> None:
    note = "n" * 100_000 + "\x00"
    assert fit_row(widget, {"id": "w1", "note": note, "count": 1}).values["note"] == "n" * 100_000


@pytest.mark.parametrize("column", ["id", "code"])
def test_a_key_is_refused_rather_than_cut_into_another_rows_key(column: str) -> None:
    with pytest.raises(OutOfBounds, match=rf"^widget.{column} is 20 characters; at most \d+ fit$"):
        fit_row(widget, {"id": "w1", "count": 1, column: "k" * 20})


def test_a_required_value_that_does_not_fit_is_refused() -> None:
    with pytest.raises(OutOfBounds, match=r"^widget.count must be a 32-bit integer$"):
        fit_row(widget, {"id": "w1", "count": 2**40})


def test_operator_input_is_refused_not_altered() -> None:
    with pytest.raises(OutOfBounds, match=r"^widget.label is 8 characters; at most 5 fit$"):
        fit_row(widget, {"id": "w1", "label": "abcdefgh", "count": 1}, alter=False)


def test_every_column_of_the_schema_has_a_type_the_bounds_understand() -> None:
    unknown = [f"{t.name}.{b.name}" for t in tables.metadata.sorted_tables for b in bounds_of(t) if b.kind == "other"]
    assert unknown == []
