"""The master's row serialiser (sheetsync.master.rows) writes exactly XlsxWriter's bytes.

It replaces XlsxWriter's per-cell XML code for speed; these tests write the same cells with
XlsxWriter's own worksheet and with :class:`RowStreamingSheet` and compare every part of the two
files, so an XlsxWriter upgrade that changes its output shows up here instead of in the master.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from xlsxwriter import Workbook
from xlsxwriter.worksheet import Worksheet

from sheetsync.master.rows import RowStreamingSheet

TEXTS = [
    "plain",
    "中文 文本",
    " leading space",
    "trailing space ",
    "\ttab first",
    "newline\ninside",
    "ends with newline\n",
    "\u3000全角空格",
    "no-break\u00a0",
    "control \x01 \x1f chars",
    "\x0bvertical tab first",
    "escape lookalike _x0041_ and _x00e9_",
    "non-characters \ufffe \uffff",
    'quotes " and & < > ampersands',
    "<r>looks like rich text</r>",
    "<r><t>raw</t></r>",
    "=1+1",
    "x" * 40000,  # truncated by XlsxWriter to Excel's limit
    "😀 outside the BMP",
]
FORMULA_VALUES: list[Any] = [
    0,
    1,
    -2.5,
    1e20,
    123456789.123456789,
    "",
    "text",
    "a&b<c>",
    "#N/A",
    "#DIV/0!",
    True,
    False,
    None,
]


class _Book(Workbook):
    def __init__(self, filename: str, options: dict[str, Any]) -> None:
        super().__init__(filename, options)
        self.worksheet_class = RowStreamingSheet


def _write(path: Path, book_class: Callable[..., Workbook], fill: Callable[[Workbook], None]) -> None:
    book = book_class(str(path), {"constant_memory": True})
    book.set_properties({"created": datetime(2014, 11, 30, 2, 30)})
    fill(book)
    book.close()


def _assert_same(tmp_path: Path, fill: Callable[[Workbook], None]) -> None:
    stock, fast = tmp_path / "stock.xlsx", tmp_path / "fast.xlsx"
    _write(stock, Workbook, fill)
    _write(fast, _Book, fill)
    with zipfile.ZipFile(stock) as a, zipfile.ZipFile(fast) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            assert a.read(name) == b.read(name), name


def _every_kind(book: Workbook) -> None:
    bold = book.add_format({"bold": True})
    dated = book.add_format({"num_format": "yyyy-mm-dd"})
    same_as_bold = book.add_format({"bold": True})  # a second object with the same key
    row_style = book.add_format({"bg_color": "#FFC7CE"})
    column_style = book.add_format({"italic": True})
    sheet = book.add_worksheet("各种单元格")
    assert isinstance(sheet, Worksheet)
    sheet.set_column(3, 3, 12, column_style)
    sheet.set_column(5, 6, 8, None, {"level": 1, "hidden": True})
    sheet.set_row(0, 32)
    sheet.set_row(4, None, row_style)
    row = 0
    for col, text in enumerate(["表头", "header ", "&"]):
        sheet.write_string(row, col, text, bold)
    row += 1
    for text in TEXTS:
        sheet.write_string(row, 0, text)
        sheet.write_string(row, 1, text, same_as_bold)
        sheet.write_string(row, 3, text)
        row += 1
    sheet.write_string(row, 0, "")  # an empty string cell
    row += 1
    for number in (0, 1, -1, 0.1, 1 / 3, 1e-300, 1e300, 2**53 + 1, 45000.5):
        sheet.write_number(row, 0, number)
        sheet.write_number(row, 2, number, dated)
        sheet.write_number(row, 3, number)
        row += 1
    sheet.write_datetime(row, 0, datetime(2014, 11, 30, 2, 30), dated)
    sheet.write_datetime(row, 1, date(2014, 11, 30), dated)
    row += 1
    for value in FORMULA_VALUES:
        sheet.write_formula(row, 0, '=IF(A1<>"",A1&"|"&B1,"")', None, value)
        sheet.write_formula(row, 1, "=SUM(A1:A3)>0", bold, value)
        row += 1
    sheet.write_blank(row, 0, None, bold)
    sheet.write_blank(row, 1, None)  # no format: XlsxWriter keeps no cell
    sheet.write_boolean(row, 2, True)
    sheet.write_boolean(row, 3, False, bold)
    sheet.write_array_formula(row, 4, row, 4, "{=SUM(A1:A2*B1:B2)}", None, 7)
    row += 1
    sheet.write_rich_string(row, 0, "a ", bold, "bold", " and <r>plain</r>")
    sheet.write_rich_string(row, 1, bold, "all bold & more", " plain tail", row_style)
    row += 1
    sheet.write_url(row, 0, "internal:'各种单元格'!A1", bold, "查看 ›")
    sheet.write_url(row, 1, "https://example.com/?a=1&b=2")
    sheet.write_comment(row, 2, "a comment")
    row += 1
    sheet.write_comment(row + 2, 0, "a comment on a row without cells")
    sheet.set_row(row + 3, 20)  # formatting only
    sheet.write_string(row + 5, 16383, "last column")
    sheet.write_string(row + 6, 0, "after a gap")
    sheet.autofilter(0, 0, row + 6, 4)
    sheet.freeze_panes(1, 0)
    sheet.conditional_format(1, 0, row, 3, {"type": "formula", "criteria": '=$A2="x"', "format": bold})
    sheet.data_validation(1, 4, 10, 4, {"validate": "list", "source": ["是", "否"]})
    empty = book.add_worksheet("空")
    empty.set_row(3, 30)
    second = book.add_worksheet("second")
    second.write_string(0, 0, "first row", dated)  # first use of a format in a later sheet
    second.write_number(1, 0, 1, book.add_format({"num_format": "0.0%"}))


def test_every_kind_of_cell_is_written_as_xlsxwriter_writes_it(tmp_path: Path) -> None:
    _assert_same(tmp_path, _every_kind)


@pytest.mark.parametrize("text", TEXTS)
def test_each_text_alone(tmp_path: Path, text: str) -> None:
    def fill(book: Workbook) -> None:
        sheet = book.add_worksheet()
        sheet.write_string(0, 0, text)
        sheet.write_formula(1, 0, "=A1", None, text[:100])

    _assert_same(tmp_path, fill)


def test_default_row_height_changed(tmp_path: Path) -> None:
    """A changed default row height is left to XlsxWriter's own row writer."""

    def fill(book: Workbook) -> None:
        sheet = book.add_worksheet()
        sheet.set_default_row(24)
        for row in range(3):
            sheet.write_string(row, 0, f"row {row}")
            sheet.write_number(row, 1, row)

    _assert_same(tmp_path, fill)


def test_master_sheet_uses_the_row_serialiser() -> None:
    from sheetsync.render_master import _MasterSheet

    assert issubclass(_MasterSheet, RowStreamingSheet)
