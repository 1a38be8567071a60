"""A submitter's Google Sheet read into the raw cells a file would give, and saved as a snapshot.

Validation must report the same problems at the same cells whether a workbook arrives as a file
or lives in a Google Sheet.  So the cells come over typed as python-calamine hands them over
from an .xlsx: numbers as floats, dates as dates.  Values are read unformatted with dates as
serial numbers (so nothing depends on the sheet's locale), and the cells whose number format is
a date or time are then turned into dates, because only the format says a serial is a date.

The snapshot (.xlsx, written with XlsxWriter) keeps exactly what was read: it is what the
nightly job validates, what the feedback copy is made from, and what the archive keeps, so an
officer can always see what the run saw even after the submitter has edited the sheet again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from gspread.utils import a1_range_to_grid_range, absolute_range_name, rowcol_to_a1
from xlsxwriter import Workbook

from sheetsync.gsheets.client import SheetsSession
from sheetsync.read import RawSheet, RawWorkbook

READ_ACTION = "读取 Google 表格"
VALUE_PARAMS: dict[str, str] = {
    "valueRenderOption": "UNFORMATTED_VALUE",
    "dateTimeRenderOption": "SERIAL_NUMBER",
    "majorDimension": "ROWS",
}
FORMAT_FIELDS = "sheets(properties(title),data(startRow,startColumn,rowData(values(effectiveFormat(numberFormat(type))))))"
DATE_TYPES = frozenset({"DATE", "DATE_TIME"})
TIME_TYPE = "TIME"

_EPOCH = datetime(1899, 12, 30)  # serial 0 in Google Sheets, as in Excel's 1900 system after Feb 1900
_EXCEL_NAME_LIMIT = 31
_EXCEL_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
SNAPSHOT_PREFIX = "Google表格_"

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
TIME_FORMAT = "hh:mm:ss"
DURATION_FORMAT = "[h]:mm:ss"


@dataclass(frozen=True)
class GoogleBook:
    """What one read of a spreadsheet gave: its cells, its title and a digest of its content."""

    key: str
    title: str
    book: RawWorkbook
    digest: str


def read_spreadsheet(session: SheetsSession, key: str) -> GoogleBook:
    """Every grid sheet of the spreadsheet ``key``; raises :class:`GoogleSheetsError` in Chinese."""
    http = session.http
    with session.explained(READ_ACTION, key, role="查看者"):
        metadata = http.fetch_sheet_metadata(key)
        title = str(metadata.get("properties", {}).get("title") or key)
        grids = [
            sheet["properties"]
            for sheet in metadata.get("sheets", [])
            if sheet.get("properties", {}).get("sheetType", "GRID") == "GRID"
        ]
        grids.sort(key=lambda properties: properties.get("index", 0))
        names = [str(properties["title"]) for properties in grids]
        values: list[tuple[int, int, list[list[Any]]]] = []
        if names:
            answer = http.values_batch_get(
                key, [absolute_range_name(name) for name in names], params=VALUE_PARAMS
            )
            values = [_value_range(found) for found in answer.get("valueRanges", [])]
        formats = _number_formats(session, key, names, values)
    sheets = tuple(
        _raw_sheet(name, top, left, rows, formats.get(name, {}), hidden=bool(properties.get("hidden")))
        for name, properties, (top, left, rows) in zip(names, grids, values, strict=True)
    )
    book = RawWorkbook(path=Path(snapshot_name(title)), sheets=sheets)
    return GoogleBook(key=key, title=title, book=book, digest=content_digest(book))


def _value_range(found: Mapping[str, Any]) -> tuple[int, int, list[list[Any]]]:
    """Top row, left column (0-based) and the rows of one answered range."""
    _, _, cells = str(found.get("range", "")).rpartition("!")
    top = left = 0
    if cells:
        grid = a1_range_to_grid_range(cells)
        top, left = grid.get("startRowIndex", 0), grid.get("startColumnIndex", 0)
    rows = [list(row) for row in found.get("values", [])]
    return top, left, rows


def _number_formats(
    session: SheetsSession, key: str, names: Sequence[str], values: Sequence[tuple[int, int, list[list[Any]]]]
) -> dict[str, dict[tuple[int, int], str]]:
    """Number-format type of each numeric cell, by sheet, as absolute (row, column).

    Asked only for sheets holding a number and only over the range that holds values: the
    format of every cell of a large empty grid is not worth fetching.
    """
    ranges: list[str] = []
    for name, (top, left, rows) in zip(names, values, strict=True):
        if any(_is_number(cell) for row in rows for cell in row):
            width = max(len(row) for row in rows)
            first, last = rowcol_to_a1(top + 1, left + 1), rowcol_to_a1(top + len(rows), left + width)
            ranges.append(absolute_range_name(name, f"{first}:{last}"))
    if not ranges:
        return {}
    params = {"includeGridData": "true", "ranges": ranges, "fields": FORMAT_FIELDS}
    answer = session.http.fetch_sheet_metadata(key, params=params)
    found: dict[str, dict[tuple[int, int], str]] = {}
    for sheet in answer.get("sheets", []):
        name = str(sheet.get("properties", {}).get("title", ""))
        types = found.setdefault(name, {})
        for grid in sheet.get("data", []):
            top, left = grid.get("startRow", 0), grid.get("startColumn", 0)
            for r, row in enumerate(grid.get("rowData", [])):
                for c, cell in enumerate(row.get("values", [])):
                    kind = cell.get("effectiveFormat", {}).get("numberFormat", {}).get("type")
                    if kind:
                        types[(top + r, left + c)] = str(kind)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _raw_sheet(
    name: str,
    top: int,
    left: int,
    rows: list[list[Any]],
    types: Mapping[tuple[int, int], str],
    *,
    hidden: bool,
) -> RawSheet:
    """Cells as python-calamine gives them from an .xlsx: cut to the used area, padded with ''."""
    typed = [
        [_typed(cell, types.get((top + r, left + c))) for c, cell in enumerate(row)]
        for r, row in enumerate(rows)
    ]
    used = [(r, c) for r, row in enumerate(typed) for c, cell in enumerate(row) if cell != ""]
    if not used:
        return RawSheet(name=name, rows=[], first_row=0, first_col=0, visible=not hidden)
    first_r, last_r = used[0][0], used[-1][0]
    first_c, last_c = min(c for _, c in used), max(c for _, c in used)
    width = last_c - first_c + 1
    cut = [_padded(row[first_c : last_c + 1], width) for row in typed[first_r : last_r + 1]]
    return RawSheet(
        name=name, rows=cut, first_row=top + first_r, first_col=left + first_c, visible=not hidden
    )


def _padded(row: list[Any], width: int) -> list[Any]:
    return row + [""] * (width - len(row))


def _typed(value: Any, number_type: str | None) -> Any:
    """A cell as calamine would hand it over from an .xlsx holding the same value and format."""
    if value is None:
        return ""
    if not _is_number(value):
        return value
    number = float(value)
    if number_type in DATE_TYPES:
        moment = _EPOCH + timedelta(days=number)
        return moment.date() if number.is_integer() else moment
    if number_type == TIME_TYPE:
        span = timedelta(days=number)
        return (datetime.min + span).time() if 0 <= number < 1 else span
    return number


# ---------------------------------------------------------------------------- digest


def content_digest(book: RawWorkbook) -> str:
    """SHA-256 of the cells in a canonical JSON form: the same content gives the same digest."""
    payload = [
        {
            "name": sheet.name,
            "visible": sheet.visible,
            "first_row": sheet.first_row,
            "first_col": sheet.first_col,
            "rows": sheet.rows,
        }
        for sheet in book.sheets
    ]
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_json_value)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, time):
        return {"time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"duration": value.total_seconds()}
    raise TypeError(f"cannot encode {type(value).__name__}")


# ---------------------------------------------------------------------------- snapshot


def snapshot_name(title: str) -> str:
    """A file name that says where the workbook came from and is safe on Windows shares."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", title).strip(" ._") or "未命名"
    return f"{SNAPSHOT_PREFIX}{safe[:80]}.xlsx"


def write_snapshot(book: RawWorkbook, path: Path) -> Path:
    """Write ``book``'s cells to an .xlsx that reads back as the same cells.

    The same cells always give the same bytes (fixed creation time), so an unchanged sheet is
    recognised as an already registered submission, exactly like an unchanged file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    workbook = Workbook(
        str(temporary), {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}
    )
    workbook.set_properties({"title": book.path.stem, "created": datetime(2000, 1, 1)})
    formats = {
        date: workbook.add_format({"num_format": DATE_FORMAT}),
        datetime: workbook.add_format({"num_format": DATETIME_FORMAT}),
        time: workbook.add_format({"num_format": TIME_FORMAT}),
        timedelta: workbook.add_format({"num_format": DURATION_FORMAT}),
    }
    names = excel_sheet_names([sheet.name for sheet in book.sheets])
    first_visible = True
    for raw, name in zip(book.sheets, names, strict=True):
        sheet = workbook.add_worksheet(name)
        if not raw.visible:
            sheet.hide()
        elif first_visible:
            sheet.activate()
            sheet.set_first_sheet()
            first_visible = False
        for r, row in enumerate(raw.rows, start=raw.first_row):
            for c, value in enumerate(row, start=raw.first_col):
                _write_cell(sheet, r, c, value, formats)
    try:
        workbook.close()
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _write_cell(sheet: Any, row: int, col: int, value: Any, formats: Mapping[type, Any]) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value, formats[datetime])
    elif isinstance(value, date):
        sheet.write_datetime(row, col, value, formats[date])
    elif isinstance(value, time):
        sheet.write_datetime(row, col, value, formats[time])
    elif isinstance(value, timedelta):
        sheet.write_number(row, col, value.total_seconds() / 86400, formats[timedelta])
    elif isinstance(value, int | float):
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, str(value))


def excel_sheet_names(names: Sequence[str]) -> list[str]:
    """Google allows sheet names Excel refuses (``/``, ``?``, over 31 characters): make them fit, uniquely."""
    used: set[str] = set()
    result: list[str] = []
    for name in names:
        base = _EXCEL_NAME_FORBIDDEN.sub("_", name).strip("'")[:_EXCEL_NAME_LIMIT] or "Sheet"
        candidate, counter = base, 2
        while candidate.casefold() in used:
            suffix = f"({counter})"
            candidate = base[: _EXCEL_NAME_LIMIT - len(suffix)] + suffix
            counter += 1
        used.add(candidate.casefold())
        result.append(candidate)
    return result
