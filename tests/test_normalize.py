from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from sheetsync.normalize import (
    CellProblem,
    ChoiceMatcher,
    clean_text,
    from_excel_serial,
    to_date,
    to_decimal,
    to_integer,
    to_phone,
    to_uscc,
)
from sheetsync.schemas.enterprise import INDUSTRY_SECTIONS


@pytest.mark.parametrize(
    "raw",
    [
        date(2014, 5, 31),
        datetime(2014, 5, 31, 9, 30),
        41790,
        41790.0,
        "41790",
        "2014-5-31",
        "2014-05-31",
        "2014/05/31",
        "2014/5/31",
        "2014.5.31",
        "2014年5月31日",
        "2014年05月31日",
        " 2014 年 5 月 31 日 ",
        "２０１４年５月３１日",
        "20140531",
        "2014-05-31 00:00:00",
    ],
)
def test_every_date_form_reads_as_the_same_day(raw: object) -> None:
    assert to_date(raw) == date(2014, 5, 31)


@pytest.mark.parametrize("raw", ["2014-13-45", "下月", "2014-02-30", "5月31日", True, "31/05/2014x"])
def test_not_a_date(raw: object) -> None:
    with pytest.raises(CellProblem) as caught:
        to_date(raw)
    assert caught.value.code == "not-a-date"


def test_excel_serials_both_date_systems() -> None:
    assert from_excel_serial(1) == date(1900, 1, 1)
    assert from_excel_serial(59) == date(1900, 2, 28)
    assert from_excel_serial(61) == date(1900, 3, 1)
    with pytest.raises(CellProblem):
        from_excel_serial(60)  # Excel's 29 Feb 1900 never existed
    assert from_excel_serial(0, date1904=True) == date(1904, 1, 1)
    assert from_excel_serial(40328, date1904=True) == date(2014, 5, 31)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, Decimal(12)),
        (0.1, Decimal("0.1")),
        ("1,234.5", Decimal("1234.5")),
        ("１２３４", Decimal(1234)),
        (" 56 ", Decimal(56)),
        ("1，000", Decimal(1000)),
        ("-3", Decimal(-3)),
    ],
)
def test_numbers(raw: object, expected: Decimal) -> None:
    assert to_decimal(raw) == expected


@pytest.mark.parametrize("raw", ["约20万", "12万元", "abc", True, date(2014, 1, 1)])
def test_not_a_number(raw: object) -> None:
    with pytest.raises(CellProblem) as caught:
        to_decimal(raw)
    assert caught.value.code == "not-a-number"


def test_integers() -> None:
    assert to_integer("３") == 3
    assert to_integer(2.0) == 2
    with pytest.raises(CellProblem) as caught:
        to_integer(2.5)
    assert caught.value.code == "not-an-integer"


def test_text_is_trimmed_and_blank_is_none() -> None:
    assert clean_text("  广州　某某  公司 ") == "广州 某某 公司"
    assert clean_text("\u3000 ") is None
    assert clean_text(2014001.0) == "2014001"
    with pytest.raises(CellProblem) as caught:
        clean_text("#N/A")
    assert caught.value.code == "excel-error"


def test_phone_keeps_leading_zeros() -> None:
    assert to_phone("020-83123839") == "020-83123839"
    assert to_phone("07558888888") == "07558888888"
    assert to_phone("１３８００１３８０００") == "13800138000"
    with pytest.raises(CellProblem):
        to_phone("无")


def test_uscc_is_upper_cased_and_checked() -> None:
    assert to_uscc(" 91440101ma5cjq4n59 ") == "91440101MA5CJQ4N59"
    with pytest.raises(CellProblem) as caught:
        to_uscc("91440101MA5CJQ4N58")
    assert caught.value.code == "uscc-checksum"
    assert caught.value.context["expected"] == "9"


def test_choices_accept_short_forms_and_full_width() -> None:
    sections = ChoiceMatcher(INDUSTRY_SECTIONS)
    assert sections.parse_one("C") == "C 制造业"
    assert sections.parse_one("制造业") == "C 制造业"
    assert sections.parse_one("Ｃ　制造业") == "C 制造业"
    with pytest.raises(CellProblem):
        sections.parse_one("Z 其他")


def test_multi_choice_with_names_that_contain_the_separator() -> None:
    sections = ChoiceMatcher(INDUSTRY_SECTIONS)
    assert sections.parse_many("A 农、林、牧、渔业、C、D 电力、热力、燃气及水生产和供应业") == (
        "A 农、林、牧、渔业",
        "C 制造业",
        "D 电力、热力、燃气及水生产和供应业",
    )
    assert sections.parse_many("C；H") == ("C 制造业", "H 住宿和餐饮业")
    with pytest.raises(CellProblem):
        sections.parse_many("C、火星业")
