"""CSV text to rows: header or headerless, one URL column, every cell capped and kept columns bounded."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from operator import itemgetter
from typing import Iterator, Mapping

from generator.config import SourceLimits
from generator.records import RowError
from generator.sources.urls import (
    is_csv_reference,
    is_url,
)


@dataclass(frozen=True, slots=True)
class Row:
    """One non-blank CSV row: its 1-based first physical line and its cells by column."""

    line: int
    url: str
    columns: Mapping[str, str]


def parse_csv_text(
    text: str, file: str, *, limits: SourceLimits = SourceLimits(), name: str = ""
) -> tuple[list[Row], list[RowError]]:
    """Split a CSV into rows keyed by column name.

    A first row holding a ``url`` cell (any case, any position) is the header;
    otherwise the file is headerless and its first column is the URL (further
    cells are kept as ``column2``, ``column3`` ...). Blank rows, including
    rows of empty cells, are skipped; cells are stripped. ``name`` is the
    file as outputs show it (see ``Listing``).

    Columns beyond ``limits.columns`` are dropped (reported once), rows
    beyond ``limits.rows`` are not read, and a cell longer than
    ``limits.cell_chars`` is emptied with a row error (the row's other cells
    still count; a row whose url is too long is skipped).
    """
    rows: list[Row] = []
    errors: list[RowError] = []

    def error(line: int, message: str, url: str | None = None) -> None:
        errors.append(RowError(file, line, message, url, name))

    if text.startswith("\ufeff"):
        text = text[1:]
    kept: _Kept | None = None  # the header's kept columns
    url_col = 0
    first = True
    wide = False  # a headerless row wider than the cap was reported
    count = 0
    for line, cells in _iter_rows(text):
        if isinstance(cells, csv.Error):
            error(line, f"unreadable CSV: {cells}; the rest of the file is skipped")
            break
        if first:
            first = False
            lowered = [c.lower() for c in cells]
            if "url" in lowered:
                url_col = lowered.index("url")
                kept = _make_kept(_get_kept_columns(cells, url_col, limits))
                if len(cells) > limits.columns:
                    error(line, f"the header has {len(cells)} columns, more than the {limits.columns} allowed; "
                          f"columns after the {limits.columns}th are ignored")
                continue
            if not _looks_like_reference(cells[0]):
                error(line, f"no 'url' column in the header ({', '.join(c[:64] for c in cells[:8])}); file skipped")
                return [], errors
        count += 1
        if count > limits.rows:
            error(line, f"more than {limits.rows} rows; the rest of the file is skipped")
            break
        if kept is None and len(cells) > limits.columns and not wide:
            wide = True
            error(line, f"{len(cells)} columns, more than the {limits.columns} allowed; "
                  f"columns after the {limits.columns}th are ignored in this file")
        url, columns = _get_cells(cells, kept, url_col, limits)
        if len(url) > limits.cell_chars:
            error(line, f"the url cell holds {len(url)} characters, more than the {limits.cell_chars} allowed; "
                  "row skipped")
            continue
        if columns and max(map(len, columns.values())) > limits.cell_chars:
            for k, message in _get_long_cells(columns, limits):
                error(line, message, url or None)
                columns[k] = ""
        rows.append(Row(line, url, columns))
    return rows, errors


def _iter_rows(text: str) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """Each non-blank row's first line and stripped cells; a ``csv.Error`` (and its line) ends the file."""
    reader = csv.reader(io.StringIO(text, newline=""))
    prev_line = 0
    strip = str.strip
    try:
        for cells in reader:
            line = prev_line + 1  # a quoted cell may span lines: report where the row starts
            prev_line = reader.line_num
            cells = list(map(strip, cells))
            if any(cells):
                yield line, cells
    except csv.Error as e:  # raised by the reader only: nothing else runs inside the loop
        yield prev_line + 1, e


@dataclass(frozen=True, slots=True)
class _Kept:
    """The header's kept columns, and how to take them from a row in one call."""

    columns: list[tuple[int, str]]  # (cell index, column name)
    names: list[str]
    width: int  # a row this wide holds every kept cell
    take: itemgetter | None  # the kept cells as a tuple (None: fewer than two columns)


def _make_kept(columns: list[tuple[int, str]]) -> _Kept:
    # itemgetter of two or more indices gives a tuple; of one, the cell itself.
    take = itemgetter(*(i for i, _ in columns)) if len(columns) > 1 else None
    return _Kept(columns, [k for _, k in columns], max((i for i, _ in columns), default=-1) + 1, take)


def _get_cells(
    cells: list[str], kept: _Kept | None, url_col: int, limits: SourceLimits
) -> tuple[str, dict[str, str]]:
    """A row's url and its other cells by column: the header's kept columns, or ``column2``... without one."""
    if kept is not None:
        url = cells[url_col] if url_col < len(cells) else ""
        if kept.take is not None and len(cells) >= kept.width:
            return url, dict(zip(kept.names, kept.take(cells)))
        columns = {k: cells[i] if i < len(cells) else "" for i, k in kept.columns}  # cells beyond the header are dropped
        return url, columns
    return cells[0], {f"column{i + 1}": cells[i] for i in range(1, min(len(cells), limits.columns))}


def _get_long_cells(columns: Mapping[str, str], limits: SourceLimits) -> list[tuple[str, str]]:
    """(column, message) for each cell longer than ``limits.cell_chars``: the caller empties them."""
    return [
        (k, f"column {k[:64]!r} holds {len(v)} characters, more than the {limits.cell_chars} allowed; the cell is ignored")
        for k, v in columns.items()
        if len(v) > limits.cell_chars
    ]


def _get_kept_columns(header: list[str], url_col: int, limits: SourceLimits) -> list[tuple[int, str]]:
    """The header's columns kept as dict keys, url aside: named, not repeated, within the caps."""
    kept: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i, name in enumerate(header[: limits.columns]):
        if i == url_col or not name or name in seen or len(name) > limits.cell_chars:
            continue  # the first column of a name wins
        kept.append((i, name))
        seen.add(name)
    return kept


def _looks_like_reference(cell: str) -> bool:
    return is_url(cell) or "/" in cell or "\\" in cell or is_csv_reference(cell)


def get_shortened(text: str, cap: int, where: str) -> str:
    """``text`` cut to at most ``cap`` characters, ending with a note naming the row that holds it in full."""
    note = f" … (shortened; in full at {where})"
    if len(note) > cap // 2:
        note = " … (shortened)"
    return text[: max(0, cap - len(note))].rstrip() + note


def get_inherited(columns: Mapping[str, str], cap: int, where: str) -> dict[str, str]:
    """What a row that links a CSV hands down to its rows: its cells, a long one shortened.

    A cell longer than ``cap`` describes the collection, not each dataset:
    copied whole into thousands of records it would balloon every page and
    export, so each record carries its opening and where to read the rest.
    """
    return {k: get_shortened(v, cap, where) if len(v) > cap else v for k, v in columns.items()}
