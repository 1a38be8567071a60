"""Publish the register sheets and 概览 to a Google Sheet that read-only viewers open.

What is published is read back from the master workbook the run has just written, not rebuilt
from the register: the master is what the office signs off every morning, its 概览 holds
formulas whose computed values XlsxWriter cached (python-calamine reads those values), and any
column a later change adds to the master reaches the Google Sheet without touching this module.

Writes follow the API's rules: a sheet is added or resized to exactly the table's size before
any value is sent, values go in ``values.batchUpdate`` requests well under the payload limits,
and as ``RAW`` so that a submitter's text starting with ``=`` stays text.  A hash of each
sheet's content as last published is kept in a small JSON file; an unchanged sheet (same hash,
same grid size in Google) is not written at all, so a quiet night costs one metadata read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import python_calamine
from gspread.utils import absolute_range_name, rowcol_to_a1

from sheetsync.gsheets.client import SheetsSession
from sheetsync.schemas import SHEETS

PUBLISH_ACTION = "发布到 Google 表格"
OVERVIEW_SHEET = "概览"
STATE_VERSION = 1


def published_sheet_names() -> tuple[str, ...]:
    """概览 first, then the register sheets in contract order."""
    return (OVERVIEW_SHEET, *(model.sheet_name for model in SHEETS))


@dataclass(frozen=True)
class Limits:
    """Per request; Google's hard payload limit is about 10 MB and it advises 2 MB."""

    max_cells: int = 10_000
    max_bytes: int = 2_000_000


@dataclass(frozen=True)
class Table:
    """One sheet as it is published: a rectangle of JSON values, A1 at the top left."""

    name: str
    values: list[list[Any]]

    @property
    def rows(self) -> int:
        return max(1, len(self.values))

    @property
    def cols(self) -> int:
        return max([1, *(len(row) for row in self.values)])

    @property
    def fingerprint(self) -> str:
        text = json.dumps([self.name, self.values], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class PublishReport:
    key: str
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # asked for but not in the master
    value_requests: int = 0
    cells: int = 0

    def describe(self) -> str:
        return (
            f"published {len(self.written)} sheet(s) ({self.cells} cells in {self.value_requests} request(s)), "
            f"{len(self.unchanged)} unchanged"
        )


def publish_register(
    session: SheetsSession,
    key: str,
    master: Path,
    state_path: Path,
    *,
    names: Sequence[str] | None = None,
    limits: Limits | None = None,
) -> PublishReport:
    """Publish the sheets ``names`` (default: 概览 and the register sheets) of ``master`` to ``key``."""
    wanted = tuple(names) if names is not None else published_sheet_names()
    tables = read_tables(master, wanted)
    report = publish_tables(session, key, tables, state_path, limits=limits)
    found = {table.name for table in tables}
    report.absent = [name for name in wanted if name not in found]
    return report


def read_tables(master: Path, names: Sequence[str]) -> list[Table]:
    """The named sheets of ``master`` that exist, in the order given, values as the master holds them."""
    book = python_calamine.CalamineWorkbook.from_path(str(master))
    try:
        present = set(book.sheet_names)
        tables: list[Table] = []
        for name in names:
            if name not in present:
                continue
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            tables.append(Table(name, _rectangle([[_json_value(cell) for cell in row] for row in rows])))
        return tables
    finally:
        book.close()


def _rectangle(rows: list[list[Any]]) -> list[list[Any]]:
    """Trailing empty rows and columns dropped, every row as wide as the widest."""
    while rows and all(cell == "" for cell in rows[-1]):
        rows.pop()
    width = max(
        (max((c + 1 for c, cell in enumerate(row) if cell != ""), default=0) for row in rows), default=0
    )
    return [row[:width] + [""] * (width - len(row[:width])) for row in rows]


def _json_value(value: Any) -> Any:
    """A cell as it is sent with RAW input: dates as ISO text, so every viewer reads them the same."""
    if value is None:
        return ""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time(0) else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    return str(value)


def publish_tables(
    session: SheetsSession,
    key: str,
    tables: Sequence[Table],
    state_path: Path,
    *,
    limits: Limits | None = None,
) -> PublishReport:
    """Write the tables that changed since the last publish; raises :class:`GoogleSheetsError`."""
    limits = limits or Limits()
    report = PublishReport(key=key)
    http = session.http
    with session.explained(PUBLISH_ACTION, key, role="编辑者"):
        metadata = http.fetch_sheet_metadata(key)
        existing = {
            str(sheet["properties"]["title"]): sheet["properties"] for sheet in metadata.get("sheets", [])
        }
        state = load_state(state_path, key)
        changed: list[Table] = []
        for table in tables:
            if state.get(table.name) == table.fingerprint and _same_grid(existing.get(table.name), table):
                report.unchanged.append(table.name)
            else:
                changed.append(table)
        if not changed:
            return report
        structure = _structure_requests(changed, existing)
        if structure:
            http.batch_update(key, {"requests": structure})
        for table in changed:  # a sheet half written must never count as published
            state.pop(table.name, None)
        save_state(state_path, key, state)
        fingerprints = {table.name: table.fingerprint for table in changed}
        for data, completed in chunked(changed, limits):
            http.values_batch_update(key, {"valueInputOption": "RAW", "data": data})
            report.value_requests += 1
            report.cells += sum(len(row) for item in data for row in item["values"])
            for name in completed:
                state[name] = fingerprints[name]
                report.written.append(name)
            if completed:
                save_state(state_path, key, state)
    return report


def _same_grid(properties: Mapping[str, Any] | None, table: Table) -> bool:
    if properties is None:
        return False
    grid = properties.get("gridProperties", {})
    return grid.get("rowCount") == table.rows and grid.get("columnCount") == table.cols


def _structure_requests(
    tables: Sequence[Table], existing: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Add missing sheets and size every changed sheet exactly: no stale cells beyond the new table."""
    requests: list[dict[str, Any]] = []
    for table in tables:
        grid = {"rowCount": table.rows, "columnCount": table.cols}
        properties = existing.get(table.name)
        if properties is None:
            requests.append({"addSheet": {"properties": {"title": table.name, "gridProperties": grid}}})
        elif not _same_grid(properties, table):
            requests.append(
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": properties["sheetId"], "gridProperties": grid},
                        "fields": "gridProperties(rowCount,columnCount)",
                    }
                }
            )
    return requests


def chunked(tables: Sequence[Table], limits: Limits) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """``values.batchUpdate`` data in requests within ``limits``, with the tables each one completes.

    Every row is sent full width (empty cells as ""), so a sheet rewritten over an older,
    wider table keeps nothing of it.  A single row over the limits still goes, alone.
    """
    batch = _Batch(limits)
    for table in tables:
        start, block = 0, []
        for number, row in enumerate(table.values or [[""]]):
            row_size = len(json.dumps(row, ensure_ascii=False).encode("utf-8")) + 1
            overhead = 0 if block else len(table.name.encode("utf-8")) + _ENTRY_OVERHEAD
            if batch.cells and not batch.fits(len(row), row_size + overhead):
                if block:
                    batch.data.append(_entry(table.name, start, block, table.cols))
                yield batch.take()
                block, overhead = [], len(table.name.encode("utf-8")) + _ENTRY_OVERHEAD
            if not block:
                start = number
            block.append(row)
            batch.cells += len(row)
            batch.size += row_size + overhead
        batch.data.append(_entry(table.name, start, block, table.cols))
        batch.completed.append(table.name)
    if batch.data:
        yield batch.take()


_ENTRY_OVERHEAD = 80  # the range and the keys of one data entry, in bytes of JSON


@dataclass
class _Batch:
    limits: Limits
    data: list[dict[str, Any]] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    cells: int = 0
    size: int = 0

    def fits(self, cells: int, size: int) -> bool:
        return self.cells + cells <= self.limits.max_cells and self.size + size <= self.limits.max_bytes

    def take(self) -> tuple[list[dict[str, Any]], list[str]]:
        taken = (self.data, self.completed)
        self.data, self.completed, self.cells, self.size = [], [], 0, 0
        return taken


def _entry(name: str, start: int, rows: list[list[Any]], cols: int) -> dict[str, Any]:
    first, last = rowcol_to_a1(start + 1, 1), rowcol_to_a1(start + len(rows), cols)
    return {"range": absolute_range_name(name, f"{first}:{last}"), "majorDimension": "ROWS", "values": rows}


# ---------------------------------------------------------------------------- state


def load_state(path: Path, key: str) -> dict[str, str]:
    """Fingerprints of the sheets last published to ``key``; anything unreadable means "none"."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or data.get("spreadsheet") != key:
        return {}
    sheets = data.get("sheets")
    return {str(k): str(v) for k, v in sheets.items()} if isinstance(sheets, dict) else {}


def save_state(path: Path, key: str, sheets: Mapping[str, str]) -> None:
    """Replace the state file in one step, so a crash leaves the old state or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = {"version": STATE_VERSION, "spreadsheet": key, "sheets": dict(sorted(sheets.items()))}
    temporary.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temporary, path)
