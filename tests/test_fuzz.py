"""Issue #8, fuzzing: the value normalizers and whole workbooks with random cells (hypothesis).

Bounded for CI: a fixed number of examples per property, no example database, derandomized so
that a failure in CI is the same failure on a developer's machine.  What must hold:

* a normalizer returns a value or raises :class:`CellProblem`, nothing else, and quickly;
* where a value has a canonical spelling, reading it back gives the value (dates, numbers,
  integers, credit codes);
* ``validate_file`` on a workbook of random cell types and values never raises, and every
  problem names a sheet of the workbook and a cell inside what was written there (or no cell).
"""

from __future__ import annotations

import re
import tempfile
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheetsync import normalize
from sheetsync.normalize import CellProblem, ChoiceMatcher
from sheetsync.profile import load_profile
from sheetsync.schemas import SHEETS
from sheetsync.schemas.enterprise import INDUSTRY_SECTIONS
from sheetsync.uscc import ALPHABET, check_character
from sheetsync.validate import validate_file

FAST = settings(max_examples=300, deadline=timedelta(seconds=2), derandomize=True, database=None)
SLOW = settings(
    max_examples=120,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PROFILE = load_profile("guangzhou-2013")
EXCEL_EPOCH = date(1899, 12, 30)
EPOCH_1904 = date(1904, 1, 1)
FORMULA_LIKE = [
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "=1+1",
    '=HYPERLINK("http://x")',
    "@SUM(A1)",
    "-2+3",
    "+86 20",
]

# text a submitter could type, with what breaks things: control characters, emoji, full width,
# formula starts, Excel's error texts, and numbers and dates spelt every way
_any_text = st.text(
    st.characters(exclude_categories=("Cs",))
    | st.sampled_from(list("\x00\x01\x07\x0b\x1f\u3000\ufeff😀👍🏽")),
    max_size=40,
)
_digits = st.text(st.sampled_from("0123456789０１２３４５６７８９"), min_size=1, max_size=25)
_number_text = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "+", "-"]),
    _digits,
    st.sampled_from(["", "."]) | _digits.map(lambda d: "." + d),
    st.sampled_from(["", "e5", "E-3"]) | st.integers(-(10**12), 10**12).map(lambda e: f"e{e}"),
)
_grouped_text = st.decimals(-(10**18), 10**18, places=2).map(lambda d: f"{d:,}")
_date_text = st.builds(
    lambda y, m, d, seps, tail: f"{y}{seps[0]}{m}{seps[1]}{d}{seps[2]}{tail}",
    st.integers(0, 99999),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from(
        [("-", "-", ""), ("/", "/", ""), (".", ".", ""), ("年", "月", "日"), (" 年 ", " 月 ", " 日")]
    ),
    st.sampled_from(["", " 08:30", " 23:59:59", "T10:00"]),
)
_special_text = st.sampled_from(
    [
        "#N/A",
        "#DIV/0!",
        " #REF! ",
        "NaN",
        "inf",
        "-Infinity",
        "1e999999999",
        "0e-999999",
        "9" * 400,
        "60",
        "0",
        "",
    ]
    + FORMULA_LIKE
)
TEXT = _any_text | _number_text | _grouped_text | _date_text | _special_text
RAW = st.one_of(
    st.none(),
    TEXT,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(),
    st.decimals(allow_nan=True, allow_infinity=True),
)

NORMALIZERS = {
    "clean_text": normalize.clean_text,
    "to_decimal": normalize.to_decimal,
    "to_integer": normalize.to_integer,
    "to_date": normalize.to_date,
    "to_date_1904": lambda raw: normalize.to_date(raw, date1904=True),
    "to_uscc": normalize.to_uscc,
    "to_phone": normalize.to_phone,
    "split_list": normalize.split_list,
    "industry": ChoiceMatcher(INDUSTRY_SECTIONS).parse_one,
    "industries": ChoiceMatcher(INDUSTRY_SECTIONS).parse_many,
}


@FAST
@given(raw=RAW)
def test_normalizers_raise_only_cell_problems(raw: Any) -> None:
    for name, parse in NORMALIZERS.items():
        try:
            parse(raw)
        except CellProblem as problem:
            assert problem.code, name
        normalize.is_blank(raw)
        if isinstance(raw, str):
            normalize.canonical(raw)


@FAST
@given(day=st.dates(min_value=date(1900, 3, 1), max_value=date(9999, 12, 31)), seconds=st.integers(0, 86399))
def test_dates_read_back_in_every_spelling(day: date, seconds: int) -> None:
    serial = (day - EXCEL_EPOCH).days
    spellings = [
        day,
        datetime.combine(day, time()) + timedelta(seconds=seconds),
        serial,
        float(serial) + seconds / 86400,
        str(serial) if 10000 <= serial <= 99999 else day.isoformat(),  # a date cell turned to text
        day.isoformat(),
        f"{day.year}-{day.month}-{day.day}",
        f"{day.year}/{day.month:02d}/{day.day:02d}",
        f"{day.year}.{day.month}.{day.day}",
        f"{day.year}年{day.month}月{day.day}日",
        f" {day.year} 年 {day.month} 月 {day.day} 日 ",
        f"{day:%Y%m%d}",
        f"{day.isoformat()} 08:30",
        "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in f"{day.year}年{day.month}月{day.day}日"),
    ]
    for spelling in spellings:
        assert normalize.to_date(spelling) == day, spelling
    if day >= EPOCH_1904 + timedelta(days=1):
        assert normalize.to_date((day - EPOCH_1904).days, date1904=True) == day


@FAST
@given(number=st.decimals(min_value=-(10**15), max_value=10**15, places=4, allow_nan=False))
def test_decimals_read_back(number: Decimal) -> None:
    assert normalize.to_decimal(number) == number
    assert normalize.to_decimal(str(number)) == number
    assert normalize.to_decimal(f"{number:,}") == number
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in str(number))
    assert normalize.to_decimal(full_width) == number
    assert normalize.to_decimal(f"  {number}  ") == number


@FAST
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_floats_read_back_exactly(value: float) -> None:
    number = normalize.to_decimal(value)
    assert number is not None and float(number) == value
    assert normalize.to_decimal(repr(value)) == number


@FAST
@given(value=st.integers(min_value=-(2**53), max_value=2**53))
def test_integers_read_back(value: int) -> None:
    assert normalize.to_integer(value) == value
    assert normalize.to_integer(str(value)) == value
    assert normalize.to_integer(float(value)) == value
    assert normalize.to_integer(f"{value:,}") == value


@FAST
@given(
    authority=st.sampled_from("123456789ANY"),
    kind=st.sampled_from(ALPHABET),
    division=st.integers(0, 999_999).map(lambda n: f"{n:06d}"),
    organisation=st.text(st.sampled_from(ALPHABET), min_size=9, max_size=9),
)
def test_credit_codes_read_back(authority: str, kind: str, division: str, organisation: str) -> None:
    body = authority + kind + division + organisation
    code = body + check_character(body)
    assert normalize.to_uscc(code) == code
    assert normalize.to_uscc(f" {code.lower()} ") == code
    assert normalize.to_uscc(f"{code[:6]}-{code[6:12]} {code[12:]}") == code


# ------------------------------------------------------------------------------- workbooks

_A1 = re.compile(r"^([A-Z]{1,3})([1-9][0-9]*)$")
HEADERS = {model.sheet_name: [column.header for column in model.columns().values()] for model in SHEETS}


def _cell_value(draw: Any) -> Any:
    kind = draw(
        st.sampled_from(["number", "text", "formula-like", "date", "bool", "blank", "formula", "serial"])
    )
    if kind == "number":
        return draw(
            st.floats(allow_nan=False, allow_infinity=False, width=64) | st.integers(-(10**15), 10**15)
        )
    if kind == "text":
        return draw(TEXT)
    if kind == "formula-like":
        return draw(st.sampled_from(FORMULA_LIKE))
    if kind == "date":
        return draw(st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31)))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "serial":
        return ("serial", draw(st.floats(min_value=-10, max_value=3_000_000, allow_nan=False)))
    if kind == "formula":
        cached = draw(st.sampled_from([0, 1.5, "文本", True, "#N/A", "#DIV/0!", "", "=不是公式"]))
        return ("formula", draw(st.sampled_from(["=1+1", "=A1", "=NA()", "=1/0", '="a"&"b"'])), cached)
    return None


@st.composite
def workbooks(draw: Any) -> dict[str, Any]:
    sheets: dict[str, list[list[Any]]] = {}
    for _ in range(draw(st.integers(1, 3))):
        contract = draw(st.sampled_from([*HEADERS, None]))
        name = contract or draw(
            st.text(
                st.characters(exclude_categories=("Cs",), exclude_characters="[]:*?/\\'"),
                min_size=1,
                max_size=12,
            )
        )
        name = name.strip() or "表"
        if name.lower() in (existing.lower() for existing in sheets) or name.lower() == "history":
            continue
        width = draw(st.integers(1, 8))
        rows: list[list[Any]] = []
        if contract is not None and draw(st.booleans()):
            headers = HEADERS[contract]
            header = draw(st.permutations(headers))[: draw(st.integers(1, len(headers)))]
            width = len(header)
            rows.append(list(header))
        for _ in range(draw(st.integers(0, 6))):
            rows.append([_cell_value(draw) for _ in range(width)])
        sheets[name] = rows
    return {
        "sheets": sheets,
        "date1904": draw(st.booleans()),
        "offset": draw(st.sampled_from([(0, 0), (0, 0), (3, 2)])),
    }


def _write(path: Path, book_spec: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Write the workbook; returns each sheet's used extent (rows, columns) as written."""
    book = xlsxwriter.Workbook(str(path), {"date_1904": book_spec["date1904"], "strings_to_numbers": False})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    top, left = book_spec["offset"]
    extents: dict[str, tuple[int, int]] = {}
    for name, rows in book_spec["sheets"].items():
        sheet = book.add_worksheet(name)
        extents[name] = (top + len(rows), left + max((len(row) for row in rows), default=0))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                r_, c_ = top + r, left + c
                if value is None:
                    continue
                if isinstance(value, tuple) and value[0] == "formula":
                    sheet.write_formula(r_, c_, value[1], None, value[2])
                elif isinstance(value, tuple) and value[0] == "serial":
                    sheet.write_number(r_, c_, value[1], date_format)
                elif isinstance(value, datetime):
                    sheet.write_datetime(r_, c_, value, date_format)
                elif isinstance(value, bool):
                    sheet.write_boolean(r_, c_, value)
                elif isinstance(value, str):
                    sheet.write_string(r_, c_, value)
                else:
                    sheet.write_number(r_, c_, value)
    book.close()
    return extents


def _column(letters: str) -> int:
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index - 1


@SLOW
@given(book_spec=workbooks())
def test_random_workbooks_never_crash_and_problems_point_inside(book_spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "random.xlsx"
        extents = _write(path, book_spec)
        result = validate_file(path, profile=PROFILE, expected_submitter="越秀区")
    for problem in result.problems:
        assert problem.sheet is None or problem.sheet in extents, problem
        if problem.cell is None:
            continue
        assert problem.sheet is not None, problem
        found = _A1.match(problem.cell)
        assert found, problem
        rows, columns = extents[problem.sheet]
        assert int(found.group(2)) <= rows, problem
        assert _column(found.group(1)) < columns, problem
    for sheet in result.sheets:
        for row in sheet.valid_rows:
            assert row.row <= extents[sheet.source_sheet][0]
