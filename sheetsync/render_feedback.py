"""The feedback workbook each submitter gets back for each file, and the 回执 CSV of receipts.

The feedback is a NEW workbook written with XlsxWriter from the raw cells that
:func:`sheetsync.read.read_workbook` gives, not the submitted file edited in place: openpyxl
drops what it does not understand (images, charts, some data validation) so an edited copy
would quietly differ from what was sent, and .xls, .ods and .csv cannot be edited in place at
all. Rebuilding from the same raw cells validation saw keeps every cell at the address the
problems name, whatever the format, and never evaluates a formula (only cached values exist).

Layout: 反馈摘要 (what happened and what to do next), one copy of each submitted sheet with
the bad cells coloured and commented, then 问题清单 (every problem, linked to its cell).

Submitters type whatever they like, and their text also comes back inside file and sheet names
and inside messages. Every text is written with ``write_string``; text that Excel would take for
the start of a formula once somebody edits the cell (``=``, ``+``, ``-``, ``@``, tab, CR) also
gets Excel's quote prefix, and the one shape XlsxWriter would copy into the XML as ready-made
rich text (``<r>…</r>``) is written as plain runs of a rich string. The receipt CSV, which Excel
also opens, gets a leading apostrophe on such text for the same reason.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_cell_to_rowcol
from xlsxwriter.worksheet import Worksheet

from sheetsync.errors import Problem, Severity
from sheetsync.normalize import FORMULA_STARTS
from sheetsync.read import RawSheet, RawWorkbook, UnreadableFile, file_hash, read_workbook
from sheetsync.records import FILE_STATUS_LABELS, FileResult, FileStatus, SheetResult
from sheetsync.render_master import SEVERITY_LABELS, STATUS_STYLES
from sheetsync.schemas import SHEETS_BY_NAME, SheetModel
from sheetsync.schemas.stamp import HELPER_SHEETS
from sheetsync.validate import HEADER_SCAN_ROWS, header_key

SUMMARY_SHEET = "反馈摘要"
PROBLEMS_SHEET = "问题清单"
FEEDBACK_MARK = "_反馈_"
TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"
DISPLAY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# File names are limited to 255 bytes; the stem of a long Chinese name is cut so that the
# feedback name and its temporary sibling (``.<name>.<12 hex>.tmp``) both fit.
MAX_STEM_BYTES = 200

# Strong colours for cells to fix, a pale one for the rest of a row that was kept out, so an
# officer sees at a glance both which rows did not get in and which cell is why.
ERROR_FILL = "#FF7C80"
WARNING_FILL = "#FFC000"
REJECTED_ROW_FILL = "#FCE4E4"
LINK_STYLE = {"font_color": "#0563C1", "underline": 1}

PROBLEM_COLUMNS: tuple[tuple[str, int], ...] = (
    ("严重程度", 9),
    ("工作表", 16),
    ("单元格", 8),
    ("列名", 16),
    ("填写值", 20),
    ("问题", 16),
    ("修改说明", 60),
    ("代码", 18),
)
SHEET_TABLE_COLUMNS: tuple[str, ...] = (
    "工作表",
    "对应约定表",
    "数据行数",
    "接收行数",
    "退回行数",
    "错误数",
    "提示数",
    "备注",
)

RECEIPT_HEADER: tuple[str, ...] = (
    "处理时间",
    "填报单位",
    "文件",
    "文件哈希",
    "处理结果",
    "接收行数",
    "退回行数",
    "错误数",
    "提示数",
    "反馈文件",
)

COLOUR_LEGEND: tuple[tuple[str, str], ...] = (
    (ERROR_FILL, "红色单元格:有错误,必须修改。鼠标指向单元格可看到说明。"),
    (WARNING_FILL, "黄色单元格:提示,不影响接收,请核对。"),
    (REJECTED_ROW_FILL, "浅红色整行:该行因红色单元格的错误未被接收。"),
)

# Text that Excel would take for the start of a formula once somebody edits the cell.
_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_MAX_SHEET_NAME = 31
_MAX_LINKS_PER_SHEET = 65530  # XlsxWriter's (and Excel's) limit
_MAX_COLUMN_WIDTH = 40
_WIDTH_SAMPLE_ROWS = 200
_COMMENT_WIDTH = 320
_COMMENT_CHARS_PER_LINE = 20
_FIRST_EXCEL_YEAR = 1900
_SUMMARY_LINE_WIDTH = 130  # width units across columns A–H of 反馈摘要, a little under their sum
_LINE_HEIGHT = 15
_MAX_BULLETS = 20
A4_PAPER = 9


# --- public API -----------------------------------------------------------------------------


def feedback_name(source: Path, processed_at: datetime) -> str:
    """``<stem>_反馈_<yyyymmdd-HHMMSS>.xlsx``: sorts by time and says which file it answers."""
    stem = _cut_utf8(source.stem, MAX_STEM_BYTES) or "文件"
    return f"{stem}{FEEDBACK_MARK}{_naive(processed_at).strftime(TIMESTAMP_FORMAT)}.xlsx"


def write_feedback(
    result: FileResult, source: Path, out_dir: Path, *, submitter: str, processed_at: datetime
) -> Path:
    """Write the feedback workbook for one processed file into ``out_dir`` and return its path.

    Written to a temporary file beside the target and moved into place, so a submitter opening
    the folder mid-run never sees half a workbook.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / feedback_name(source, processed_at)
    book_raw, copy_note = _load_copy(source, result)
    with _staged(target) as temporary:
        book = Workbook(str(temporary), {"strings_to_formulas": False, "strings_to_urls": False})
        try:
            _write_book(book, _Feedback(result, submitter, processed_at, book_raw, copy_note))
        finally:
            book.close()
    return target


def append_receipt(
    receipt_csv: Path,
    result: FileResult,
    *,
    submitter: str,
    processed_at: datetime,
    feedback_path: Path | None,
) -> None:
    """Append one receipt line; the header (and a BOM, for Excel on Chinese Windows) on a new file.

    The line goes out in one write on a file opened for appending, so earlier lines are never
    touched; a last line left without its line end by an interrupted run is ended first.
    """
    row = [
        _naive(processed_at).strftime(DISPLAY_TIME_FORMAT),
        submitter,
        result.path,
        result.file_hash,
        FILE_STATUS_LABELS[result.status],
        result.rows_accepted,
        result.rows_rejected,
        _count(result.problems, Severity.ERROR),
        _count(result.problems, Severity.WARNING),
        _receipt_link(receipt_csv, feedback_path),
    ]
    receipt_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(receipt_csv, "a+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        text = _csv_line([_csv_safe(v) for v in row])
        if size == 0:
            payload = b"\xef\xbb\xbf" + (_csv_line(RECEIPT_HEADER) + text).encode("utf-8")
        else:
            handle.seek(size - 1)
            payload = (b"" if handle.read(1) == b"\n" else b"\r\n") + text.encode("utf-8")
        handle.write(payload)


# --- what goes into the workbook ------------------------------------------------------------


@dataclass
class _SheetMarks:
    """What to colour on one copied sheet: problems by (row, col), rejected rows (0-based)."""

    cells: dict[tuple[int, int], list[Problem]] = field(default_factory=lambda: defaultdict(list))
    rejected_rows: set[int] = field(default_factory=set)


@dataclass
class _Copy:
    raw: RawSheet
    name: str  # the copy's name in the feedback workbook (valid for Excel, unique)
    model: type[SheetModel] | None
    marks: _SheetMarks


class _Feedback:
    """One feedback workbook's content, worked out before anything is written."""

    def __init__(
        self,
        result: FileResult,
        submitter: str,
        processed_at: datetime,
        raw: RawWorkbook | None,
        copy_note: str | None,
    ) -> None:
        self.result = result
        self.submitter = submitter
        self.processed_at = processed_at
        self.copy_note = copy_note
        self.copies = _plan_copies(raw, result)
        self.copy_by_source = {copy.raw.name: copy for copy in self.copies}
        self.problems = _problem_order(result.problems, [copy.raw.name for copy in self.copies])
        for problem in self.problems:
            located = self.locate(problem)
            if located is not None:
                copy, row, col = located
                copy.marks.cells[(row, col)].append(problem)

    def locate(self, problem: Problem) -> tuple[_Copy, int, int] | None:
        """The copied sheet and 0-based cell a problem points at; ``None`` for file/sheet level."""
        copy = self.copy_by_source.get(problem.sheet or "")
        if copy is None or not problem.cell:
            return None
        try:
            row, col = xl_cell_to_rowcol(problem.cell)
        except (AttributeError, ValueError):
            return None
        return copy, row, col

    def unlocated(self, severity: Severity) -> list[Problem]:
        return [p for p in self.problems if p.severity is severity and self.locate(p) is None]


def _load_copy(source: Path, result: FileResult) -> tuple[RawWorkbook | None, str | None]:
    """The raw cells to copy, or why there are none; never the cells of a different file."""
    if not result.readable:
        return None, None
    try:
        if result.file_hash and file_hash(source) != result.file_hash:
            return None, "文件在处理期间被替换,本反馈未附带副本;新文件将在下一次处理时检查。"
        return read_workbook(source), None
    except (OSError, UnreadableFile):
        return None, "处理后无法再次读取该文件,本反馈未附带副本。"


def _plan_copies(raw: RawWorkbook | None, result: FileResult) -> list[_Copy]:
    if raw is None:
        return []
    taken = {SUMMARY_SHEET.lower(), PROBLEMS_SHEET.lower()}
    checked = {sheet.source_sheet: sheet for sheet in result.sheets}
    copies: list[_Copy] = []
    for sheet in raw.sheets:
        if sheet.name in HELPER_SHEETS:
            continue
        checked_sheet = checked.get(sheet.name)
        marks = _SheetMarks(rejected_rows={row - 1 for row in _rejected(checked_sheet)})
        model = SHEETS_BY_NAME.get(checked_sheet.sheet_name) if checked_sheet else None
        copies.append(_Copy(sheet, _sheet_name(sheet.name, taken), model, marks))
    return copies


def _cut_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def _rejected(sheet: SheetResult | None) -> set[int]:
    return set() if sheet is None else sheet.rejected_rows


def _sheet_name(name: str, taken: set[str]) -> str:
    """A name Excel accepts (≤31 chars, none of ``[]:*?/\\``, no edge apostrophe), unique."""
    base = _INVALID_SHEET_CHARS.sub("_", name).strip().strip("'") or "工作表"
    if base.lower() == "history":  # reserved by Excel
        base += "_"
    number = 1
    while True:
        suffix = "" if number == 1 else f"({number})"
        candidate = base[: _MAX_SHEET_NAME - len(suffix)].rstrip("'") + suffix
        if candidate.lower() not in taken:
            taken.add(candidate.lower())
            return candidate
        number += 1


def _problem_order(problems: Sequence[Problem], sheet_order: Sequence[str]) -> list[Problem]:
    """File-level first, then sheet by sheet in workbook order, row by row, left to right."""
    rank = {name: index for index, name in enumerate(sheet_order)}

    def key(problem: Problem) -> tuple[int, int, int, int]:
        if problem.sheet is None:
            return (0, 0, 0, 0)
        row, col = _rowcol(problem.cell)
        return (1, rank.get(problem.sheet, -1), row, col)

    return sorted(problems, key=key)


def _rowcol(cell: str | None) -> tuple[int, int]:
    try:
        return xl_cell_to_rowcol(cell) if cell else (-1, -1)
    except (AttributeError, ValueError):
        return (-1, -1)


# --- writing --------------------------------------------------------------------------------


class _Styles:
    """Formats made on demand and reused: XlsxWriter formats are per workbook and not free."""

    def __init__(self, book: Workbook) -> None:
        self._book = book
        self._cache: dict[tuple[tuple[str, Any], ...], Format] = {}

    def get(self, **props: Any) -> Format | None:
        if not props:
            return None
        key = tuple(sorted(props.items()))
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._book.add_format(props)
        return found


class _Cells:
    """Writes values into one sheet as typed: text only ever as text, dates as real dates."""

    def __init__(self, sheet: Worksheet, styles: _Styles) -> None:
        self.sheet = sheet
        self.styles = styles

    def text(self, row: int, col: int, text: str, **style: Any) -> None:
        if not text:
            self.blank(row, col, **style)
        elif text[0] in FORMULA_STARTS:
            self.sheet.write_string(row, col, text, self.styles.get(**style, quote_prefix=True))
        elif text.startswith("<r>") and text.endswith("</r>"):
            self._markup_lookalike(row, col, text, style)
        else:
            self.sheet.write_string(row, col, text, self.styles.get(**style))

    def _markup_lookalike(self, row: int, col: int, text: str, style: dict[str, Any]) -> None:
        """XlsxWriter copies a string shaped ``<r>…</r>`` into the XML as ready-made rich text.

        As three plain runs of a rich string it is escaped like any other text, so a submitter
        cannot break (or inject into) the workbook, and it reads back unchanged.
        """
        runs: list[Any] = [text[:1], text[1:2], text[2:]]
        cell_format = self.styles.get(**style)
        if cell_format is not None:
            runs.append(cell_format)
        self.sheet.write_rich_string(row, col, *runs)

    def blank(self, row: int, col: int, **style: Any) -> None:
        cell_format = self.styles.get(**style)
        if cell_format is not None:
            self.sheet.write_blank(row, col, None, cell_format)

    def number(self, row: int, col: int, number: float, **style: Any) -> None:
        self.sheet.write_number(row, col, number, self.styles.get(**style))

    def value(self, row: int, col: int, value: Any, **style: Any) -> None:
        """A raw cell from the reader, in the kind of cell it came from."""
        if value is None or value == "":
            self.blank(row, col, **style)
        elif isinstance(value, str):
            self.text(row, col, value, **style)
        elif isinstance(value, bool):
            self.sheet.write_boolean(row, col, value, self.styles.get(**style))
        elif isinstance(value, int | float) and math.isfinite(value):
            self.number(row, col, value, **style)
        elif isinstance(value, date | time | timedelta):
            self._moment(row, col, value, style)
        else:
            self.text(row, col, str(value), **style)

    def _moment(self, row: int, col: int, value: date | time | timedelta, style: dict[str, Any]) -> None:
        if isinstance(value, date) and value.year < _FIRST_EXCEL_YEAR:
            self.text(row, col, value.isoformat(), **style)  # Excel cannot show it as a date
            return
        self.sheet.write_datetime(row, col, value, self.styles.get(**style, num_format=_date_format(value)))


def _date_format(value: date | time | timedelta) -> str:
    if isinstance(value, datetime):
        return "yyyy-mm-dd hh:mm:ss" if value.second else "yyyy-mm-dd hh:mm"
    if isinstance(value, date):
        return "yyyy-mm-dd"
    if isinstance(value, time):
        return "hh:mm:ss"
    return "[h]:mm:ss"


def _write_book(book: Workbook, feedback: _Feedback) -> None:
    styles = _Styles(book)
    summary = book.add_worksheet(SUMMARY_SHEET)
    _write_summary(summary, styles, feedback)
    _set_up_printing(summary)
    for copy in feedback.copies:
        sheet = book.add_worksheet(copy.name)
        _write_copy(sheet, styles, copy)
        _set_up_printing(sheet)
    problems = book.add_worksheet(PROBLEMS_SHEET)
    _write_problems(problems, styles, feedback)
    _set_up_printing(problems)
    problems.repeat_rows(0)
    summary.activate()


def _set_up_printing(sheet: Worksheet) -> None:
    """A4 landscape, all columns on one page width: officers print feedback for a phone call."""
    sheet.set_paper(A4_PAPER)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)


# --- 反馈摘要 ---------------------------------------------------------------------------------


def _write_summary(sheet: Worksheet, styles: _Styles, feedback: _Feedback) -> None:
    result = feedback.result
    cells = _Cells(sheet, styles)
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, 1, 24)
    sheet.set_column(2, len(SHEET_TABLE_COLUMNS) - 2, 10)
    sheet.set_column(len(SHEET_TABLE_COLUMNS) - 1, len(SHEET_TABLE_COLUMNS) - 1, 30)
    cells.text(0, 0, "清洁生产填报反馈", bold=True, font_size=16)
    row = 2
    for label, value in _summary_facts(feedback):
        cells.text(row, 0, label, bold=True)
        if isinstance(value, int):
            cells.number(row, 1, value, align="left")
        elif label == "处理结果":
            cells.text(row, 1, value, **STATUS_STYLES[result.status], bold=True)
        else:
            cells.text(row, 1, value)
        row += 1
    row = _write_sheet_table(cells, row + 1, feedback)
    row = _write_lines(cells, row + 1, "下一步", _next_steps(feedback))
    _write_legend(cells, row + 1, bool(feedback.copies))


def _summary_facts(feedback: _Feedback) -> list[tuple[str, str | int]]:
    result = feedback.result
    facts: list[tuple[str, str | int]] = [
        ("文件", Path(result.path).name),
        ("共享盘位置", result.path),
        ("填报单位", feedback.submitter),
    ]
    if result.stamp is not None and result.stamp.period:
        facts.append(("填报期间", result.stamp.period))
    facts += [
        ("处理时间", _naive(feedback.processed_at).strftime(DISPLAY_TIME_FORMAT)),
        ("处理结果", FILE_STATUS_LABELS[result.status]),
        ("接收行数", result.rows_accepted),
        ("退回行数", result.rows_rejected),
        ("错误数", _count(result.problems, Severity.ERROR)),
        ("提示数", _count(result.problems, Severity.WARNING)),
    ]
    return facts


def _write_sheet_table(cells: _Cells, row: int, feedback: _Feedback) -> int:
    entries = _sheet_entries(feedback)
    if not entries:
        return row
    cells.text(row, 0, "各工作表情况", bold=True, font_size=12)
    row += 1
    for col, header in enumerate(SHEET_TABLE_COLUMNS):
        cells.text(row, col, header, bold=True, bg_color="#DDEBF7", border=1)
    for name, checked, note in entries:
        row += 1
        mine = [p for p in feedback.result.problems if p.sheet == name]
        cells.text(row, 0, name)
        cells.text(row, 1, checked.sheet_name if checked else "—")
        counts = (
            (checked.rows_seen, checked.rows_accepted, len(checked.rejected_rows)) if checked else (0, 0, 0)
        )
        for col, number in enumerate(
            (*counts, _count(mine, Severity.ERROR), _count(mine, Severity.WARNING)), 2
        ):
            cells.number(row, col, number)
        cells.text(row, len(SHEET_TABLE_COLUMNS) - 1, note)
    return row + 1


def _sheet_entries(feedback: _Feedback) -> list[tuple[str, SheetResult | None, str]]:
    """(sheet as the submitter named it, its check, a note): every copied sheet, else every checked one."""
    checked = {sheet.source_sheet: sheet for sheet in feedback.result.sheets}
    if not feedback.copies:
        return [(name, sheet, "") for name, sheet in checked.items()]
    entries = []
    for copy in feedback.copies:
        sheet = checked.get(copy.raw.name)
        not_read = sheet is None or any(
            p.sheet == copy.raw.name and p.is_error and feedback.locate(p) is None for p in feedback.problems
        )
        notes = ["本表数据未读取,见“下一步”"] if not_read else []
        if copy.name != copy.raw.name:
            notes.append(f"本反馈中的工作表名为“{copy.name}”")
        entries.append((copy.raw.name, sheet, ";".join(notes)))
    return entries


def _write_lines(cells: _Cells, row: int, title: str, lines: Iterable[str]) -> int:
    """Each line across the summary's width, wrapped, so it reads and prints whole."""
    cells.text(row, 0, title, bold=True, font_size=12)
    last_col = len(SHEET_TABLE_COLUMNS) - 1
    style = {"text_wrap": True, "valign": "top"}
    for line in lines:
        row += 1
        cells.sheet.merge_range(row, 0, row, last_col, "", cells.styles.get(**style))
        cells.text(row, 0, line, **style)
        _fit_row(cells.sheet, row, line, _SUMMARY_LINE_WIDTH)
    return row + 1


def _fit_row(sheet: Worksheet, row: int, text: str, width: int) -> None:
    """Tall enough for wrapped text: neither Excel nor WPS grows a row written by XlsxWriter."""
    lines = math.ceil(_display_width(text) / max(1, width - 2))
    if lines > 1:
        sheet.set_row(row, _LINE_HEIGHT * lines)


def _write_legend(cells: _Cells, row: int, has_copies: bool) -> None:
    if not has_copies:
        return
    cells.text(row, 0, "颜色说明", bold=True, font_size=12)
    for offset, (colour, text) in enumerate(COLOUR_LEGEND, start=1):
        cells.blank(row + offset, 0, bg_color=colour, border=1)
        cells.text(row + offset, 1, text)


def _next_steps(feedback: _Feedback) -> list[str]:
    """What the submitter should do now, in the order they should do it."""
    result = feedback.result
    folder = f"“{feedback.submitter}”文件夹"
    lines = [_headline(result)]
    blocking = feedback.unlocated(Severity.ERROR)
    if blocking:
        lines.append("请先处理以下问题:")
        lines += _bullets(blocking)
    if result.status is FileStatus.UNREADABLE:
        lines.append(f"处理好后,把文件重新放入{folder}即可。")
        return lines
    if feedback.copy_note:
        lines.append(feedback.copy_note)
    if result.rows_rejected:
        lines.append(
            f"有 {result.rows_rejected} 行未被接收。请修改各工作表中标红的单元格"
            "(鼠标指向单元格可看到说明,全部问题见“问题清单”工作表,点击单元格地址可跳转),"
            f"然后把修改后的整个文件重新放入{folder}。"
        )
    elif blocking:
        lines.append(f"改好后,把整个文件重新放入{folder}。")
    if result.rows_accepted and result.has_errors:
        lines.append(
            f"已接收的 {result.rows_accepted} 行已经进入台账,无需单独重新提交;"
            "随整个文件一起重新提交也不会重复登记或改变任何内容。"
        )
    notes = feedback.unlocated(Severity.WARNING)
    if notes:
        lines.append("另有以下提示,不影响接收:")
        lines += _bullets(notes)
    if _count(result.problems, Severity.WARNING) > len(notes):
        lines.append("标黄的单元格是提示,不影响接收,请核对;如需更正,改好后重新提交整个文件即可。")
    if not result.has_errors and not _count(result.problems, Severity.WARNING):
        lines.append("无需任何操作。")
    return lines


def _bullets(problems: Sequence[Problem]) -> list[str]:
    """One line each, up to a screenful; the rest are in 问题清单 anyway."""
    lines = [_bullet(problem) for problem in problems[:_MAX_BULLETS]]
    if len(problems) > _MAX_BULLETS:
        lines.append(f"· ……另有 {len(problems) - _MAX_BULLETS} 条,见“问题清单”工作表。")
    return lines


def _bullet(problem: Problem) -> str:
    """A file- or sheet-level problem; sheet-level messages do not all name their sheet."""
    where = f"工作表“{problem.sheet}”" if problem.sheet else ""
    if problem.cell:
        where += f"{problem.cell}单元格"
    return f"· {where}{'—' if where else ''}{problem.title}:{problem.message}"


def _headline(result: FileResult) -> str:
    status = result.status
    if status is FileStatus.UNREADABLE:
        return "文件无法读取,本次没有接收任何数据。"
    if status is FileStatus.REJECTED:
        return "本文件未被接收,台账没有任何变化。"
    if status is FileStatus.PARTLY_ACCEPTED:
        return f"已接收 {result.rows_accepted} 行,退回 {result.rows_rejected} 行。"
    if result.rows_accepted == 0:
        return "文件已处理,其中没有需要登记的数据行。"
    return f"全部 {result.rows_accepted} 行数据已接收。"


# --- copies of the submitted sheets ---------------------------------------------------------


def _write_copy(sheet: Worksheet, styles: _Styles, copy: _Copy) -> None:
    raw, marks = copy.raw, copy.marks
    cells = _Cells(sheet, styles)
    header = raw.first_row + _header_offset(raw, copy.model)
    width = max((len(row) for row in raw.rows), default=0)
    rows = range(raw.first_row, raw.first_row + len(raw.rows))
    cols = range(raw.first_col, raw.first_col + width)
    for row, values in zip(rows, raw.rows, strict=True):
        for col, value in zip(cols, [*values, *[None] * (width - len(values))], strict=True):
            cells.value(row, col, value, **_cell_style(row, col, marks, bold=row == header))
    for (row, col), problems in marks.cells.items():
        if row not in rows or col not in cols:  # e.g. a missing column's cell right of the data
            cells.blank(row, col, **_cell_style(row, col, marks, bold=row == header))
        sheet.write_comment(row, col, _comment_text(problems), _comment_options(problems))
    _set_widths(sheet, raw)
    if raw.rows:
        sheet.freeze_panes(header + 1, 0)


def _cell_style(row: int, col: int, marks: _SheetMarks, *, bold: bool) -> dict[str, Any]:
    style: dict[str, Any] = {"bold": True} if bold else {}
    problems = marks.cells.get((row, col))
    if problems:
        is_error = any(problem.is_error for problem in problems)
        style["bg_color"] = ERROR_FILL if is_error else WARNING_FILL
    elif row in marks.rejected_rows:
        style["bg_color"] = REJECTED_ROW_FILL
    return style


def _header_offset(raw: RawSheet, model: type[SheetModel] | None) -> int:
    """Where the header row is: the row naming most contract columns, else the first non-blank."""
    if model is not None:
        known = {
            header_key(label)
            for column in model.columns().values()
            for label in (column.header, *column.aliases)
        }
        scores = [len({header_key(cell) for cell in row} & known) for row in raw.rows[:HEADER_SCAN_ROWS]]
        if scores and max(scores) > 0:
            return scores.index(max(scores))
    return next((i for i, row in enumerate(raw.rows) if any(v not in (None, "") for v in row)), 0)


def _comment_text(problems: Sequence[Problem]) -> str:
    return "\n\n".join(
        f"【{SEVERITY_LABELS[problem.severity]}】{problem.title}\n{problem.message}" for problem in problems
    )


def _comment_options(problems: Sequence[Problem]) -> dict[str, Any]:
    text = _comment_text(problems)
    lines = sum(max(1, math.ceil(len(line) / _COMMENT_CHARS_PER_LINE)) for line in text.split("\n"))
    return {
        "author": "sheetsync",
        "width": _COMMENT_WIDTH,
        "height": min(600, 24 + 18 * lines),
        "color": "#FFFFE1",
    }


def _set_widths(sheet: Worksheet, raw: RawSheet) -> None:
    """Columns about as wide as their text (CJK counts double), so the copy reads like the original."""
    widths: dict[int, int] = {}
    for values in raw.rows[:_WIDTH_SAMPLE_ROWS]:
        for index, value in enumerate(values):
            widths[index] = max(widths.get(index, 8), _display_width(value) + 2)
    for index, width in widths.items():
        col = raw.first_col + index
        sheet.set_column(col, col, min(width, _MAX_COLUMN_WIDTH))


def _display_width(value: Any) -> int:
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    text = str(value) if value is not None else ""
    return sum(2 if ord(char) > 0x2E7F else 1 for char in text)


# --- 问题清单 ---------------------------------------------------------------------------------


def _write_problems(sheet: Worksheet, styles: _Styles, feedback: _Feedback) -> None:
    cells = _Cells(sheet, styles)
    for col, (header, width) in enumerate(PROBLEM_COLUMNS):
        sheet.set_column(col, col, width)
        cells.text(0, col, header, bold=True, bg_color="#DDEBF7", border=1, text_wrap=True)
    links = 0
    for row, problem in enumerate(feedback.problems, start=1):
        fill = ERROR_FILL if problem.is_error else WARNING_FILL
        cells.text(row, 0, SEVERITY_LABELS[problem.severity], bg_color=fill, valign="top")
        cells.text(row, 1, problem.sheet or "", valign="top")
        located = feedback.locate(problem)
        if located is not None and problem.cell and links < _MAX_LINKS_PER_SHEET:
            link = _internal_link(located[0].name, problem.cell)
            sheet.write_url(row, 2, link, styles.get(**LINK_STYLE, valign="top"), problem.cell)
            links += 1
        else:
            cells.text(row, 2, problem.cell or "", valign="top")
        for col, text in enumerate((problem.header, problem.value, problem.title), start=3):
            cells.text(row, col, text or "", valign="top")
        cells.text(row, 6, problem.message, text_wrap=True, valign="top")
        _fit_row(sheet, row, problem.message, PROBLEM_COLUMNS[6][1])
        cells.text(row, 7, problem.code, valign="top")
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(1, len(feedback.problems)), len(PROBLEM_COLUMNS) - 1)
    if not feedback.problems:
        cells.text(1, 0, "没有发现问题。")


def _internal_link(sheet_name: str, cell: str) -> str:
    return "internal:'" + sheet_name.replace("'", "''") + "'!" + cell


# --- receipts -------------------------------------------------------------------------------


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def _csv_safe(value: Any) -> Any:
    """Text Excel would run as a formula when it opens the CSV gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def _receipt_link(receipt_csv: Path, feedback_path: Path | None) -> str:
    """The feedback file relative to the receipt's folder when it is inside it, so links survive a move."""
    if feedback_path is None:
        return ""
    try:
        return feedback_path.relative_to(receipt_csv.parent).as_posix()
    except ValueError:
        return str(feedback_path)


# --- shared pieces --------------------------------------------------------------------------


def _count(problems: Iterable[Problem], severity: Severity) -> int:
    return sum(1 for problem in problems if problem.severity is severity)


def _naive(moment: datetime) -> datetime:
    """Local wall-clock time: submitters read the time as their office clock shows it."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone().replace(tzinfo=None)


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A fresh file beside ``path`` that replaces it on success and disappears on failure.

    Beside, not in the system temp folder, so that the final move is a rename on one file system.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
