"""The master workbook (总台账) the municipal office opens every morning.

It is written with XlsxWriter in constant-memory mode: every sheet is streamed row by row, top
to bottom, so a national roll-up of a few hundred thousand enterprises never has to sit in
memory as cell objects. That is why each sheet is one function that writes its rows strictly
in order, why formats are created once per workbook (:class:`Formats`) and why each register
column gets its converter once per sheet instead of deciding per cell.

Submitters type whatever they like into text cells. Every text goes through
:meth:`_TextCells.write`, which only ever stores it as a string: a ``=``, ``+``, ``-`` or ``@`` at the
start gets Excel's quote prefix so that editing the cell later does not turn it into a formula,
and the one shape XlsxWriter would copy into the XML unescaped (``<r>…</r>``) is written as
plain runs of a rich string instead.

More sheets are added by writing one more ``_write_*_sheet`` function and listing it in
:func:`_sheet_writers`.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from sheetsync.errors import Problem, Severity
from sheetsync.normalize import CellProblem
from sheetsync.records import FILE_STATUS_LABELS, FileStatus, FileSummary, RunInfo, StoredRecord
from sheetsync.schemas import SHEETS, Column, Kind, SheetModel

SUMMARY_SHEET = "运行摘要"
PROBLEMS_SHEET = "校验问题"

# Header and width of the provenance columns that follow a register sheet's contract columns.
PROVENANCE_COLUMNS: tuple[tuple[str, int], ...] = (
    ("填报单位", 12),
    ("来源文件", 30),
    ("来源行", 8),
    ("版本", 6),
    ("更新时间", 19),
)

PROBLEM_COLUMNS: tuple[tuple[str, int], ...] = (
    ("严重程度", 9),
    ("填报单位", 12),
    ("文件", 30),
    ("工作表", 12),
    ("单元格", 8),
    ("列名", 16),
    ("填写值", 20),
    ("问题", 16),
    ("修改说明", 60),
    ("代码", 18),
)
PROBLEM_MESSAGE_COLUMN = 8

FILE_COLUMNS: tuple[tuple[str, int], ...] = (
    ("填报单位", 16),
    ("文件", 36),
    ("处理结果", 12),
    ("接收行数", 10),
    ("退回行数", 10),
    ("错误数", 10),
    ("提示数", 10),
    ("备注", 18),
)

SEVERITY_LABELS: dict[Severity, str] = {Severity.ERROR: "错误", Severity.WARNING: "提示"}
SKIPPED_NOTE = "内容未变,已跳过"
NO_FILES_NOTE = "本次没有收到文件"
LIST_SEPARATOR = "、"

# Excel's own good / neutral / bad cell styles, so the colours read the way officers know them.
_GOOD = {"bg_color": "#C6EFCE", "font_color": "#006100"}
_NEUTRAL = {"bg_color": "#FFEB9C", "font_color": "#9C5700"}
_BAD = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
STATUS_STYLES: dict[FileStatus, dict[str, str]] = {
    FileStatus.ACCEPTED: _GOOD,
    FileStatus.PARTLY_ACCEPTED: _NEUTRAL,
    FileStatus.REJECTED: _BAD,
    FileStatus.UNREADABLE: _BAD,
}

HEADER_ROW_HEIGHT = 32  # two lines of 11 pt text: long Chinese headers wrap instead of widening
A4_PAPER = 9
PAGE_HEADER = "&L&A"
PAGE_FOOTER = "&C第 &P 页,共 &N 页"

# Text that Excel would take for the start of a formula once somebody edits the cell.
_FORMULA_STARTS = frozenset("=+-@")

# 1900 date system; serials from 1900-03-01 on are plain day counts from this epoch (Excel
# invents a 29 Feb 1900 before that, so earlier days are written as text instead).
_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()
_FIRST_PLAIN_SERIAL_DAY = date(1900, 3, 1)
_SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class MasterInput:
    """Everything one master workbook is made from; each sheet function reads what it needs."""

    records: Mapping[str, Sequence[StoredRecord]]
    problems: Sequence[Problem]
    files: Sequence[FileSummary]
    run: RunInfo


class Formats:
    """Every cell format of the workbook, created once: XlsxWriter formats are per workbook."""

    def __init__(self, book: Workbook) -> None:
        header = {"bold": True, "text_wrap": True, "valign": "vcenter", "align": "center", "border": 1}
        self.header = book.add_format({**header, "bg_color": "#DDEBF7"})
        self.provenance_header = book.add_format({**header, "bg_color": "#EDEDED"})
        self.quoted = book.add_format({"quote_prefix": True})
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})
        self.wrap_quoted = book.add_format({"text_wrap": True, "valign": "top", "quote_prefix": True})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.title = book.add_format({"bold": True, "font_size": 16})
        self.section = book.add_format({"bold": True, "font_size": 12})
        self.label = book.add_format({"bold": True})
        self.value = book.add_format({"align": "left"})
        self.value_quoted = book.add_format({"align": "left", "quote_prefix": True})
        self.value_date = book.add_format({"align": "left", "num_format": "yyyy-mm-dd"})
        self.value_datetime = book.add_format({"align": "left", "num_format": "yyyy-mm-dd hh:mm:ss"})
        self.status = {status: book.add_format(style) for status, style in STATUS_STYLES.items()}
        self.severity = {
            Severity.ERROR: book.add_format({"bold": True, "font_color": _BAD["font_color"]}),
            Severity.WARNING: book.add_format({"font_color": _NEUTRAL["font_color"]}),
        }


SheetWriter = Callable[[Workbook, Formats, MasterInput], None]
CellWriter = Callable[[int, int, Any], None]


def write_master(
    path: Path,
    *,
    records: Mapping[str, Sequence[StoredRecord]],
    problems: Sequence[Problem],
    files: Sequence[FileSummary],
    run: RunInfo,
) -> Path:
    """Write the master workbook to ``path``; the old master stays whole until the new one is.

    Officers may open the master while the nightly run is writing it, and a run can die half
    way, so the workbook is finished in a temporary file beside ``path`` and moved over it in one
    step. Raises whatever the file system raises (for example when Excel on Windows holds the
    master open); the temporary file is removed in that case.
    """
    master = MasterInput(records=records, problems=problems, files=files, run=run)
    with _staged(Path(path)) as temporary:
        # Not closed on failure: assembling a workbook that is about to be thrown away would only
        # risk a second error hiding the first.
        book = Workbook(str(temporary), {"constant_memory": True})
        # The run's own time as creation time: the same input gives the same file.
        book.set_properties({"title": "总台账", "created": _naive(run.started_at)})
        formats = Formats(book)
        for write_sheet in _sheet_writers():
            write_sheet(book, formats, master)
        book.close()
    return Path(path)


def _sheet_writers() -> list[SheetWriter]:
    """The master's sheets in the order officers see them."""
    registers: list[SheetWriter] = [partial(_write_register_sheet, model) for model in SHEETS]
    return [_write_summary_sheet, *registers, _write_problems_sheet]


# --- 运行摘要 -------------------------------------------------------------------------------


def _write_summary_sheet(book: Workbook, formats: Formats, master: MasterInput) -> None:
    """What the run did, read first thing in the morning: when, under which rules, per file."""
    sheet = book.add_worksheet(SUMMARY_SHEET)
    text = _TextCells(sheet, formats.value, formats.value_quoted)
    run, files = master.run, master.files
    for col, (_, width) in enumerate(FILE_COLUMNS):
        sheet.set_column(col, col, width)
    _set_up_printing(sheet)

    sheet.write_string(0, 0, run.profile_title, formats.title)
    sheet.write_string(2, 0, "基准日期", formats.label)
    _write_moment(sheet, 2, 1, run.as_of, formats.value_date, text)
    sheet.write_string(3, 0, "运行时间", formats.label)
    _write_moment(sheet, 3, 1, run.started_at, formats.value_datetime, text)
    sheet.write_string(4, 0, "规则方案", formats.label)
    text.write(4, 1, run.profile_name)
    sheet.write_string(5, 0, "共享盘", formats.label)
    text.write(5, 1, run.drive)
    row = 7
    sheet.write_string(row, 0, "汇总", formats.section)
    row += 1
    for label, count in _totals(files):
        sheet.write_string(row, 0, label, formats.label)
        sheet.write_number(row, 1, count, formats.value)
        row += 1

    row += 1
    sheet.write_string(row, 0, "各文件处理情况", formats.section)
    row += 1
    table_top = row
    _write_header_row(sheet, row, [header for header, _ in FILE_COLUMNS], formats.header)
    if not files:
        sheet.write_string(row + 1, 0, NO_FILES_NOTE)
        return
    _write_file_rows(sheet, formats, files, row + 1)
    sheet.autofilter(table_top, 0, table_top + len(files), len(FILE_COLUMNS) - 1)


def _totals(files: Sequence[FileSummary]) -> list[tuple[str, int]]:
    """The summary's counts; errors and warnings add up the file table below them."""
    by_status = [
        (FILE_STATUS_LABELS[status], sum(1 for summary in files if summary.status == status))
        for status in FileStatus
    ]
    return [
        ("提交文件数", len(files)),
        *by_status,
        (SKIPPED_NOTE, sum(1 for summary in files if summary.skipped_unchanged)),
        ("接收行数", sum(summary.rows_accepted for summary in files)),
        ("退回行数", sum(summary.rows_rejected for summary in files)),
        ("错误数", sum(summary.errors for summary in files)),
        ("提示数", sum(summary.warnings for summary in files)),
    ]


def _write_file_rows(
    sheet: Worksheet, formats: Formats, files: Sequence[FileSummary], first_row: int
) -> None:
    """One row per file, in the order the caller lists them (the profile's submitter order)."""
    text = _TextCells(sheet, None, formats.quoted)
    for row, summary in enumerate(files, start=first_row):
        text.write(row, 0, summary.submitter)
        text.write(row, 1, summary.file_name)
        sheet.write_string(row, 2, FILE_STATUS_LABELS[summary.status], formats.status[summary.status])
        sheet.write_number(row, 3, summary.rows_accepted)
        sheet.write_number(row, 4, summary.rows_rejected)
        sheet.write_number(row, 5, summary.errors)
        sheet.write_number(row, 6, summary.warnings)
        if summary.skipped_unchanged:
            sheet.write_string(row, 7, SKIPPED_NOTE)


# --- register sheets ------------------------------------------------------------------------


def _write_register_sheet(
    model: type[SheetModel], book: Workbook, formats: Formats, master: MasterInput
) -> None:
    """One contract sheet of the register, with where each row came from.

    Nothing here depends on the run (no run time, no problems), so two runs over an unchanged
    register give the same sheet cell for cell and officers can compare mornings.
    """
    sheet = book.add_worksheet(model.sheet_name)
    columns = model.columns()
    headers = [column.header for column in columns.values()]
    widths = [column.width for column in columns.values()]
    for col, width in enumerate([*widths, *(width for _, width in PROVENANCE_COLUMNS)]):
        sheet.set_column(col, col, width)
    sheet.set_row(0, HEADER_ROW_HEIGHT)
    _write_header_row(sheet, 0, headers, formats.header)
    _write_header_row(
        sheet,
        0,
        [header for header, _ in PROVENANCE_COLUMNS],
        formats.provenance_header,
        first_col=len(headers),
    )
    sheet.freeze_panes(1, 0)
    _set_up_printing(sheet, repeat_header=True)

    field_writers = [
        (col, name, _cell_writer(sheet, column, formats))
        for col, (name, column) in enumerate(columns.items())
    ]
    provenance = _provenance_writer(sheet, formats, first_col=len(headers))
    row = 0
    for row, record in enumerate(_by_key(master.records.get(model.sheet_name, ())), start=1):
        data = record.data
        for col, name, write in field_writers:
            value = data.get(name)
            if value is not None:
                write(row, col, value)
        provenance(row, record)
    sheet.autofilter(0, 0, row, len(headers) + len(PROVENANCE_COLUMNS) - 1)


def _by_key(records: Sequence[StoredRecord]) -> list[StoredRecord]:
    """Records in key order, whatever order the register handed them over in."""
    return sorted(records, key=lambda record: tuple(_sortable(part) for part in record.key))


def _sortable(part: Any) -> tuple[int, Any]:
    """Keys mix text and numbers (审核进度: code + round); keep each kind comparable with itself."""
    if part is None:
        return (0, 0)
    if isinstance(part, int | float | Decimal) and not isinstance(part, bool):
        return (1, part)
    return (2, str(part))


def _provenance_writer(
    sheet: Worksheet, formats: Formats, first_col: int
) -> Callable[[int, StoredRecord], None]:
    text = _TextCells(sheet, None, formats.quoted)
    write_number = sheet.write_number
    submitter_col, file_col, row_col, version_col, time_col = range(first_col, first_col + 5)

    def write(row: int, record: StoredRecord) -> None:
        text.write(row, submitter_col, record.submitter)
        text.write(row, file_col, record.file_name)
        write_number(row, row_col, record.source_row)
        write_number(row, version_col, record.version)
        _write_moment(sheet, row, time_col, record.recorded_at, formats.datetime, text)

    return write


def _cell_writer(sheet: Worksheet, column: Column, formats: Formats) -> CellWriter:
    """How this column's stored JSON-mode values become cells, decided once per sheet.

    The register stores dates as ISO text, decimals as text and lists as lists. The fast path
    reads exactly those; anything else goes through :meth:`Column.parse` and, if even that
    fails, is kept as text so that no stored value is ever dropped from the master.
    """
    text = _TextCells(sheet, None, formats.quoted)
    fallback = partial(_write_parsed, sheet, column, formats, text)
    match column.kind:
        case Kind.DATE:
            return _date_writer(sheet, formats.date, fallback)
        case Kind.INTEGER | Kind.DECIMAL:
            return _number_writer(sheet, fallback)
        case _:
            return _text_writer(text)


def _date_writer(sheet: Worksheet, date_format: Format, fallback: CellWriter) -> CellWriter:
    write_number = sheet.write_number

    def write(row: int, col: int, raw: Any) -> None:
        try:
            day = date.fromisoformat(raw) if raw.__class__ is str else raw
            serial = _excel_serial(day)
        except (TypeError, ValueError, AttributeError):
            serial = None
        if serial is None:
            fallback(row, col, raw)
        else:
            write_number(row, col, serial, date_format)

    return write


def _number_writer(sheet: Worksheet, fallback: CellWriter) -> CellWriter:
    write_number = sheet.write_number

    def write(row: int, col: int, raw: Any) -> None:
        try:
            write_number(row, col, float(raw))
        except (TypeError, ValueError):  # not numeric text, or NaN / infinity
            fallback(row, col, raw)

    return write


def _text_writer(text: _TextCells) -> CellWriter:
    """Text, choices, codes and phones as stored; lists (多选、多项) joined with 、 as submitted."""

    def write(row: int, col: int, raw: Any) -> None:
        text.write(row, col, raw if raw.__class__ is str else _display(raw))

    return write


def _write_parsed(
    sheet: Worksheet, column: Column, formats: Formats, text: _TextCells, row: int, col: int, raw: Any
) -> None:
    """The slow path for a stored value of an unexpected shape (an older register, say)."""
    try:
        value = column.parse(raw)
    except CellProblem:
        value = None
    serial = _excel_serial(value) if isinstance(value, date) else None
    if serial is not None:
        sheet.write_number(row, col, serial, formats.date)
    elif _is_finite_number(value):
        sheet.write_number(row, col, float(value))
    else:
        text.write(row, col, _display(raw))


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, int) and not isinstance(value, bool)


def _display(raw: Any) -> str:
    if isinstance(raw, list | tuple):
        return LIST_SEPARATOR.join(str(item) for item in raw)
    if isinstance(raw, date):
        return raw.isoformat()
    return str(raw)


# --- 校验问题 -------------------------------------------------------------------------------


def _write_problems_sheet(book: Workbook, formats: Formats, master: MasterInput) -> None:
    """Every problem of the run, errors first, each file's problems together."""
    sheet = book.add_worksheet(PROBLEMS_SHEET)
    for col, (_, width) in enumerate(PROBLEM_COLUMNS):
        sheet.set_column(col, col, width)
    sheet.set_row(0, HEADER_ROW_HEIGHT)
    _write_header_row(sheet, 0, [header for header, _ in PROBLEM_COLUMNS], formats.header)
    sheet.freeze_panes(1, 0)
    _set_up_printing(sheet, repeat_header=True)

    text = _TextCells(sheet, None, formats.quoted)
    message = _TextCells(sheet, formats.wrap, formats.wrap_quoted)
    submitters: dict[str, str] = {}
    for summary in master.files:
        submitters.setdefault(summary.file_name, summary.submitter)
    row = 0
    for row, problem in enumerate(_problem_order(master.problems, master.files), start=1):
        sheet.write_string(row, 0, SEVERITY_LABELS[problem.severity], formats.severity[problem.severity])
        for col, value in (
            (1, submitters.get(problem.file)),
            (2, problem.file),
            (3, problem.sheet),
            (4, problem.cell),
            (5, problem.header),
            (6, problem.value),
            (7, problem.title),
        ):
            if value:
                text.write(row, col, value)
        message.write(row, PROBLEM_MESSAGE_COLUMN, problem.message)
        text.write(row, PROBLEM_MESSAGE_COLUMN + 1, problem.code)
    sheet.autofilter(0, 0, row, len(PROBLEM_COLUMNS) - 1)


def _problem_order(problems: Sequence[Problem], files: Sequence[FileSummary]) -> list[Problem]:
    """Errors before warnings; within each, files in the summary table's order, then the rest.

    The sort is stable, so one file's problems keep the order validation found them in (sheet
    by sheet, row by row).
    """
    rank: dict[str, int] = {}
    for summary in files:
        rank.setdefault(summary.file_name, len(rank))
    for problem in problems:
        rank.setdefault(problem.file, len(rank))
    return sorted(problems, key=lambda problem: (not problem.is_error, rank[problem.file]))


# --- shared pieces --------------------------------------------------------------------------


class _TextCells:
    """Writes submitter text so that it can only ever be text, in one sheet with one format."""

    def __init__(self, sheet: Worksheet, plain: Format | None, quoted: Format) -> None:
        self._write_string = sheet.write_string
        self._write_rich_string = sheet.write_rich_string
        self._plain = plain
        self._quoted = quoted

    def write(self, row: int, col: int, text: str) -> None:
        first = text[:1]
        if not first:
            return
        if first in _FORMULA_STARTS:
            self._write_string(row, col, text, self._quoted)
        elif first == "<" and text.startswith("<r>") and text.endswith("</r>"):
            self._write_markup_lookalike(row, col, text)
        else:
            self._write_string(row, col, text, self._plain)

    def _write_markup_lookalike(self, row: int, col: int, text: str) -> None:
        """XlsxWriter copies a string shaped ``<r>…</r>`` into the XML as ready-made rich text.

        Written as three plain runs of a rich string it is escaped like any other text, so a
        submitter cannot break (or inject into) the master, and it reads back unchanged.
        """
        runs: list[Any] = [text[:1], text[1:2], text[2:]]
        if self._plain is not None:
            runs.append(self._plain)
        self._write_rich_string(row, col, *runs)


def _write_header_row(
    sheet: Worksheet, row: int, headers: Sequence[str], header_format: Format, first_col: int = 0
) -> None:
    for col, header in enumerate(headers, start=first_col):
        sheet.write_string(row, col, header, header_format)


def _set_up_printing(sheet: Worksheet, *, repeat_header: bool = False) -> None:
    """A4 landscape, all columns on one page width, the header row on every printed page."""
    sheet.set_paper(A4_PAPER)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.set_header(PAGE_HEADER)
    sheet.set_footer(PAGE_FOOTER)
    if repeat_header:
        sheet.repeat_rows(0)


def _write_moment(
    sheet: Worksheet, row: int, col: int, moment: date, moment_format: Format, text: _TextCells
) -> None:
    """A date or time as a real Excel date, or as ISO text if Excel cannot show it."""
    serial = _excel_serial(moment)
    if serial is None:
        text.write(row, col, moment.isoformat())
    else:
        sheet.write_number(row, col, serial, moment_format)


def _excel_serial(moment: date) -> float | None:
    """The 1900-system serial of a date or time; ``None`` before 1900-03-01."""
    if isinstance(moment, datetime):
        moment = _naive(moment)
        day = moment.date()
        if day < _FIRST_PLAIN_SERIAL_DAY:
            return None
        seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
        return day.toordinal() - _EPOCH_ORDINAL + seconds / _SECONDS_PER_DAY
    if moment < _FIRST_PLAIN_SERIAL_DAY:
        return None
    return moment.toordinal() - _EPOCH_ORDINAL


def _naive(moment: datetime) -> datetime:
    """Local wall-clock time: Excel has no time zones, officers read the machine's local time."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone().replace(tzinfo=None)


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A fresh file beside ``path`` that replaces it on success and disappears on failure.

    Beside, not in the system temp folder, so that the final move is a rename on one file
    system. The file is created with the usual permissions (umask applied) or with those of the
    master it replaces, so colleagues who could read yesterday's master can read today's.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        if path.exists():
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
