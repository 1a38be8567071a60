"""The workbook a submitter fills, generated from the contract schemas and nothing else.

Submitters work in Excel or WPS and get no other help than what the file itself shows, so the
template carries the contract in a form they can act on: the 填报说明 sheet, required columns
marked in the header, drop-downs and input messages on every data cell, and the hidden stamp
that tells the nightly run who sent the workbook and for which period.  Every header, choice and
note comes from the :class:`~sheetsync.schemas.Column` declarations, so the template can never
drift from what validation expects.

Required columns are marked twice: the header text starts with ``*`` (header matching strips a
leading ``*``, so the marked header still matches) and the header cell has an orange fill.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_range_formula
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from sheetsync.schemas import SheetModel, sheets_for
from sheetsync.schemas.base import DEFAULT_TEXT_LIMIT, SUBMITTER_KIND_LABELS, Column, Kind, SubmitterKind
from sheetsync.schemas.stamp import (
    CHOICES_SHEET,
    INSTRUCTIONS_SHEET,
    STAMP_LABELS,
    STAMP_SHEET,
    TEMPLATE_VERSION,
    Stamp,
)

REQUIRED_MARK = "*"
LIST_SEPARATOR = "、"

DATE_FORMAT = "yyyy-mm-dd"
TEXT_FORMAT = "@"
REQUIRED_FILL = "#F8CBAD"
OPTIONAL_FILL = "#DDEBF7"

HEADER_ROW = 0
FIRST_DATA_ROW = 1
LAST_ROW = 1_048_575  # Excel's last row, so validation covers rows the submitter inserts later
LAST_COL = 16_383

# Excel silently drops (and XlsxWriter refuses) validation prompts longer than these.
TITLE_LIMIT = 32
MESSAGE_LIMIT = 255
ELLIPSIS = "…(详见“填报说明”)"

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2099, 12, 31)
UNBOUNDED = 1e15
USCC_LENGTH = 18

# Kinds whose values are text: the '@' format keeps codes such as 0111 or 020-8312 intact.
TEXT_KINDS = frozenset({Kind.TEXT, Kind.USCC, Kind.PHONE, Kind.CHOICE, Kind.MULTI_CHOICE, Kind.LIST})

GUIDE_COLUMNS: tuple[tuple[str, int], ...] = (
    ("列名", 24),
    ("是否必填", 10),
    ("类型", 26),
    ("可选值", 56),
    ("填写说明", 44),
)
GUIDE_WIDTH = sum(width for _, width in GUIDE_COLUMNS)
LINE_HEIGHT = 15


def template_filename(submitter: str, period: str) -> str:
    """One name per submitter and period, so a file dropped in the wrong folder stands out."""
    return f"{submitter}_{period}_填报模板.xlsx"


def write_template(
    path: Path,
    *,
    submitter: str,
    kind: SubmitterKind,
    period: str,
    profile: str = "",
    rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    generated_on: date | None = None,
) -> Path:
    """Write the template for one submitter and period; ``rows`` prefills it as typed, unchecked.

    Prefilled values are written exactly as given (wrong ones included) because the demo uses
    them to produce the realistic, partly broken workbooks that validation must catch.
    """
    models = sheets_for(kind)
    prefill = _checked_prefill(models, rows or {})
    stamp = Stamp(
        submitter=submitter,
        kind=kind,
        period=period,
        profile=profile,
        generated_on=generated_on or date.today(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    try:
        styles = _Styles.create(workbook)
        workbook.set_properties({"title": template_filename(submitter, period), "comments": TEMPLATE_VERSION})
        _write_guide(workbook.add_worksheet(INSTRUCTIONS_SHEET), styles, models, stamp)
        sources = _option_sources(models)
        for model in models:
            sheet = workbook.add_worksheet(model.sheet_name)
            _write_contract_sheet(sheet, styles, model, sources, prefill.get(model.sheet_name, ()))
        _write_options(workbook.add_worksheet(CHOICES_SHEET), styles, models)
        _write_stamp(workbook.add_worksheet(STAMP_SHEET), styles, stamp)
    finally:
        workbook.close()
    return path


# formats ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Styles:
    """Formats are workbook objects, so they are made once per workbook and passed around."""

    header_required: Format
    header_optional: Format
    text: Format
    date: Format
    plain: Format
    title: Format
    heading: Format
    paragraph: Format
    table_header: Format
    table_cell: Format
    label: Format

    @classmethod
    def create(cls, workbook: Workbook) -> _Styles:
        header = {"bold": True, "border": 1, "text_wrap": True, "valign": "vcenter", "align": "center"}
        cell = {"text_wrap": True, "valign": "top", "border": 1}
        return cls(
            header_required=workbook.add_format({**header, "bg_color": REQUIRED_FILL, "locked": True}),
            header_optional=workbook.add_format({**header, "bg_color": OPTIONAL_FILL, "locked": True}),
            text=workbook.add_format({"num_format": TEXT_FORMAT, "locked": False}),
            date=workbook.add_format({"num_format": DATE_FORMAT, "locked": False}),
            plain=workbook.add_format({"locked": False}),
            title=workbook.add_format({"bold": True, "font_size": 16}),
            heading=workbook.add_format({"bold": True, "font_size": 12, "bg_color": OPTIONAL_FILL}),
            paragraph=workbook.add_format({"text_wrap": True, "valign": "top"}),
            table_header=workbook.add_format({**cell, "bold": True, "bg_color": OPTIONAL_FILL}),
            table_cell=workbook.add_format(cell),
            label=workbook.add_format({"bold": True}),
        )

    def data(self, column: Column) -> Format:
        if column.kind is Kind.DATE:
            return self.date
        if column.kind in TEXT_KINDS:
            return self.text
        return self.plain


# 填报说明 -------------------------------------------------------------------------------------


def _write_guide(sheet: Worksheet, styles: _Styles, models: Sequence[type[SheetModel]], stamp: Stamp) -> None:
    for col, (_, width) in enumerate(GUIDE_COLUMNS):
        sheet.set_column(col, col, width)
    sheet.write_string(0, 0, f"{stamp.submitter}清洁生产工作数据填报模板({stamp.period})", styles.title)
    sheet.set_row(0, 24)
    row = 2
    for number, line in enumerate(_general_instructions(models, stamp), start=1):
        row = _write_paragraph(sheet, styles.paragraph, row, f"{number}. {line}")
    for number, model in enumerate(models, start=1):
        row = _write_sheet_guide(sheet, styles, row + 1, number, model)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.protect("", {"format_columns": True, "format_rows": True})


def _general_instructions(models: Sequence[type[SheetModel]], stamp: Stamp) -> list[str]:
    profile = f";规则方案:{stamp.profile}" if stamp.profile else ""
    names = LIST_SEPARATOR.join(f"“{model.sheet_name}”" for model in models)
    return [
        f"填报单位:{stamp.submitter}({SUBMITTER_KIND_LABELS[stamp.kind]});填报期间:{stamp.period};"
        f"模板版本:{stamp.template_version}{profile}。",
        f"本工作簿需填写 {len(models)} 张表:{names}。每条记录占一行,从第 2 行起填写;"
        "没有的内容留空,不要填“/”“-”之类的占位符。",
        "第 1 行是列名,已锁定,请勿修改、删除、调换列名,也不要更改工作表名称;"
        "可以插入或删除整行,可以筛选、排序和调整列宽。",
        f"列名前带“{REQUIRED_MARK}”且底色为橙色的列为必填;底色为浅蓝色的列为选填,"
        "其中部分列在特定条件下必填,见下方各表的“填写说明”。",
        "带下拉箭头的列请从下拉列表中选择;可填多个值的列,多个值之间用顿号“、”分隔。"
        "选中某列的单元格时会显示该列的填写提示。",
        "日期列请填写日期,如 2014-05-31;也可以写成 2014/5/31 或 2014年5月31日。",
        "统一社会信用代码、电话、编号等文字列已设为文本格式,开头的 0 会保留;"
        "数字列只填数字,不要带单位或文字,单位见列名。",
        f"填好后保存为 .xlsx 格式(用 WPS 表格填写时也请保存为 .xlsx),文件名可沿用"
        f"“{_filename(stamp)}”,放入共享盘上“{stamp.submitter}”的文件夹;系统每晚自动汇总校验。",
        f"工作簿中隐藏的“{STAMP_SHEET}”表记录了填报单位和填报期间,系统据此识别来源,"
        "请勿改动,也不要把别的单位的模板拿来填写。",
    ]


def _filename(stamp: Stamp) -> str:
    return template_filename(stamp.submitter, stamp.period)


def _write_sheet_guide(
    sheet: Worksheet, styles: _Styles, row: int, number: int, model: type[SheetModel]
) -> int:
    last_col = len(GUIDE_COLUMNS) - 1
    sheet.merge_range(row, 0, row, last_col, f"{number}. {model.sheet_name}", styles.heading)
    row = _write_paragraph(sheet, styles.paragraph, row + 1, model.description)
    keys = " + ".join(model.key_headers())
    row = _write_paragraph(
        sheet, styles.paragraph, row, f"关键字段:{keys}(用于识别同一条记录,表内不能重复)。"
    )
    for col, (caption, _) in enumerate(GUIDE_COLUMNS):
        sheet.write_string(row, col, caption, styles.table_header)
    for column in model.columns().values():
        row += 1
        cells = _guide_cells(column)
        for col, text in enumerate(cells):
            sheet.write_string(row, col, text, styles.table_cell)
        sheet.set_row(row, _row_height(cells, [width for _, width in GUIDE_COLUMNS]))
    return row + 2


def _guide_cells(column: Column) -> tuple[str, str, str, str, str]:
    return (
        column.header,
        "必填" if column.required else "选填",
        _type_text(column),
        column.choices_text(),
        column.note,
    )


def _write_paragraph(sheet: Worksheet, style: Format, row: int, text: str) -> int:
    """Long text spans the whole guide; merged cells never auto-fit, so the height is estimated."""
    sheet.merge_range(row, 0, row, len(GUIDE_COLUMNS) - 1, text, style)
    sheet.set_row(row, _row_height([text], [GUIDE_WIDTH]))
    return row + 1


def _row_height(texts: Sequence[str], widths: Sequence[int]) -> float:
    lines = max(
        math.ceil(_display_width(text) / max(width - 1, 1)) or 1
        for text, width in zip(texts, widths, strict=True)
    )
    return lines * LINE_HEIGHT + 3


def _display_width(text: str) -> int:
    """Chinese characters take two columns' worth of width, Latin ones one."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _type_text(column: Column) -> str:
    parts = [column.type_label()]
    if column.minimum is not None:
        parts.append(f"不小于 {column.minimum}")
    if column.kind is Kind.TEXT and column.max_length < DEFAULT_TEXT_LIMIT:
        parts.append(f"不超过 {column.max_length} 个字")
    return ",".join(parts)


# contract sheets ----------------------------------------------------------------------------


def _write_contract_sheet(
    sheet: Worksheet,
    styles: _Styles,
    model: type[SheetModel],
    sources: Mapping[tuple[str, str], str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    columns = list(model.columns().values())
    _set_columns(sheet, styles, columns)
    _write_header(sheet, styles, model, sources)
    _write_rows(sheet, styles, columns, rows)
    sheet.freeze_panes(FIRST_DATA_ROW, 0)
    sheet.autofilter(HEADER_ROW, 0, max(HEADER_ROW, len(rows)), len(columns) - 1)
    sheet.set_landscape()
    sheet.repeat_rows(HEADER_ROW)
    sheet.protect(
        "",
        {"insert_rows": True, "delete_rows": True, "sort": True, "autofilter": True, "format_columns": True},
    )


def _set_columns(sheet: Worksheet, styles: _Styles, columns: Sequence[Column]) -> None:
    """Unlock every cell but the header: Excel refuses to delete a row that holds a locked cell."""
    for col, column in enumerate(columns):
        sheet.set_column(col, col, column.width, styles.data(column))
    sheet.set_column(len(columns), LAST_COL, None, styles.plain)


def _write_header(
    sheet: Worksheet, styles: _Styles, model: type[SheetModel], sources: Mapping[tuple[str, str], str]
) -> None:
    """The header cells stay locked; the validation below each one covers every row Excel has."""
    for col, column in enumerate(model.columns().values()):
        style = styles.header_required if column.required else styles.header_optional
        sheet.write_string(HEADER_ROW, col, _marked_header(column), style)
        source = sources.get((model.sheet_name, column.header))
        sheet.data_validation(FIRST_DATA_ROW, col, LAST_ROW, col, _validation(column, source))
    sheet.set_row(HEADER_ROW, 32)


def _marked_header(column: Column) -> str:
    return f"{REQUIRED_MARK}{column.header}" if column.required else column.header


def _option_sources(models: Sequence[type[SheetModel]]) -> dict[tuple[str, str], str]:
    """(sheet, header) → the 选项 range holding its choices; inline lists stop at 255 characters."""
    sources: dict[tuple[str, str], str] = {}
    for col, (model, column) in enumerate(_choice_columns(models)):
        last_row = FIRST_DATA_ROW + len(column.choices) - 1
        formula = xl_range_formula(CHOICES_SHEET, FIRST_DATA_ROW, col, last_row, col)
        sources[(model.sheet_name, column.header)] = f"={formula}"
    return sources


def _choice_columns(models: Sequence[type[SheetModel]]) -> list[tuple[type[SheetModel], Column]]:
    return [
        (model, column)
        for model in models
        for column in model.columns().values()
        if column.kind is Kind.CHOICE
    ]


def _write_options(sheet: Worksheet, styles: _Styles, models: Sequence[type[SheetModel]]) -> None:
    for col, (model, column) in enumerate(_choice_columns(models)):
        sheet.set_column(col, col, max(column.width, 16))
        sheet.write_string(HEADER_ROW, col, f"{model.sheet_name}·{column.header}", styles.label)
        for offset, choice in enumerate(column.choices):
            sheet.write_string(FIRST_DATA_ROW + offset, col, choice)
    sheet.hide()
    sheet.protect()


# data validation ----------------------------------------------------------------------------


def _validation(column: Column, list_source: str | None) -> dict[str, Any]:
    """Every data cell gets at least an input message; typed kinds also get a check."""
    prompt = {
        "input_title": _clip(column.header + ("(必填)" if column.required else ""), TITLE_LIMIT),
        "input_message": _clip(_input_message(column), MESSAGE_LIMIT, ELLIPSIS),
        "ignore_blank": True,
    }
    check = _check(column, list_source)
    if check is None:
        return {"validate": "any", **prompt}
    error = {
        "error_title": _clip(f"{column.header}填写有误", TITLE_LIMIT),
        "error_message": _clip(check.pop("error_message"), MESSAGE_LIMIT, ELLIPSIS),
    }
    return {**check, **prompt, **error}


def _check(column: Column, list_source: str | None) -> dict[str, Any] | None:
    match column.kind:
        case Kind.CHOICE if list_source is not None:
            message = f"请从下拉列表中选择。可选值:{column.choices_text()}"
            return {"validate": "list", "source": list_source, "error_message": message}
        case Kind.DATE:
            return {
                "validate": "date",
                "criteria": "between",
                "minimum": EARLIEST_DATE,
                "maximum": LATEST_DATE,
                "error_message": f"请填写日期,如 2014-05-31;须在 {EARLIEST_DATE} 至 {LATEST_DATE} 之间。",
            }
        case Kind.INTEGER | Kind.DECIMAL:
            return _number_check(column)
        case Kind.USCC:
            return {
                "validate": "length",
                "criteria": "==",
                "value": USCC_LENGTH,
                "error_message": f"统一社会信用代码应为 {USCC_LENGTH} 位,请核对营业执照。",
            }
    return None


def _number_check(column: Column) -> dict[str, Any]:
    integer = column.kind is Kind.INTEGER
    noun = "整数" if integer else "数字"
    check: dict[str, Any] = {"validate": "integer" if integer else "decimal"}
    if column.minimum is None:
        check.update(criteria="between", minimum=-UNBOUNDED, maximum=UNBOUNDED)
        return {**check, "error_message": f"请填写{noun},不要带单位或文字。"}
    bound = int(column.minimum) if integer else float(column.minimum)
    check.update(criteria=">=", value=bound)
    return {**check, "error_message": f"请填写不小于 {column.minimum} 的{noun},不要带单位或文字。"}


def _input_message(column: Column) -> str:
    """Shown when a cell is selected; the type label already says how to separate several values."""
    parts = [("必填" if column.required else "选填") + ":" + _type_text(column) + "。"]
    if column.note:
        parts.append(_sentence(column.note))
    match column.kind:
        case Kind.CHOICE:
            parts.append("请从下拉列表中选择。")
        case Kind.MULTI_CHOICE:
            parts.append(f"可选值:{column.choices_text()}")
        case Kind.DATE:
            parts.append("如 2014-05-31。")
    return "".join(parts)


def _sentence(text: str) -> str:
    return text if text.endswith(("。", "!", "?", "!", "?")) else f"{text}。"


def _clip(text: str, limit: int, tail: str = "…") -> str:
    """Cut to Excel's limit, saying so, rather than let XlsxWriter drop the whole validation."""
    if len(text) <= limit:
        return text
    return text[: limit - len(tail)] + tail


# prefill ------------------------------------------------------------------------------------


def _checked_prefill(
    models: Sequence[type[SheetModel]], rows: Mapping[str, Sequence[Mapping[str, Any]]]
) -> Mapping[str, Sequence[Mapping[str, Any]]]:
    """Fail on a sheet or header the template does not have: that is a caller's typo, not data."""
    headers = {model.sheet_name: {column.header for column in model.columns().values()} for model in models}
    for sheet_name, sheet_rows in rows.items():
        if sheet_name not in headers:
            raise ValueError(f"no sheet {sheet_name!r} in this template; it has {', '.join(headers)}")
        for row in sheet_rows:
            unknown = sorted(set(row) - headers[sheet_name])
            if unknown:
                raise ValueError(f"sheet {sheet_name!r} has no column {', '.join(unknown)}")
    return rows


def _write_rows(
    sheet: Worksheet, styles: _Styles, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]
) -> None:
    positions = {column.header: (col, column) for col, column in enumerate(columns)}
    for offset, row in enumerate(rows):
        for header, value in row.items():
            col, column = positions[header]
            _write_value(sheet, styles, FIRST_DATA_ROW + offset, col, value, styles.data(column))


def _write_value(sheet: Worksheet, styles: _Styles, row: int, col: int, value: Any, style: Format) -> None:
    """Each Python type goes through its own writer; a str is never parsed, so "=1+1" stays text."""
    match value:
        case None:
            return
        case bool():
            sheet.write_boolean(row, col, value, style)
        case date():
            sheet.write_datetime(row, col, value, styles.date)
        case int() | float() | Decimal():
            sheet.write_number(row, col, float(value), style)
        case str():
            sheet.write_string(row, col, value, style)
        case tuple() | list():
            sheet.write_string(row, col, LIST_SEPARATOR.join(str(item) for item in value), style)
        case _:
            raise TypeError(f"cannot write {type(value).__name__} value {value!r} to a template cell")


# 填报信息 -------------------------------------------------------------------------------------


def _write_stamp(sheet: Worksheet, styles: _Styles, stamp: Stamp) -> None:
    """Very hidden: the Unhide menu cannot reveal it, so submitters cannot casually edit it."""
    sheet.set_column(0, 0, 12)
    sheet.set_column(1, 1, 24)
    for row, (label, field_name) in enumerate(STAMP_LABELS.items()):
        sheet.write_string(row, 0, label, styles.label)
        sheet.write_string(row, 1, _stamp_text(getattr(stamp, field_name)))
    sheet.very_hidden()
    sheet.protect()


def _stamp_text(value: Any) -> str:
    if isinstance(value, SubmitterKind):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)
