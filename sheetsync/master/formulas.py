"""Formula text for the master workbook, in the functions every spreadsheet officers use knows.

Only functions of Excel 2010 that WPS and LibreOffice read the same way are used: IF, AND, OR,
ISNUMBER, IFERROR, MATCH, INDEX, COUNTA, COUNTIF(S), SUMIFS, SUMPRODUCT, ROUND, MOD, ABS, YEAR, ROW. No
dynamic arrays, no MAXIFS, no LET. A :class:`Formula` always travels with the value sheetsync
computed for it, which is written as the cell's cached value: a viewer that never recalculates
shows that value, and the LibreOffice test proves the formula gives the same.

Three traps shape the formulas:

* COUNTIF-style criteria read text that looks like a number as a number, and Excel compares such
  numbers on 15 digits only: two 18-digit credit codes sharing their first 15 digits would count
  as one. Credit codes are therefore never a COUNTIFS criterion; they are matched with MATCH
  (which compares text as text) or carried in keys that cannot look like numbers.
* A formula returning ``""`` is text: ``"" > 0`` is TRUE in Excel. Numbers are tested with
  ISNUMBER before they are compared.
* Python's :class:`~decimal.Decimal` rounds half to even, Excel's ROUND half away from zero;
  :func:`half_even` rounds the way the domain engine does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from xlsxwriter.utility import xl_col_to_name

AS_OF_NAME = "基准日期"
"""The workbook-scope name of the cell holding the run's as_of; every date-relative formula uses it."""

FIRST_DATA_ROW = 2
"""Excel row of the first data row under a one-row header: bounded ranges start here."""

TIE_TOLERANCE = "1E-9"
"""How close to .5 a scaled value must be to count as a tie (floating sums are not exact)."""


@dataclass(frozen=True)
class Formula:
    """A formula (with its leading ``=``) and the value sheetsync computed for it.

    ``value`` is what the cell caches: a number, a text (``""`` for blank), or a date.
    """

    text: str
    value: Any

    def __post_init__(self) -> None:
        if not self.text.startswith("="):
            raise ValueError(f"a formula starts with '=': {self.text!r}")


def cached(value: Any) -> Any:
    """A Python result as a cell caches it: None becomes "", Decimal a float; dates stay dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, int | float | str | date):
        return value
    return str(value)


def text(value: str) -> str:
    """A string literal: quotes doubled."""
    return '"' + value.replace('"', '""') + '"'


def array(values: Sequence[str]) -> str:
    """An array constant of strings, e.g. {"重点商贸","星级酒店"}."""
    return "{" + ",".join(text(value) for value in values) + "}"


def quote_sheet(name: str) -> str:
    """A sheet name as formulas write it: always quoted, so CJK names read alike everywhere."""
    return "'" + name.replace("'", "''") + "'"


def col(index: int) -> str:
    return xl_col_to_name(index)


def cell(col_index: int, excel_row: int, *, sheet: str | None = None, absolute: bool = False) -> str:
    """``C5`` (or ``$C$5``), optionally on another sheet; ``excel_row`` is 1-based."""
    letters = col(col_index)
    ref = f"${letters}${excel_row}" if absolute else f"{letters}{excel_row}"
    return f"{quote_sheet(sheet)}!{ref}" if sheet is not None else ref


def span(sheet: str, col_index: int, rows: int) -> str:
    """The bounded data range of one column: ``'审核进度'!$A$2:$A$186``.

    A sheet without rows still gets one (empty) row, so the range is valid and counts nothing.
    """
    letters = col(col_index)
    last = FIRST_DATA_ROW + max(rows, 1) - 1
    return f"{quote_sheet(sheet)}!${letters}${FIRST_DATA_ROW}:${letters}${last}"


def equals(ref: str) -> str:
    """A COUNTIFS criterion matching the text of ``ref`` exactly, even text starting with =, < or >.

    A bare reference would read a name like ``<无>`` as a comparison; ``"="&A2`` is plain equality.
    """
    return f'"="&{ref}'


def date_known(ref: str) -> str:
    """The date in ``ref`` has happened by 基准日期 (the domain's ``known``)."""
    return f"AND(ISNUMBER({ref}),{ref}<={AS_OF_NAME})"


def half_even(expr: str) -> str:
    """``expr`` (not negative) rounded to a whole number, ties to even, as Decimal.quantize does."""
    return f"IF(ABS(MOD({expr},1)-0.5)<{TIE_TOLERANCE},2*ROUND(({expr})/2,0),ROUND({expr},0))"


Categories = tuple[str, Sequence[str]]
"""A range of 企业类别 and the categories a sector covers: criteria summed over the categories."""


def count(criteria: Sequence[tuple[str, str]], categories: Categories | None = None) -> str:
    """COUNTIFS over range/criterion pairs; with ``categories`` summed over the sector's categories."""
    return _ifs("COUNTIFS", None, criteria, categories)


def total(
    sum_range: str,
    criteria: Sequence[tuple[str, str]],
    categories: Categories | None = None,
) -> str:
    """SUMIFS of ``sum_range`` over range/criterion pairs, like :func:`count`."""
    return _ifs("SUMIFS", sum_range, criteria, categories)


def _ifs(
    function: str,
    sum_range: str | None,
    criteria: Sequence[tuple[str, str]],
    categories: Categories | None,
) -> str:
    pairs = list(criteria)
    wrap = False
    if categories is not None:
        category_range, names = categories
        if len(names) == 1:
            pairs.append((category_range, text(names[0])))
        else:
            pairs.append((category_range, array(names)))
            wrap = True  # one result per name: SUMPRODUCT adds them up in every application
    arguments = [sum_range] if sum_range is not None else []
    for range_, criterion in pairs:
        arguments += [range_, criterion]
    body = f"{function}({','.join(arguments)})"
    return f"SUMPRODUCT({body})" if wrap else body
