"""The event tables in docs/events.rst match the event classes, their wire types and fields."""

from __future__ import annotations

import pathlib
import re

import attrs
import pytest

import sayna
from sayna import _events

EVENTS_PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "events.rst"

_CLASS_REF = re.compile(r":class:`~?(?:sayna\.)?(\w+)`")
_LITERAL = re.compile(r"``(\w+)``")


def list_table(name: str, text: str | None = None) -> list[list[str]]:
    """The body rows of the ``list-table`` with ``:name: name``, each a list of cell texts."""
    lines = (EVENTS_PAGE.read_text(encoding="utf-8") if text is None else text).splitlines()
    starts = [
        i
        for i, line in enumerate(lines)
        if line.strip() == f":name: {name}"
        and any(lines[j].lstrip().startswith(".. list-table::") for j in range(max(0, i - 5), i))
    ]
    assert len(starts) == 1, f"expected one list-table named {name!r}"
    rows: list[list[str]] = []
    for line in lines[starts[0] + 1 :]:
        stripped = line.strip()
        if line and not line[0].isspace():
            break  # back at the left margin: the table is over
        if stripped.startswith("* - "):
            rows.append([stripped[4:]])
        elif stripped.startswith("- ") and rows:
            rows[-1].append(stripped[2:])
        elif stripped and rows:
            rows[-1][-1] += " " + stripped
    return rows[1:]  # the first row is the header


def _resolve(cell: str) -> type:
    names = _CLASS_REF.findall(cell)
    assert len(names) == 1, f"one class per cell: {cell!r}"
    public = getattr(sayna, names[0], None)
    assert public is not None, f"{names[0]} is not exported from sayna"
    assert public is getattr(_events, names[0], None), f"sayna.{names[0]} is not the event class"
    return public


def _field_names(cls: type) -> list[str]:
    return [field.name for field in attrs.fields(cls)]


def _table_rows(name: str) -> list[tuple[str, type, list[str]]]:
    rows = []
    for wire, klass, fields in list_table(name):
        literal = _LITERAL.search(wire)
        rows.append(
            (literal.group(1) if literal else "", _resolve(klass), _LITERAL.findall(fields))
        )
    return rows


def _event_classes() -> set[type]:
    exported = (getattr(_events, name) for name in _events.__all__)
    return {
        cls
        for cls in exported
        if isinstance(cls, type) and issubclass(cls, _events.Event) and cls is not _events.Event
    }


@pytest.mark.parametrize("table", ["server-events", "session-events"])
def test_each_row_names_the_class_wire_type_and_fields(table: str) -> None:
    """A row's wire type is its class's ``type``; its fields are the attrs fields, in order."""
    for wire, cls, fields in _table_rows(table):
        declared = cls.__dict__.get("type")
        if isinstance(declared, property):
            assert wire == "", f"{cls.__name__} takes its type from the frame: no fixed type"
        else:
            assert wire == declared, f"{cls.__name__}: table says {wire!r}, class says {declared!r}"
        assert fields == _field_names(cls), cls.__name__


def test_server_rows_are_what_the_decoder_dispatches_to() -> None:
    """Each wire type in the server table decodes to the class the table names."""
    for wire, cls, _ in _table_rows("server-events"):
        if wire and cls is not _events.MalformedEvent:
            assert _events.event_class(wire) is cls, wire


def test_tables_cover_every_event_class_once() -> None:
    """Every event class appears in exactly one row of the two event tables."""
    listed = [cls for t in ("server-events", "session-events") for _, cls, _ in _table_rows(t)]
    assert len(listed) == len(set(listed))
    assert set(listed) == _event_classes()


def test_payload_table_matches_the_nested_classes() -> None:
    """The table of objects inside events lists every non-event attrs class with its fields."""
    rows = {
        _resolve(klass): _LITERAL.findall(fields) for klass, fields in list_table("event-payloads")
    }
    nested = {
        cls
        for name in _events.__all__
        if attrs.has(cls := getattr(_events, name)) and not issubclass(cls, _events.Event)
    }
    assert set(rows) == nested
    for cls, fields in rows.items():
        assert fields == _field_names(cls), cls.__name__


def test_parser_reads_multiline_cells_and_stops_at_the_table_end() -> None:
    """Continuation lines join their cell and the table ends at the next unindented line."""
    text = (
        ".. list-table::\n   :header-rows: 1\n   :name: demo\n\n"
        "   * - A\n     - B\n"
        "   * - ``x``\n     - ``one``,\n       ``two``\n\n"
        "After the table.\n\n   * - not a row\n"
    )
    assert list_table("demo", text) == [["``x``", "``one``, ``two``"]]
