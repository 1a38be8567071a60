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
:func:`_sheet_writers`. The sheets that show the domain engine's verdicts (逾期预警, 证书到期, 进度,
专家抽取记录, 咨询机构评分) are tables of computed rows: each builds its rows as plain values or
:class:`~sheetsync.master.formulas.Formula` cells with a row style and hands them to
:func:`_write_table`.

The key numbers are native formulas (:mod:`sheetsync.master`), so they work in WPS, LibreOffice or
Excel with no Python at all: 进度 counts over the register sheets with COUNTIFS and SUMIFS, 审核进度
and 证书到期 compute days left and overdue / renewal flags from the dates and the cell named
基准日期 on 概览, and 概览 reads them all. Each formula is written with the value sheetsync computed
as its cached value, so a viewer that does not recalculate shows the same numbers. The whole
shape of the workbook (every sheet's headers and row count) is settled before the first sheet
is streamed, because formulas reach into sheets written later.

冲突待处理 lists the rows submitter isolation kept out, tonight's and the earlier ones no newer file
has replaced (:mod:`sheetsync.master.conflicts`). A register too big for one sheet (Excel's row
limit, or the job's ``max_register_rows``) is written as one workbook per submitter beside the
master, which keeps the summary sheets and links to them (:mod:`sheetsync.master.split`).

Memory: the workbook itself is never held; what write_master adds to its input is the plan (a
few references and flags per record) and one row of cells at a time. Its input (the register's
records and the domain's typed view of them) is what a large run's peak is made of.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import CellFormulaTuple, Worksheet

from sheetsync.domain import CertificateState
from sheetsync.errors import Problem, Severity
from sheetsync.master.conflicts import CONFLICT_SHEET, NEW_TONIGHT, Conflict, pending_conflicts
from sheetsync.master.formulas import AS_OF_NAME, Formula, cached, cell, quote_sheet
from sheetsync.master.layout import PROVENANCE_COLUMNS, Layout
from sheetsync.master.overview import (
    MISSING_MARK,
    OVERVIEW_SHEET,
    OVERVIEW_SUBTITLE,
    Overview,
    Sources,
    SubmitterLine,
)
from sheetsync.master.progress import (
    PROGRESS_HEADERS,
    SCOPE_KIND_LABELS,
    ProgressFormulas,
    ProgressRow,
    progress_rows,
)
from sheetsync.master.registers import (
    CERT_EXPIRY,
    CERT_STATE,
    OVERDUE,
    OVERDUE_MARK,
    Extra,
    ExtraColumn,
    RegisterFormulas,
    RowExtras,
    Shape,
    certificate_state,
    extra_columns,
)
from sheetsync.master.rows import RowStreamingSheet
from sheetsync.master.split import EXCEL_DATA_ROWS, SplitBook, SplitPlan, part_name, plan_split
from sheetsync.normalize import FORMULA_STARTS, CellProblem
from sheetsync.profile import Certificates, Profile, load_profile
from sheetsync.programme import ProgrammeView, WarningKind
from sheetsync.records import (
    FILE_STATUS_LABELS,
    FileStatus,
    FileSummary,
    Identity,
    RecordSource,
    RunInfo,
    StoredRecord,
    record_count,
    sorted_sheet,
)
from sheetsync.schemas import SHEETS, Audit, Column, Kind, SheetModel
from sheetsync.schemas.audit import REPORT_GRADES

SUMMARY_SHEET = "运行摘要"
PROBLEMS_SHEET = "校验问题"
OVERDUE_SHEET = "逾期预警"
CERTIFICATE_SHEET = "证书到期"
PROGRESS_SHEET = "进度"
PANEL_DRAW_SHEET = "专家抽取记录"
AGENCY_SCORE_SHEET = "咨询机构评分"

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


class NumberShape(StrEnum):
    """How a number column of a computed table is shown."""

    GENERAL = "General"
    INTEGER = "0"
    ONE_DECIMAL = "0.0"
    PERCENT = "0.0%"


@dataclass(frozen=True)
class TableColumn:
    """One column of a computed sheet: header, width, and how its numbers and texts are shown."""

    header: str
    width: int
    number: NumberShape = NumberShape.GENERAL
    wrap: bool = False


OVERDUE_COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("填报单位", 12),
    TableColumn("统一社会信用代码", 22),
    TableColumn("企业名称", 28),
    TableColumn("事项/阶段", 24),
    TableColumn("状态", 11),
    TableColumn("截止日期", 12),
    TableColumn("逾期天数", 10, NumberShape.INTEGER),
    TableColumn("原因", 60, wrap=True),
)
OVERDUE_STATE_COLUMN = 4
OVERDUE_DEADLINE_COLUMN = 5
OVERDUE_DAYS_COLUMN = 6
CERTIFICATE_COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("填报单位", 12),
    TableColumn("统一社会信用代码", 22),
    TableColumn("企业名称", 28),
    TableColumn("审核轮次", 9, NumberShape.INTEGER),
    TableColumn("证书类型", 22),
    TableColumn("发证日期", 12),
    TableColumn("有效期至", 12),
    TableColumn("状态", 9),
    TableColumn("剩余天数", 10, NumberShape.INTEGER),
    TableColumn("说明", 56, wrap=True),
)
CERTIFICATE_EXPIRY_COLUMN = 6
CERTIFICATE_STATE_COLUMN = 7
CERTIFICATE_DAYS_COLUMN = 8
PROGRESS_COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("范围", 14),
    TableColumn("范围类型", 10),
    TableColumn("指标", 18),
    TableColumn("单位", 9),
    TableColumn("完成", 12),
    TableColumn("目标", 12),
    TableColumn("完成率", 12, NumberShape.PERCENT),
    TableColumn("各单位目标之和", 14),
)
PROGRESS_RATIO_COLUMN = 6
if tuple(column.header for column in PROGRESS_COLUMNS) != PROGRESS_HEADERS:  # pragma: no cover
    raise RuntimeError("进度's columns and the formulas written for them disagree")
PANEL_DRAW_COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("抽取编号", 16),
    TableColumn("抽取时间", 18),
    TableColumn("企业", 28),
    TableColumn("用途", 8),
    TableColumn("随机种子", 14),
    TableColumn("专家组", 30, wrap=True),
    TableColumn("候补", 20, wrap=True),
    TableColumn("回避及原因", 50, wrap=True),
)
# The attributes a draw may carry each cell under, tried after the Chinese header itself: a
# :class:`sheetsync.panel_record.PanelRecord` offers ready texts (experts with their names, the seed
# as text so no digit is lost), plain objects and mappings may carry the raw values instead.
PANEL_DRAW_FIELDS: dict[str, tuple[str, ...]] = {
    "抽取编号": ("panel_id", "draw_id", "id"),
    "抽取时间": ("drawn_at", "drawn_on"),
    "企业": ("enterprise", "uscc"),
    "用途": ("purpose",),
    "随机种子": ("seed_text", "seed"),
    "专家组": ("panel_text", "panel", "members"),
    "候补": ("reserves_text", "reserves"),
    "回避及原因": ("exclusions_text", "exclusions"),
}
CONFLICT_COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("状态", 10),
    TableColumn("填报单位", 12),
    TableColumn("文件", 30, wrap=True),
    TableColumn("工作表", 10),
    TableColumn("单元格", 8),
    TableColumn("记录", 30, wrap=True),
    TableColumn("归属单位", 14, wrap=True),
    TableColumn("问题说明", 48, wrap=True),
    TableColumn("处理建议", 48, wrap=True),
    TableColumn("提交时间", 18),
)
AGENCY_SCORE_COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("咨询机构", 28),
    TableColumn("季度", 9),
    TableColumn("评估报告数", 10, NumberShape.INTEGER),
    *(TableColumn(grade, 7, NumberShape.INTEGER) for grade in REPORT_GRADES),
    TableColumn("平均分", 8, NumberShape.ONE_DECIMAL),
    TableColumn("逾期审核数", 10, NumberShape.INTEGER),
    TableColumn("得分", 8, NumberShape.ONE_DECIMAL),
    TableColumn("低于阈值", 9),
    TableColumn("说明", 56, wrap=True),
)
YES_NO = ("是", "否")
# Excel stores numbers as doubles: a longer integer (a draw's seed, say) is kept exactly as text
LARGEST_EXACT_INTEGER = 10**15

SEVERITY_LABELS: dict[Severity, str] = {Severity.ERROR: "错误", Severity.WARNING: "提示"}
SKIPPED_NOTE = "内容未变,已跳过"
NO_FILES_NOTE = "本次没有收到文件"
LIST_SEPARATOR = "、"

# Excel's own good / neutral / bad cell styles, so the colours read the way officers know them.
_GOOD = {"bg_color": "#C6EFCE", "font_color": "#006100"}
_NEUTRAL = {"bg_color": "#FFEB9C", "font_color": "#9C5700"}
_BAD = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}


class RowStyle(StrEnum):
    """How a computed row is marked: Excel's bad (red) and neutral (amber) fills, or red text."""

    PLAIN = "plain"
    RED = "red"
    AMBER = "amber"
    RED_TEXT = "red-text"


ROW_STYLES: dict[RowStyle, dict[str, Any]] = {
    RowStyle.PLAIN: {},
    RowStyle.RED: _BAD,
    RowStyle.AMBER: _NEUTRAL,
    RowStyle.RED_TEXT: {"bold": True, "font_color": _BAD["font_color"]},
}
WARNING_STYLES: dict[WarningKind, RowStyle] = {
    WarningKind.OVERDUE: RowStyle.RED,
    WarningKind.PAYMENT_ERROR: RowStyle.RED_TEXT,
    WarningKind.LATE: RowStyle.PLAIN,
}
# 证书到期 and 审核进度 are coloured by conditional formats over the formulas' results, so the
# colours follow 基准日期 when an officer changes it
CERTIFICATE_COLOURS: dict[CertificateState, dict[str, str]] = {
    CertificateState.RENEWAL_DUE: _NEUTRAL,
    CertificateState.EXPIRED: _BAD,
}
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

# 1900 date system; serials from 1900-03-01 on are plain day counts from this epoch (Excel
# invents a 29 Feb 1900 before that, so earlier days are written as text instead).
_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()
_FIRST_PLAIN_SERIAL_DAY = date(1900, 3, 1)
_SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class MasterInput:
    """Everything one master workbook is made from; each sheet function reads what it needs."""

    records: Mapping[str, Sequence[StoredRecord]]
    row_counts: Mapping[str, int]  # rows per register sheet, counted once (records may be read lazily)
    problems: Sequence[Problem]
    files: Sequence[FileSummary]
    run: RunInfo
    view: ProgrammeView | None = None  # None: the computed sheets carry their headers only
    panel_draws: Sequence[Any] = ()
    missing_submitters: Sequence[str] = ()  # submitters that sent nothing for this period
    # the register's submissions (newest first, with their problems): earlier conflicts still open
    submissions: Iterable[Mapping[str, Any]] = ()
    max_register_rows: int = EXCEL_DATA_ROWS
    published_path: Path | None = None  # where the master ends up; split workbooks go beside it


class Plan:
    """The workbook's shape and formulas, settled before the first sheet is streamed.

    Formulas reach into sheets written later (概览 reads 进度, 进度 counts over the register), so
    every sheet's headers and row count are known up front, and so are the computed rows.
    """

    def __init__(self, master: MasterInput) -> None:
        view = master.view
        # the day every formula is computed for: the view's, which its cached values belong to
        self.as_of = view.as_of if view is not None else master.run.as_of
        self.profile = _profile_of(master)
        self.progress = progress_rows(view) if view is not None else []
        self.conflicts: list[Conflict] = pending_conflicts(
            master.problems,
            master.files,
            master.submissions,
            master.records,
            self.profile,
            master.run.started_at,
        )
        self.split: SplitPlan | None = plan_split(
            master.records,
            master.max_register_rows,
            master.published_path,
            self.profile.submitters if self.profile is not None else (),
            row_counts=master.row_counts,
        )
        layout = Layout()
        for model in SHEETS:
            layout.add(
                model.sheet_name,
                [*(column.header for column in model.columns().values()), *_after_contract(model)],
                master.row_counts[model.sheet_name],
            )
        for name, columns, rows in (
            (OVERDUE_SHEET, OVERDUE_COLUMNS, len(view.overdue_items()) if view is not None else 0),
            (CERTIFICATE_SHEET, CERTIFICATE_COLUMNS, len(view.certificates) if view is not None else 0),
            (CONFLICT_SHEET, CONFLICT_COLUMNS, len(self.conflicts)),
            (PROGRESS_SHEET, PROGRESS_COLUMNS, len(self.progress)),
        ):
            layout.add(name, [column.header for column in columns], rows)
        self.layout = layout
        self.registers: RegisterFormulas | None = None
        self.progress_formulas: ProgressFormulas | None = None
        if view is not None:
            assert self.profile is not None  # a view always knows its profile (see _profile_of)
            self.registers = RegisterFormulas(view, self.profile, layout, master.records, _by_key)
            self.progress_formulas = ProgressFormulas(
                view, self.profile, layout, self.progress, split=self.split is not None
            )
        self.overview = Overview(
            view,
            self.profile,
            layout,
            Sources(
                overdue_sheet=OVERDUE_SHEET,
                overdue_owner=OVERDUE_COLUMNS[0].header,
                overdue_state=OVERDUE_COLUMNS[OVERDUE_STATE_COLUMN].header,
                certificate_sheet=CERTIFICATE_SHEET,
                certificate_owner=CERTIFICATE_COLUMNS[0].header,
                certificate_state=CERTIFICATE_COLUMNS[CERTIFICATE_STATE_COLUMN].header,
                progress_sheet=PROGRESS_SHEET,
                conflict_sheet=CONFLICT_SHEET,
                conflict_state=CONFLICT_COLUMNS[0].header,
            ),
            self.progress,
            master.missing_submitters,
            conflicts=len(self.conflicts),
            split=self.split is not None,
        )

    @property
    def window(self) -> int:
        """Days before expiry a certificate is due for renewal (the rules' default without a profile)."""
        rules = self.profile.certificates if self.profile is not None else Certificates()
        return rules.renewal_window_days


def _profile_of(master: MasterInput) -> Profile | None:
    """The view's profile; without a view, the shipped profile of the run's name if there is one."""
    if master.view is not None and master.view.profile is not None:
        return master.view.profile
    try:
        return load_profile(master.run.profile_name)
    except KeyError:
        if master.view is not None:
            raise ValueError(
                f"the programme view has no profile and {master.run.profile_name!r} is not shipped"
            ) from None
        return None


def _after_contract(model: type[SheetModel]) -> list[str]:
    """The headers a register sheet has after its contract columns: provenance, then computed."""
    return [*(header for header, _ in PROVENANCE_COLUMNS), *(extra.header for extra in extra_columns(model))]


class RowFormats:
    """One row style in every cell shape a computed table needs: XlsxWriter cannot layer formats."""

    def __init__(self, book: Workbook, style: dict[str, Any]) -> None:
        self.filled = bool(style)
        self.text = book.add_format(style) if style else None
        self.quoted = book.add_format({**style, "quote_prefix": True})
        wrap = {**style, "text_wrap": True, "valign": "top"}
        self.wrap = book.add_format(wrap)
        self.wrap_quoted = book.add_format({**wrap, "quote_prefix": True})
        self.date = book.add_format({**style, "num_format": "yyyy-mm-dd"})
        self.datetime = book.add_format({**style, "num_format": "yyyy-mm-dd hh:mm:ss"})
        self.numbers: dict[NumberShape, Format | None] = {
            shape: book.add_format({**style, "num_format": shape.value}) for shape in NumberShape
        }
        if not style:
            self.numbers[NumberShape.GENERAL] = None  # a plain number needs no format of its own


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
        self.computed_header = book.add_format({**header, "bg_color": "#E2EFDA"})
        self.helper_header = book.add_format({**header, "bg_color": "#F2F2F2", "font_color": "#7F7F7F"})
        self.integer = book.add_format({"num_format": "0"})
        self.link = book.add_format({"font_color": "#0563C1", "underline": 1})
        self.percent = book.add_format({"num_format": NumberShape.PERCENT.value})
        self.missing = book.add_format({"bold": True, "font_color": _BAD["font_color"]})
        self.count = book.add_format({"bold": True, "align": "left", "font_size": 12})
        self.colours = {state: book.add_format(style) for state, style in CERTIFICATE_COLOURS.items()}
        self.overdue = book.add_format(_BAD)
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
        self.rows = {style: RowFormats(book, ROW_STYLES[style]) for style in RowStyle}


SheetWriter = Callable[[Workbook, Formats, MasterInput, Plan], None]
CellWriter = Callable[[int, int, Any], None]


def write_master(
    path: Path,
    *,
    records: Mapping[str, Sequence[StoredRecord]],
    problems: Sequence[Problem],
    files: Sequence[FileSummary],
    run: RunInfo,
    view: ProgrammeView | None = None,
    panel_draws: Sequence[Any] = (),
    missing_submitters: Sequence[str] = (),
    submissions: Iterable[Mapping[str, Any]] = (),
    max_register_rows: int = EXCEL_DATA_ROWS,
    published_path: Path | None = None,
) -> Path:
    """Write the master workbook to ``path``; the old master stays whole until the new one is.

    ``view`` is the domain engine's verdict on the same register (:func:`sheetsync.programme.evaluate`)
    and ``panel_draws`` the recorded expert draws; without them their sheets still appear, headed
    and empty, so the workbook's shape never depends on what a night had to say.
    ``missing_submitters`` are the submitters that sent nothing for this period, in the order
    概览 lists them. ``submissions`` are the register's earlier submissions
    (:meth:`sheetsync.store.Register.submissions`): the conflicts of those not yet replaced stay
    on 冲突待处理 (:mod:`sheetsync.master.conflicts`).

    When a register sheet has more than ``max_register_rows`` rows (by default as many as Excel
    takes), the register sheets go into one workbook per submitter beside the master
    (:mod:`sheetsync.master.split`), named after ``published_path`` (where the master is moved
    once written; default ``path``), and are written before the master that links to them.

    Officers may open the master while the nightly run is writing it, and a run can die half
    way, so the workbook is finished in a temporary file beside ``path`` and moved over it in one
    step. Raises whatever the file system raises (for example when Excel on Windows holds the
    master open); the temporary file is removed in that case.
    """
    sheet_names = dict.fromkeys([*(model.sheet_name for model in SHEETS), *records])
    row_counts = {name: record_count(records, name) for name in sheet_names}
    if isinstance(records, RecordSource) and any(count > max_register_rows for count in row_counts.values()):
        # split: every submitter's workbook takes its rows of every sheet, so all are read at once
        records = {name: records[name] for name in records}
    master = MasterInput(
        records=records,
        row_counts=row_counts,
        problems=problems,
        files=files,
        run=run,
        view=view,
        panel_draws=panel_draws,
        missing_submitters=tuple(missing_submitters),
        submissions=submissions,
        max_register_rows=max_register_rows,
        published_path=Path(published_path or path),
    )
    plan = Plan(master)
    if plan.split is not None:
        sheets = {model.sheet_name: _SplitSheet.of(plan, model, master.records) for model in SHEETS}
        for split_book in plan.split.books:
            _write_split_book(split_book, master, plan, plan.split.limit, sheets)
    with _staged(Path(path)) as temporary:
        # Not closed on failure: assembling a workbook that is about to be thrown away would only
        # risk a second error hiding the first.
        book = _MasterBook(str(temporary), {"constant_memory": True})
        # The run's own time as creation time: the same input gives the same file.
        book.set_properties({"title": "总台账", "created": _naive(run.started_at)})
        formats = Formats(book)
        # a workbook-scope name for the as_of cell of 概览: every date-relative formula uses it
        book.define_name(AS_OF_NAME, f"={quote_sheet(OVERVIEW_SHEET)}!{AS_OF_CELL}")
        for write_sheet in _sheet_writers(plan):
            write_sheet(book, formats, master, plan)
        book.close()
    return Path(path)


class _MasterSheet(RowStreamingSheet):
    """A worksheet whose formulas are written as given, each row serialised in one go.

    The rows are XlsxWriter's XML written by :class:`~sheetsync.master.rows.RowStreamingSheet`,
    which does per row what XlsxWriter does per cell (the bulk of writing a large master).

    XlsxWriter runs some thirty regular expressions over every formula to prefix functions newer
    than Excel 2010 with ``_xlfn.``; the master only uses functions every spreadsheet application
    has known since Excel 2007 (tests/test_master_formulas.py checks the list), so that work (most
    of the time spent writing a large master) is skipped.
    """

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        return formula[1:] if formula.startswith("=") else formula

    def _write_formula(
        self, row: int, col: int, formula: str, cell_format: Format | None = None, value: Any = 0
    ) -> int:
        """XlsxWriter's own, less its search for dynamic-array functions and ``{…}`` array formulas.

        The master has neither, and that regular expression over every formula's text was the
        largest single cost of writing the register sheets.
        """
        if self._check_dimensions(row, col):
            return -1
        if formula.startswith("="):
            formula = formula[1:]
        if self.constant_memory and row > self.previous_row:
            self._write_single_row(row)
        self.table[row][col] = CellFormulaTuple(formula, cell_format, value)
        return 0


class _MasterBook(Workbook):
    def __init__(self, filename: str, options: dict[str, Any]) -> None:
        super().__init__(filename, options)
        self.worksheet_class = _MasterSheet


def _sheet_writers(plan: Plan) -> list[SheetWriter]:
    """The master's sheets in the order officers see them; no register sheets when they are split."""
    registers: list[SheetWriter] = []
    if plan.split is None:
        registers = [partial(_write_register_sheet, model) for model in SHEETS]
    return [
        _write_overview_sheet,
        _write_summary_sheet,
        _write_overdue_sheet,
        _write_certificate_sheet,
        _write_conflict_sheet,
        _write_progress_sheet,
        *registers,
        _write_panel_draw_sheet,
        _write_agency_score_sheet,
        _write_problems_sheet,
    ]


# --- 概览 ---------------------------------------------------------------------------------

AS_OF_ROW = 3  # 0-based: the as_of date sits in B4, named 基准日期
AS_OF_CELL = f"$B${AS_OF_ROW + 1}"
OVERVIEW_HEADER_HEIGHT = 48  # three lines: "覆盖企业数 / 完成率" headers wrap
CHART_COL = 6  # charts to the right of the city table, from column G
CHART_ROW = 8
CHART_WIDTH = 620
CHART_ROW_PX = 20  # Excel's default row height in pixels
FUNNEL_CHART_ROWS = 16
MIN_PROGRESS_CHART_ROWS = 12


def _progress_chart_rows(submitters: int) -> int:
    """Rows the 完成率 chart takes: enough per submitter that LibreOffice shows every name on its axis."""
    return max(MIN_PROGRESS_CHART_ROWS, (submitters * 13 + 9) // 10 + 6)


SUBMITTER_PARTS = ("完成", "目标", "完成率")


def _write_overview_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
    """The morning view: as_of, the run, today's counts, the city against its targets, each submitter.

    Its numbers are formulas over 进度, 逾期预警, 证书到期 and 审核进度; 基准日期 (B4) is the cell every
    date-relative formula of the workbook reads, named so.
    """
    sheet = book.add_worksheet(OVERVIEW_SHEET)
    sheet.activate()
    overview = plan.overview
    run = master.run
    metrics = overview.key_metrics
    width = 2 + len(SUBMITTER_PARTS) * len(metrics) + 3
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, 1, 20)
    sheet.set_column(2, max(width, CHART_COL + 8), 11)
    sheet.freeze_panes(1, 0)
    _set_up_printing(sheet)
    text = _TextCells(sheet, formats.value, formats.value_quoted)

    sheet.write_string(0, 0, run.profile_title, formats.title)
    sheet.write_string(1, 0, OVERVIEW_SUBTITLE)
    sheet.write_string(AS_OF_ROW, 0, AS_OF_NAME, formats.label)
    _write_moment(sheet, AS_OF_ROW, 1, plan.as_of, formats.value_date, text)
    sheet.write_string(AS_OF_ROW + 1, 0, "运行时间", formats.label)
    _write_moment(sheet, AS_OF_ROW + 1, 1, run.started_at, formats.value_datetime, text)
    sheet.write_string(AS_OF_ROW + 2, 0, "规则方案", formats.label)
    text.write(AS_OF_ROW + 2, 1, run.profile_name)
    sheet.write_string(AS_OF_ROW + 3, 0, "本期未报送单位", formats.label)
    missing = LIST_SEPARATOR.join(master.missing_submitters)
    if missing:
        _TextCells(sheet, formats.missing, formats.value_quoted).write(AS_OF_ROW + 3, 1, missing)
    else:
        sheet.write_string(AS_OF_ROW + 3, 1, "无", formats.value)
    if plan.split is not None:
        sheet.write_string(AS_OF_ROW + 4, 0, "台账明细", formats.label)
        sheet.write_string(AS_OF_ROW + 4, 1, _split_note(plan.split), formats.missing)

    row = CHART_ROW
    sheet.write_string(row, 0, "今日要处理", formats.section)
    for count in overview.counts():
        row += 1
        sheet.write_string(row, 0, count.label, formats.label)
        _write_overview_value(sheet, row, 1, count.value, formats.count)
        if count.sheet is not None:
            sheet.write_url(row, 2, f"internal:{quote_sheet(count.sheet)}!A1", formats.link, VIEW_LINK)

    row += 2
    sheet.write_string(row, 0, "全市目标完成情况", formats.section)
    row += 1
    _write_header_row(sheet, row, ["指标", "单位", *SUBMITTER_PARTS], formats.header)
    city_first = row + 1
    for line in overview.city_lines():
        row += 1
        sheet.write_string(row, 0, line.metric)
        sheet.write_string(row, 1, line.unit)
        _write_metric_cells(sheet, row, 2, line.cells, formats)
    if row >= city_first:
        _data_bar(sheet, city_first, 4, row, 4)

    row += 2
    sheet.write_string(row, 0, "审核阶段(到达该阶段的审核轮次)", formats.section)
    row += 1
    _write_header_row(sheet, row, ["阶段", "审核轮次"], formats.header)
    funnel_first = row + 1
    for label, value in overview.funnel():
        row += 1
        sheet.write_string(row, 0, label)
        _write_overview_value(sheet, row, 1, value, None)
    funnel_last = row

    chart_rows = _progress_chart_rows(len(overview.submitters))
    row = max(row + 2, CHART_ROW + chart_rows + FUNNEL_CHART_ROWS + 3)
    sheet.set_h_pagebreaks([row])  # printed, the submitters' table starts a page with its heading
    sheet.write_string(row, 0, "各填报单位进度", formats.section)
    row += 1
    header_row = row
    headers = ["填报单位", "本期报送"]
    headers += [f"{metric}\n{part}" for metric in metrics for part in SUBMITTER_PARTS]
    headers += ["逾期未完成事项", "待换证证书", "已过期证书"]
    sheet.set_row(header_row, OVERVIEW_HEADER_HEIGHT)
    _write_header_row(sheet, header_row, headers, formats.header)
    names = _TextCells(sheet, None, formats.quoted)
    lines = overview.submitter_lines(header_row + 2)
    for line in lines:
        row += 1
        names.write(row, 0, line.name)
        if line.missing:
            sheet.write_string(row, 1, MISSING_MARK, formats.missing)
        col = 2
        for cells in line.metrics:
            if cells is not None:
                _write_metric_cells(sheet, row, col, cells, formats)
            col += len(SUBMITTER_PARTS)
        for value in (line.overdue, line.renewal_due, line.expired):
            _write_overview_value(sheet, row, col, value, None)
            col += 1
    sheet.autofilter(header_row, 0, row, len(headers) - 1)
    if lines:
        for index in range(len(metrics)):
            ratio_col = 2 + index * len(SUBMITTER_PARTS) + 2
            _data_bar(sheet, header_row + 1, ratio_col, row, ratio_col)
        if metrics:
            _chart_submitters(book, sheet, metrics, lines, header_row, row)
    _chart_funnel(book, sheet, funnel_first, funnel_last, chart_rows)
    if plan.split is not None:
        _write_split_links(sheet, formats, plan.split, row + 2)


VIEW_LINK = "查看 ›"
SPLIT_SECTION = "台账明细文件(按填报单位拆分)"
SPLIT_HEADERS = ("填报单位", "文件", "记录数")


def _split_note(split: SplitPlan) -> str:
    return (
        f"{split.reason},已按填报单位拆分为 {len(split.books)} 个文件(见本表下方“台账明细文件”);"
        "进度中的完成数为汇总时的计算值,不随基准日期变化"
    )


def _write_split_links(sheet: Worksheet, formats: Formats, split: SplitPlan, row: int) -> None:
    """Each submitter's register workbook, linked by its name relative to the master's folder."""
    sheet.write_string(row, 0, SPLIT_SECTION, formats.section)
    row += 1
    _write_header_row(sheet, row, SPLIT_HEADERS, formats.header)
    names = _TextCells(sheet, None, formats.quoted)
    for book in split.books:
        row += 1
        names.write(row, 0, book.submitter)
        sheet.write_url(row, 1, f"external:{book.path.name}", formats.link, book.path.name)
        sheet.write_number(row, 2, book.rows)


def _write_overview_value(
    sheet: Worksheet, row: int, col: int, value: Formula | int, number_format: Format | None
) -> None:
    if isinstance(value, Formula):
        sheet.write_formula(row, col, value.text, number_format, _cache(value.value))
    else:
        sheet.write_number(row, col, value, number_format)


def _write_metric_cells(sheet: Worksheet, row: int, col: int, cells: Any, formats: Formats) -> None:
    """完成, 目标, 完成率 read from 进度."""
    for offset, (formula, number_format) in enumerate(
        ((cells.done, None), (cells.target, None), (cells.ratio, formats.percent))
    ):
        sheet.write_formula(row, col + offset, formula.text, number_format, _cache(formula.value))


def _chart_submitters(
    book: Workbook,
    sheet: Worksheet,
    metrics: Sequence[str],
    lines: Sequence[SubmitterLine],
    header_row: int,
    last_row: int,
) -> None:
    """完成率 of the first key metric that has submitters' targets, one bar per submitter."""

    def has_targets(index: int) -> bool:
        return any(
            cells is not None and cells.target.value != ""
            for cells in (line.metrics[index] for line in lines)
        )

    chosen = next((index for index in range(len(metrics)) if has_targets(index)), 0)
    ratio_col = 2 + chosen * len(SUBMITTER_PARTS) + 2
    chart = book.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": f"{metrics[chosen]}完成率",
            "categories": [OVERVIEW_SHEET, header_row + 1, 0, last_row, 0],
            "values": [OVERVIEW_SHEET, header_row + 1, ratio_col, last_row, ratio_col],
            "fill": {"color": "#63BE7B"},
            "data_labels": {"value": True, "num_format": "0%", "font": {"size": 8}},
        }
    )
    chart.set_title({"name": f"各填报单位{metrics[chosen]}完成率", "name_font": {"size": 12}})
    chart.set_x_axis({"num_format": "0%", "min": 0, "num_font": {"size": 8}})
    chart.set_y_axis({"reverse": True, "interval_unit": 1, "num_font": {"size": 8}})
    chart.set_legend({"none": True})
    chart.set_size({"width": CHART_WIDTH, "height": _progress_chart_rows(len(lines)) * CHART_ROW_PX})
    sheet.insert_chart(CHART_ROW, CHART_COL, chart)


def _chart_funnel(book: Workbook, sheet: Worksheet, first_row: int, last_row: int, chart_rows: int) -> None:
    """The audit funnel: rounds that reached each stage, first stage on top, under the 完成率 chart."""
    chart = book.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": "审核轮次",
            "categories": [OVERVIEW_SHEET, first_row, 0, last_row, 0],
            "values": [OVERVIEW_SHEET, first_row, 1, last_row, 1],
            "fill": {"color": "#5B9BD5"},
            "data_labels": {"value": True},
        }
    )
    chart.set_title({"name": "审核阶段漏斗", "name_font": {"size": 12}})
    chart.set_x_axis({"min": 0})
    chart.set_y_axis({"reverse": True})
    chart.set_legend({"none": True})
    chart.set_size({"width": CHART_WIDTH, "height": FUNNEL_CHART_ROWS * CHART_ROW_PX})
    sheet.insert_chart(CHART_ROW + chart_rows + 1, CHART_COL, chart)


# --- 运行摘要 -------------------------------------------------------------------------------


def _write_summary_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
    """What the run did, read first thing in the morning: when, under which rules, per file."""
    sheet = book.add_worksheet(SUMMARY_SHEET)
    text = _TextCells(sheet, formats.value, formats.value_quoted)
    run, files = master.run, master.files
    for col, (_, width) in enumerate(FILE_COLUMNS):
        sheet.set_column(col, col, width)
    sheet.freeze_panes(1, 0)  # the title stays in view
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
        sheet.autofilter(table_top, 0, table_top, len(FILE_COLUMNS) - 1)
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
    model: type[SheetModel], book: Workbook, formats: Formats, master: MasterInput, plan: Plan
) -> None:
    """One contract sheet of the register, with where each row came from and what follows from it.

    The contract columns come first, exactly as the contract heads them (other code reads them
    back by header), then the provenance columns, then the computed ones of
    :mod:`sheetsync.master.registers`: officer columns in view, helper columns grouped and
    collapsed. Nothing here depends on the run time or its problems, so two runs over an
    unchanged register and the same as_of give the same sheet cell for cell.
    """
    # streamed in key order from the register when the records come from it: never held whole
    rows = sorted_sheet(master.records, model.sheet_name, _sort_key)
    extra_cells = _row_extras(plan, model, rows.identities, index=True)
    _write_register_rows(book, formats, plan, model, model.sheet_name, rows, extra_cells, live=True)


def _row_extras(
    plan: Plan, model: type[SheetModel], identities: Sequence[Identity], *, index: bool = False
) -> RowExtras | None:
    """The computed cells of ``model``'s rows, ``identities`` being all its records in the register's order."""
    if plan.registers is None or not extra_columns(model):
        return None
    return plan.registers.rows(model, identities, index=index)


@dataclass(frozen=True)
class _SplitSheet:
    """One register sheet as the split workbooks take it: its row cells, and each record's position."""

    extra_cells: RowExtras | None
    position: dict[int, int]  # id(record) → its position in the register's order

    @classmethod
    def of(
        cls, plan: Plan, model: type[SheetModel], records: Mapping[str, Sequence[StoredRecord]]
    ) -> _SplitSheet:
        held = records.get(model.sheet_name, ())
        identities = [(record.key, record.submitter) for record in held]
        return cls(
            _row_extras(plan, model, identities), {id(record): index for index, record in enumerate(held)}
        )


def _write_register_rows(
    book: Workbook,
    formats: Formats,
    plan: Plan,
    model: type[SheetModel],
    name: str,
    rows: Iterable[tuple[int, StoredRecord]],
    extra_cells: RowExtras | None,
    *,
    live: bool,
) -> None:
    """A register sheet of ``rows`` (each record with its position in the register's order), in
    the order given; ``extra_cells`` gives a row's computed cells.

    ``live``: the sheet of the master, with every computed column and its formulas. Otherwise a
    sheet of a split workbook: the officer columns as the values sheetsync computed, and no
    helper columns, since nothing counts over it with formulas.
    """
    sheet = book.add_worksheet(name)
    columns = model.columns()
    headers = [column.header for column in columns.values()]
    widths = [column.width for column in columns.values()]
    for col, width in enumerate([*widths, *(width for _, width in PROVENANCE_COLUMNS)]):
        sheet.set_column(col, col, width)
    all_extras = extra_columns(model)
    extras = all_extras if live else tuple(extra for extra in all_extras if not extra.helper)
    kept = [index for index, extra in enumerate(all_extras) if live or not extra.helper]
    first_extra = len(headers) + len(PROVENANCE_COLUMNS)
    _set_extra_columns(sheet, extras, first_extra)
    sheet.set_row(0, HEADER_ROW_HEIGHT)
    _write_header_row(sheet, 0, headers, formats.header)
    _write_header_row(
        sheet,
        0,
        [header for header, _ in PROVENANCE_COLUMNS],
        formats.provenance_header,
        first_col=len(headers),
    )
    for col, extra in enumerate(extras, start=first_extra):
        sheet.write_string(
            0, col, extra.header, formats.helper_header if extra.helper else formats.computed_header
        )
    sheet.freeze_panes(1, 0)
    _set_up_printing(sheet, repeat_header=True)

    field_writers = [
        (col, field_name, _cell_writer(sheet, column, formats))
        for col, (field_name, column) in enumerate(columns.items())
    ]
    provenance = _provenance_writer(sheet, formats, first_col=len(headers))
    if not extras:
        extra_cells = None
    write_extras = _extras_writer(sheet, formats, extras, first_extra)
    row = 0
    for row, (position, record) in enumerate(rows, start=1):
        data = record.data
        for col, field_name, write in field_writers:
            value = data.get(field_name)
            if value is not None:
                write(row, col, value)
        provenance(row, record)
        if extra_cells is not None:
            values = extra_cells(row + 1, record, position)
            if not live:
                values = [_value_of(values[index]) for index in kept]
            write_extras(row, values)
    visible = first_extra + sum(1 for extra in extras if not extra.helper)
    sheet.autofilter(0, 0, row, visible - 1)
    if model is Audit and row:
        _colour_audits(sheet, formats, plan.layout, row)


def _value_of(extra: Extra) -> Extra:
    """A computed cell as a value: a formula's cached value (its blank result as no cell)."""
    if isinstance(extra, Formula):
        return None if extra.value == "" else extra.value
    return extra


def _write_split_book(
    split_book: SplitBook,
    master: MasterInput,
    plan: Plan,
    limit: int,
    sheets: Mapping[str, _SplitSheet],
) -> None:
    """One submitter's register workbook: a cover sheet, then its rows of each register sheet."""
    with _staged(split_book.path) as temporary:
        book = _MasterBook(str(temporary), {"constant_memory": True})
        book.set_properties(
            {"title": f"总台账 · {split_book.submitter}", "created": _naive(master.run.started_at)}
        )
        formats = Formats(book)
        _write_split_cover(book, formats, master, plan, split_book)
        for model in SHEETS:
            split = sheets[model.sheet_name]
            records = _by_key(split_book.records.get(model.sheet_name, ()))
            for part, start in enumerate(range(0, len(records), limit), start=1):
                name = part_name(model.sheet_name, part)
                rows = [(split.position[id(record)], record) for record in records[start : start + limit]]
                _write_register_rows(book, formats, plan, model, name, rows, split.extra_cells, live=False)
        book.close()


SPLIT_COVER_SHEET = "说明"


def _write_split_cover(
    book: Workbook, formats: Formats, master: MasterInput, plan: Plan, split_book: SplitBook
) -> None:
    """Whose rows these are, for which day, and the way back to the master."""
    sheet = book.add_worksheet(SPLIT_COVER_SHEET)
    sheet.activate()
    sheet.set_column(0, 0, 14)
    sheet.set_column(1, 1, 60)
    _set_up_printing(sheet)
    text = _TextCells(sheet, formats.value, formats.value_quoted)
    run = master.run
    sheet.write_string(0, 0, run.profile_title, formats.title)
    sheet.write_string(1, 0, f"清洁生产总台账 · 台账明细({split_book.submitter})")
    sheet.write_string(3, 0, "填报单位", formats.label)
    text.write(3, 1, split_book.submitter)
    sheet.write_string(4, 0, AS_OF_NAME, formats.label)
    _write_moment(sheet, 4, 1, plan.as_of, formats.value_date, text)
    sheet.write_string(5, 0, "运行时间", formats.label)
    _write_moment(sheet, 5, 1, run.started_at, formats.value_datetime, text)
    sheet.write_string(6, 0, "记录数", formats.label)
    sheet.write_number(6, 1, split_book.rows, formats.value)
    sheet.write_string(7, 0, "总台账", formats.label)
    assert master.published_path is not None
    name = master.published_path.name
    sheet.write_url(7, 1, f"external:{name}", formats.link, name)
    assert plan.split is not None
    sheet.write_string(
        9,
        0,
        f"{plan.split.reason},各填报单位的台账记录分别存放在总台账旁的文件中。"
        "当前阶段、逾期、证书状态等列为汇总时按基准日期计算的数值。",
    )


def _set_extra_columns(sheet: Worksheet, extras: Sequence[ExtraColumn], first: int) -> None:
    """Officer columns shown; helper columns in one outline group, collapsed (the + opens it)."""
    for col, extra in enumerate(extras, start=first):
        options = {"level": 1, "hidden": True} if extra.helper else {}
        sheet.set_column(col, col, extra.width, None, options)
    if any(extra.helper for extra in extras):
        after = first + len(extras)
        sheet.set_column(after, after, None, None, {"collapsed": True})


def _extras_writer(
    sheet: Worksheet, formats: Formats, extras: Sequence[ExtraColumn], first: int
) -> Callable[[int, Sequence[Extra]], None]:
    text = _TextCells(sheet, None, formats.quoted)
    shapes = [
        formats.date
        if extra.shape is Shape.DATE
        else formats.integer
        if extra.shape is Shape.INTEGER
        else None
        for extra in extras
    ]

    def write(row: int, values: Sequence[Extra]) -> None:
        for offset, value in enumerate(values):
            if value is None:
                continue
            _write_computed(sheet, row, first + offset, value, shapes[offset], text, formats.date)

    return write


def _write_computed(
    sheet: Worksheet,
    row: int,
    col: int,
    value: Extra,
    number_format: Format | None,
    text: _TextCells,
    date_format: Format,
) -> None:
    """A computed cell: a formula with its cached value, a date, a number or (always as text) a text."""
    if isinstance(value, Formula):
        sheet._write_formula(row, col, value.text, number_format, _cache(value.value))
    elif isinstance(value, str):
        text.write(row, col, value)
    elif isinstance(value, date):
        _write_moment(sheet, row, col, value, number_format or date_format, text)
    else:
        sheet._write_number(row, col, float(value), number_format)


def _cache(value: Any) -> Any:
    """A cached value as XlsxWriter stores it: dates as serials, numbers as floats."""
    if isinstance(value, date):
        serial = _excel_serial(value)
        return serial if serial is not None else value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _colour_audits(sheet: Worksheet, formats: Formats, layout: Layout, last_row: int) -> None:
    """Red rows for an overdue stage; the certificate columns amber when due, red when expired."""
    name = Audit.sheet_name
    overdue = _row_test(layout.col(name, OVERDUE), OVERDUE_MARK)
    first_certificate, state = layout.col(name, CERT_EXPIRY), layout.col(name, CERT_STATE)
    for due in (CertificateState.EXPIRED, CertificateState.RENEWAL_DUE):
        sheet.conditional_format(
            1,
            first_certificate,
            last_row,
            state,
            {
                "type": "formula",
                "criteria": _row_test(state, due),
                "format": formats.colours[due],
            },
        )
    sheet.conditional_format(
        1, 0, last_row, state, {"type": "formula", "criteria": overdue, "format": formats.overdue}
    )


def _row_test(col_index: int, value: str) -> str:
    """A conditional format's test on one column of each row: ``=$AA2="逾期"``."""
    return f'=${xl_col_to_name(col_index)}2="{value}"'


def _by_key(records: Sequence[StoredRecord]) -> list[StoredRecord]:
    """Records in key order, whatever order the register handed them over in."""
    return sorted(records, key=lambda record: _sort_key(record.key))


def _sort_key(key: Sequence[Any]) -> tuple[tuple[int, Any], ...]:
    return tuple(_sortable(part) for part in key)


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
    write_number = sheet._write_number  # undecorated: row, col given as numbers
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
    write_number = sheet._write_number  # undecorated: row, col given as numbers

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
    write_number = sheet._write_number  # undecorated: row, col given as numbers

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


# --- computed sheets: the domain engine's verdicts -------------------------------------------

Cell = str | int | float | Decimal | date | None


@dataclass(frozen=True)
class TableRow:
    """One row of a computed sheet: its values in column order and how the row is marked."""

    values: Sequence[Any]
    style: RowStyle = RowStyle.PLAIN


def _write_overdue_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
    """What is late, worst first; red where a stage is still not done, so the top rows are the calls to make.

    The days overdue of what is still open count on from 基准日期 (a formula); what was done late
    stays as it was.
    """
    rows = [] if master.view is None else _overdue_rows(master.view)
    _write_table(
        book,
        formats,
        OVERDUE_SHEET,
        OVERDUE_COLUMNS,
        [_open_days(row, line) for line, row in enumerate(rows, start=2)],
    )


def _overdue_rows(view: ProgrammeView) -> list[TableRow]:
    """The rows of 逾期预警 as plain values."""
    return [
        TableRow(
            (
                item.submitter,
                item.uscc,
                item.enterprise,
                item.subject,
                str(item.kind),
                item.deadline,
                item.days_over,
                item.reason,
            ),
            WARNING_STYLES[item.kind],
        )
        for item in view.overdue_items()
    ]


def _open_days(row: TableRow, line: int) -> TableRow:
    """An open item's 逾期天数 as 基准日期 less its deadline, on Excel row ``line``."""
    values = list(row.values)
    deadline = values[OVERDUE_DEADLINE_COLUMN]
    if values[OVERDUE_STATE_COLUMN] != WarningKind.OVERDUE or deadline is None:
        return row
    days = Formula(f"={AS_OF_NAME}-{cell(OVERDUE_DEADLINE_COLUMN, line)}", values[OVERDUE_DAYS_COLUMN])
    values[OVERDUE_DAYS_COLUMN] = days
    return TableRow(values, row.style)


def _write_certificate_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
    """Every current certificate by days left: expired ones on top, then those due for renewal.

    状态 and 剩余天数 are formulas over 有效期至 and 基准日期, coloured by conditional formats: amber
    in the renewal window, red once expired.
    """
    rows = [] if master.view is None else _certificate_rows(master.view)
    formulas = [_certificate_formulas(row, line, plan.window) for line, row in enumerate(rows, start=2)]
    sheet = _write_table(book, formats, CERTIFICATE_SHEET, CERTIFICATE_COLUMNS, formulas)
    for state in (CertificateState.EXPIRED, CertificateState.RENEWAL_DUE):
        sheet.conditional_format(
            1,
            0,
            max(len(rows), 1),
            len(CERTIFICATE_COLUMNS) - 1,
            {
                "type": "formula",
                "criteria": _row_test(CERTIFICATE_STATE_COLUMN, state),
                "format": formats.colours[state],
            },
        )


def _certificate_rows(view: ProgrammeView) -> list[TableRow]:
    """The rows of 证书到期 as plain values."""
    rows = []
    for owned in view.certificates_by_days_left():
        status = owned.record
        values = (
            owned.submitter,
            status.uscc,
            view.enterprise_names.get(status.uscc, ""),
            status.round,
            status.certificate,
            status.certified_on,
            status.expires_on,
            str(status.state),
            status.days_left,
            status.reason,
        )
        rows.append(TableRow(values))
    return rows


def _certificate_formulas(row: TableRow, line: int, window: int) -> TableRow:
    """状态 and 剩余天数 from 有效期至 and 基准日期; a suspension is the office's record, kept as a value."""
    values = list(row.values)
    expiry = cell(CERTIFICATE_EXPIRY_COLUMN, line)
    state = values[CERTIFICATE_STATE_COLUMN]
    if state != CertificateState.SUSPENDED:
        values[CERTIFICATE_STATE_COLUMN] = Formula(certificate_state(expiry, window), state)
    values[CERTIFICATE_DAYS_COLUMN] = Formula(
        f'=IF(ISNUMBER({expiry}),{expiry}-{AS_OF_NAME},"")', cached(values[CERTIFICATE_DAYS_COLUMN])
    )
    return TableRow(values, row.style)


def _write_conflict_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
    """Rows kept out because they touch another unit's record, until the office settles each one.

    Tonight's first, then the earlier ones still standing, longest waiting first (amber).
    """
    _write_table(book, formats, CONFLICT_SHEET, CONFLICT_COLUMNS, _conflict_rows(plan.conflicts))


def _conflict_rows(conflicts: Sequence[Conflict]) -> list[TableRow]:
    return [
        TableRow(
            (
                conflict.state,
                conflict.submitter,
                conflict.file,
                conflict.sheet,
                conflict.cell,
                conflict.record,
                conflict.owner,
                conflict.message,
                conflict.action,
                conflict.received_at,
            ),
            RowStyle.PLAIN if conflict.state == NEW_TONIGHT else RowStyle.AMBER,
        )
        for conflict in conflicts
    ]


def _write_progress_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
    """Done against target for every scope, the ratio as a percentage with a bar to read at a glance.

    完成, 目标, 完成率 and 各单位目标之和 are formulas (:mod:`sheetsync.master.progress`) over the
    register sheets and 年度目标.
    """
    formulas = plan.progress_formulas
    rows = []
    if formulas is not None:
        rows = [
            _progress_formulas(_progress_table_row(row), formulas, index)
            for index, row in enumerate(plan.progress)
        ]
    sheet = _write_table(book, formats, PROGRESS_SHEET, PROGRESS_COLUMNS, rows)
    if rows:
        _data_bar(sheet, 1, PROGRESS_RATIO_COLUMN, len(rows), PROGRESS_RATIO_COLUMN)


def _data_bar(sheet: Worksheet, first_row: int, first_col: int, last_row: int, last_col: int) -> None:
    """A green bar from 0 to 100 %, in the 2007 form that WPS and older readers draw too."""
    sheet.conditional_format(
        first_row,
        first_col,
        last_row,
        last_col,
        {
            "type": "data_bar",
            "bar_color": "#63BE7B",
            "data_bar_2010": False,
            "min_type": "num",
            "min_value": 0,
            "max_type": "num",
            "max_value": 1,
        },
    )


def _progress_table_row(row: ProgressRow) -> TableRow:
    """One line of 进度 as plain values."""
    metric = row.metric
    return TableRow(
        (
            row.scope,
            SCOPE_KIND_LABELS[row.kind],
            metric.metric,
            metric.unit,
            metric.done,
            metric.target,
            metric.ratio,
            metric.split_total,
        )
    )


def _progress_formulas(row: TableRow, formulas: ProgressFormulas, index: int) -> TableRow:
    cells = formulas.cells(index)
    return TableRow((*row.values[:4], cells.done, cells.target, cells.ratio, cells.split), row.style)


def _write_panel_draw_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
    """Every recorded expert draw with its seed and exclusions, so anyone can re-run it."""
    rows = [
        TableRow(tuple(_draw_value(draw, column.header) for column in PANEL_DRAW_COLUMNS))
        for draw in master.panel_draws
    ]
    _write_table(book, formats, PANEL_DRAW_SHEET, PANEL_DRAW_COLUMNS, rows)


def _draw_value(draw: Any, header: str) -> Cell:
    """A draw's field by its Chinese header or an English name; lists read as the register writes them."""
    for name in (header, *PANEL_DRAW_FIELDS[header]):
        if isinstance(draw, Mapping):
            if name in draw:
                return _cell_value(draw[name])
        elif hasattr(draw, name):
            return _cell_value(getattr(draw, name))
    return None


def _cell_value(raw: Any) -> Cell:
    """Dates and numbers stay typed; lists become 、-separated text, (编号, 原因) pairs 编号(原因)."""
    if raw is None or isinstance(raw, str | int | float | Decimal | date):
        return raw
    if isinstance(raw, Mapping):
        return LIST_SEPARATOR.join(f"{key}({value})" for key, value in raw.items())
    if isinstance(raw, list | tuple):
        return LIST_SEPARATOR.join(_item_text(item) for item in raw)
    return str(raw)


def _item_text(item: Any) -> str:
    if isinstance(item, list | tuple) and len(item) == 2:
        return f"{item[0]}({item[1]})"
    if isinstance(item, list | tuple):
        return LIST_SEPARATOR.join(str(part) for part in item)
    return str(item)


def _write_agency_score_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
    """The quarter's rating of each agency; those under the threshold are marked for warning."""
    rows = [] if master.view is None else _agency_rows(master.view)
    _write_table(book, formats, AGENCY_SCORE_SHEET, AGENCY_SCORE_COLUMNS, rows)


def _agency_rows(view: ProgrammeView) -> list[TableRow]:
    rows = []
    for score in view.agency_scores:
        counts = dict(score.grade_counts)
        values = (
            score.agency,
            score.quarter,
            score.graded,
            *(counts.get(grade, 0) for grade in REPORT_GRADES),
            score.mean_points,
            score.overdue,
            score.score,
            YES_NO[0] if score.below_threshold else YES_NO[1],
            score.reason,
        )
        rows.append(TableRow(values, RowStyle.RED if score.below_threshold else RowStyle.PLAIN))
    return rows


def _write_table(
    book: Workbook,
    formats: Formats,
    name: str,
    columns: Sequence[TableColumn],
    rows: Iterable[TableRow],
) -> Worksheet:
    """A computed sheet with the master's conventions: headed, frozen, filtered, printable."""
    sheet = book.add_worksheet(name)
    for col, column in enumerate(columns):
        sheet.set_column(col, col, column.width)
    sheet.set_row(0, HEADER_ROW_HEIGHT)
    _write_header_row(sheet, 0, [column.header for column in columns], formats.header)
    sheet.freeze_panes(1, 0)
    _set_up_printing(sheet, repeat_header=True)
    cells = _TableCells(sheet, formats)
    row = 0
    for row, item in enumerate(rows, start=1):
        for col, (column, value) in enumerate(zip(columns, item.values, strict=True)):
            cells.write(row, col, column, value, item.style)
    sheet.autofilter(0, 0, row, len(columns) - 1)
    return sheet


class _TableCells:
    """Writes one computed value by its type, in the row's style; all text through :class:`_TextCells`."""

    def __init__(self, sheet: Worksheet, formats: Formats) -> None:
        self._sheet = sheet
        self._formats = formats.rows
        self._texts: dict[tuple[RowStyle, bool], _TextCells] = {}

    def write(self, row: int, col: int, column: TableColumn, value: Any, style: RowStyle) -> None:
        formats = self._formats[style]
        if isinstance(value, Formula):
            if column.number is not NumberShape.GENERAL or not isinstance(value.value, str):
                number_format = formats.numbers[column.number]
            else:
                number_format = formats.wrap if column.wrap else formats.text
            self._sheet.write_formula(row, col, value.text, number_format, _cache(value.value))
        elif value is None or value == "":
            if formats.filled:
                self._sheet.write_blank(row, col, None, formats.text)
        elif isinstance(value, str):
            self._text(style, column.wrap).write(row, col, value)
        elif isinstance(value, date):
            moment_format = formats.datetime if isinstance(value, datetime) else formats.date
            _write_moment(self._sheet, row, col, value, moment_format, self._text(style, False))
        elif _is_exact_number(value):
            self._sheet.write_number(row, col, float(value), formats.numbers[column.number])
        else:
            self._text(style, column.wrap).write(row, col, str(value))

    def _text(self, style: RowStyle, wrap: bool) -> _TextCells:
        key = (style, wrap)
        if key not in self._texts:
            formats = self._formats[style]
            plain, quoted = (formats.wrap, formats.wrap_quoted) if wrap else (formats.text, formats.quoted)
            self._texts[key] = _TextCells(self._sheet, plain, quoted)
        return self._texts[key]


def _is_exact_number(value: Any) -> bool:
    """A number Excel shows as given: finite, and an integer no longer than a double keeps exactly."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < LARGEST_EXACT_INTEGER
    if isinstance(value, Decimal | float):
        return Decimal(value).is_finite()
    return False


# --- 校验问题 -------------------------------------------------------------------------------


def _write_problems_sheet(book: Workbook, formats: Formats, master: MasterInput, plan: Plan) -> None:
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
        # XlsxWriter's undecorated writers: the public ones first check for "A1" arguments, a
        # measurable cost over millions of cells that always come as row and column numbers
        self._write_string = sheet._write_string
        self._write_rich_string = sheet.write_rich_string
        self._plain = plain
        self._quoted = quoted

    def write(self, row: int, col: int, text: str) -> None:
        first = text[:1]
        if not first:
            return
        if first in FORMULA_STARTS:
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
