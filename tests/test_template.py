"""The template is read back the way submitters' Excel and the nightly run will see it."""

from __future__ import annotations

import re
import warnings
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.dimensions import ColumnDimension
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineWorkbook, SheetVisibleEnum

from sheetsync.render_template import template_filename, write_template
from sheetsync.schemas import SHEETS, SheetModel, sheets_for
from sheetsync.schemas.base import Column, Kind, SubmitterKind
from sheetsync.schemas.stamp import CHOICES_SHEET, INSTRUCTIONS_SHEET, STAMP_SHEET, TEMPLATE_VERSION

GENERATED_ON = date(2026, 11, 3)
ALL_KINDS = tuple(SubmitterKind)
USCC = "91440101MA59XXXX0X"


def render(folder: Path, kind: SubmitterKind = SubmitterKind.DISTRICT, **kwargs: Any) -> Path:
    """XlsxWriter reports a dropped validation or an over-long prompt only as a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return write_template(
            folder / "template.xlsx",
            submitter=kwargs.pop("submitter", "越秀区"),
            kind=kind,
            period=kwargs.pop("period", "2026-11"),
            profile=kwargs.pop("profile", "guangzhou-2013"),
            generated_on=GENERATED_ON,
            **kwargs,
        )


def load(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return openpyxl.load_workbook(path)


def calamine_rows(path: Path, sheet: str) -> list[list[Any]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


def validations_at(sheet: Worksheet, col: int) -> list[DataValidation]:
    """The validations that cover row 2 of one column (1-based)."""
    cell = f"{get_column_letter(col)}2"
    return [dv for dv in sheet.data_validations.dataValidation if cell in dv.sqref]


def column_dimension(sheet: Worksheet, col: int) -> ColumnDimension:
    """Adjacent columns of equal width and format are stored once, keyed by the first of them."""
    return next(dim for dim in sheet.column_dimensions.values() if dim.min <= col <= dim.max)


def sheet_model(name: str) -> type[SheetModel]:
    return next(model for model in SHEETS if model.sheet_name == name)


def indexed_columns(model: type[SheetModel]) -> list[tuple[int, Column]]:
    return list(enumerate(model.columns().values(), start=1))


def options_cells(book: openpyxl.Workbook, formula: str) -> list[Any]:
    found = re.fullmatch(
        r"'?(?P<sheet>[^'!]+)'?!\$(?P<col>[A-Z]+)\$(?P<first>\d+):\$(?P=col)\$(?P<last>\d+)", formula
    )
    assert found, formula
    sheet = book[found["sheet"]]
    col = column_index_from_string(found["col"])
    return [sheet.cell(row, col).value for row in range(int(found["first"]), int(found["last"]) + 1)]


@pytest.fixture(scope="module")
def office_and_district(tmp_path_factory: pytest.TempPathFactory) -> dict[SubmitterKind, Path]:
    """Between them the office and district templates hold every contract sheet."""
    return {
        kind: render(tmp_path_factory.mktemp(kind.value), kind)
        for kind in (SubmitterKind.OFFICE, SubmitterKind.DISTRICT)
    }


def every_sheet(templates: dict[SubmitterKind, Path]) -> list[tuple[Path, type[SheetModel]]]:
    pairs = [(path, model) for kind, path in templates.items() for model in sheets_for(kind)]
    assert {model for _, model in pairs} == set(SHEETS)
    return pairs


# sheets and headers -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_sheets_are_the_contract_sheets_of_the_kind_in_order(tmp_path: Path, kind: SubmitterKind) -> None:
    path = render(tmp_path, kind)
    expected = [
        INSTRUCTIONS_SHEET,
        *(model.sheet_name for model in sheets_for(kind)),
        CHOICES_SHEET,
        STAMP_SHEET,
    ]
    assert load(path).sheetnames == expected
    assert CalamineWorkbook.from_path(str(path)).sheet_names == expected


def test_district_and_office_templates_differ(office_and_district: dict[SubmitterKind, Path]) -> None:
    district = load(office_and_district[SubmitterKind.DISTRICT]).sheetnames
    office = load(office_and_district[SubmitterKind.OFFICE]).sheetnames
    assert "企业名录" in district and "专家库" not in district
    assert "专家库" in office and "企业名录" not in office


def test_only_the_guide_and_contract_sheets_are_visible(tmp_path: Path) -> None:
    book = load(render(tmp_path))
    states = {sheet.title: sheet.sheet_state for sheet in book.worksheets}
    assert states.pop(CHOICES_SHEET) == "hidden"
    assert states.pop(STAMP_SHEET) == "veryHidden"
    assert set(states.values()) == {"visible"}
    assert book.active.title == INSTRUCTIONS_SHEET


def test_headers_are_the_schema_headers_with_required_ones_starred(
    office_and_district: dict[SubmitterKind, Path],
) -> None:
    for path, model in every_sheet(office_and_district):
        header_row = calamine_rows(path, model.sheet_name)[0]
        columns = list(model.columns().values())
        assert [cell.lstrip("*") for cell in header_row] == [column.header for column in columns]
        assert [cell.startswith("*") for cell in header_row] == [column.required for column in columns]


def test_required_headers_have_their_own_fill(tmp_path: Path) -> None:
    sheet = load(render(tmp_path))["企业名录"]
    fills = {
        column.required: sheet.cell(1, col).fill.fgColor.rgb
        for col, column in indexed_columns(sheet_model("企业名录"))
    }
    assert fills[True] != fills[False]


# validation ---------------------------------------------------------------------------------


def test_every_choice_column_has_a_dropdown_sourced_from_the_options_sheet(
    office_and_district: dict[SubmitterKind, Path],
) -> None:
    checked = 0
    for path, model in every_sheet(office_and_district):
        book = load(path)
        for col, column in indexed_columns(model):
            if column.kind is not Kind.CHOICE:
                continue
            (dv,) = validations_at(book[model.sheet_name], col)
            assert dv.type == "list"
            assert dv.formula1.startswith(CHOICES_SHEET) or dv.formula1.startswith(f"'{CHOICES_SHEET}'")
            assert options_cells(book, dv.formula1) == list(column.choices)
            assert "1048576" in str(dv.sqref)
            checked += 1
    assert checked == sum(
        column.kind is Kind.CHOICE for model in SHEETS for column in model.columns().values()
    )


def test_long_choice_lists_are_not_inline(tmp_path: Path) -> None:
    """Excel refuses an inline list longer than 255 characters; the industry list is one."""
    sheet = load(render(tmp_path))["企业名录"]
    col = next(col for col, column in indexed_columns(sheet_model("企业名录")) if column.header == "行业门类")
    (dv,) = validations_at(sheet, col)
    assert '"' not in dv.formula1


def test_typed_columns_are_checked(office_and_district: dict[SubmitterKind, Path]) -> None:
    expected_type = {
        Kind.DATE: "date",
        Kind.INTEGER: "whole",
        Kind.DECIMAL: "decimal",
        Kind.USCC: "textLength",
    }
    for path, model in every_sheet(office_and_district):
        sheet = load(path)[model.sheet_name]
        for col, column in indexed_columns(model):
            if column.kind not in expected_type:
                continue
            (dv,) = validations_at(sheet, col)
            assert dv.type == expected_type[column.kind], column.header
            assert dv.showErrorMessage and dv.error
            if column.minimum is not None:
                assert dv.operator == "greaterThanOrEqual"
                assert Decimal(dv.formula1) == column.minimum


def test_every_column_prompts_in_chinese_within_excel_limits(
    office_and_district: dict[SubmitterKind, Path],
) -> None:
    for path, model in every_sheet(office_and_district):
        sheet = load(path)[model.sheet_name]
        for col, column in indexed_columns(model):
            (dv,) = validations_at(sheet, col)
            assert dv.showInputMessage
            assert dv.promptTitle.startswith(column.header) and len(dv.promptTitle) <= 32
            assert 0 < len(dv.prompt) <= 255
            assert column.type_label() in dv.prompt
            assert dv.prompt.startswith("必填" if column.required else "选填")
            if column.note:
                assert column.note in dv.prompt
            assert len(dv.errorTitle or "") <= 32 and len(dv.error or "") <= 255


def test_multi_value_columns_explain_the_separator_and_have_no_dropdown(
    office_and_district: dict[SubmitterKind, Path],
) -> None:
    path = office_and_district[SubmitterKind.OFFICE]
    sheet = load(path)["专家库"]
    multi = [
        (col, column)
        for col, column in indexed_columns(sheet_model("专家库"))
        if column.kind in (Kind.MULTI_CHOICE, Kind.LIST)
    ]
    assert {column.kind for _, column in multi} == {Kind.MULTI_CHOICE, Kind.LIST}
    for col, _column in multi:
        (dv,) = validations_at(sheet, col)
        assert dv.type is None
        assert "、" in dv.prompt


# formats and protection ---------------------------------------------------------------------


def test_text_and_date_columns_carry_their_number_formats(
    office_and_district: dict[SubmitterKind, Path],
) -> None:
    for path, model in every_sheet(office_and_district):
        sheet = load(path)[model.sheet_name]
        for col, column in indexed_columns(model):
            dimension = column_dimension(sheet, col)
            if column.kind in (Kind.USCC, Kind.PHONE):
                assert dimension.number_format == "@", column.header
            if column.kind is Kind.DATE:
                assert dimension.number_format == "yyyy-mm-dd", column.header
            assert dimension.width == pytest.approx(column.width, abs=1)


def test_header_is_frozen_filtered_and_locked_while_data_cells_are_open(tmp_path: Path) -> None:
    path = render(tmp_path, rows={"培训活动": [{"培训编号": "PX-01"}]})
    book = load(path)
    for model in sheets_for(SubmitterKind.DISTRICT):
        sheet = book[model.sheet_name]
        width = len(model.columns())
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref.startswith(f"A1:{get_column_letter(width)}")
        protection = sheet.protection
        assert protection.sheet and not protection.password
        for allowed in ("insertRows", "deleteRows", "sort", "autoFilter", "formatColumns"):
            assert getattr(protection, allowed) is False, allowed  # False means "not protected"
        assert protection.insertColumns and protection.deleteColumns
        assert all(sheet.cell(1, col).protection.locked for col in range(1, width + 1))
        for col in range(1, width + 1):
            assert column_dimension(sheet, col).protection.locked is False
    assert book["培训活动"]["A2"].protection.locked is False


def test_guide_and_options_are_read_only(tmp_path: Path) -> None:
    book = load(render(tmp_path))
    for name in (INSTRUCTIONS_SHEET, CHOICES_SHEET, STAMP_SHEET):
        assert book[name].protection.sheet, name


# 填报信息 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_stamp_is_very_hidden_and_names_submitter_period_and_version(
    tmp_path: Path, kind: SubmitterKind
) -> None:
    path = render(tmp_path, kind, submitter="市环保局", period="2026-Q4")
    metadata = {meta.name: meta.visible for meta in CalamineWorkbook.from_path(str(path)).sheets_metadata}
    assert metadata[STAMP_SHEET] == SheetVisibleEnum.VeryHidden
    assert load(path)[STAMP_SHEET].protection.sheet
    assert dict(calamine_rows(path, STAMP_SHEET)) == {
        "填报单位": "市环保局",
        "单位类型": kind.value,
        "填报期间": "2026-Q4",
        "模板版本": TEMPLATE_VERSION,
        "规则方案": "guangzhou-2013",
        "生成日期": GENERATED_ON.isoformat(),
    }


def test_stamp_defaults_to_today(tmp_path: Path) -> None:
    path = write_template(
        tmp_path / "t.xlsx", submitter="海珠区", kind=SubmitterKind.DISTRICT, period="2026-11"
    )
    stamp = dict(calamine_rows(path, STAMP_SHEET))
    assert stamp["生成日期"] == date.today().isoformat()
    assert stamp["规则方案"] == ""


# 填报说明 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_guide_explains_every_sheet_and_column_from_the_schemas(tmp_path: Path, kind: SubmitterKind) -> None:
    path = render(tmp_path, kind)
    rows = calamine_rows(path, INSTRUCTIONS_SHEET)
    text = "\n".join(str(cell) for row in rows for cell in row if cell != "")
    assert "越秀区" in text and "2026-11" in text and TEMPLATE_VERSION in text
    assert template_filename("越秀区", "2026-11") in text
    assert "“*”" in text and "2014年5月31日" in text
    first_cells = [row[0] for row in rows]
    for number, model in enumerate(sheets_for(kind), start=1):
        section = first_cells.index(f"{number}. {model.sheet_name}")
        table = first_cells.index("列名", section)
        assert model.description in first_cells[section:table]
        assert any(" + ".join(model.key_headers()) in cell for cell in first_cells[section:table])
        assert rows[table][:5] == ["列名", "是否必填", "类型", "可选值", "填写说明"]
        columns = list(model.columns().values())
        for row, column in zip(rows[table + 1 :], columns, strict=False):
            assert row[0] == column.header
            assert row[1] == ("必填" if column.required else "选填")
            assert row[2].startswith(column.type_label())
            assert row[3] == column.choices_text()
            assert row[4] == column.note
        after = table + 1 + len(columns)
        assert after == len(rows) or rows[after][0] == "", "the table has one row per column, no more"


# prefill ------------------------------------------------------------------------------------


def test_prefilled_rows_read_back_as_written(tmp_path: Path) -> None:
    rows = {
        "企业名录": [
            {
                "统一社会信用代码": USCC,
                "企业名称": '=HYPERLINK("http://x")',
                "行业门类": "C 制造业",
                "审核类型": "强制",
                "列入强制名单日期": date(2014, 5, 31),
                "联系电话": "02083123839",
                "备注": None,
            },
            {"企业名称": "广州某某厂", "列入强制名单日期": "2014-13-45", "行业代码": "0111"},
        ],
        "审核进度": [
            {
                "统一社会信用代码": USCC,
                "审核轮次": 1,
                "启动日期": datetime(2014, 2, 28, 0, 0),
                "备注": ("第一段", "第二段"),
            }
        ],
        "技改项目": [{"项目编号": "2014001", "总投资(万元)": Decimal("120.5"), "申请补助(万元)": 30.25}],
        "培训活动": [{"培训编号": "PX-01", "参训人次": "一百"}],
    }
    path = render(tmp_path, rows=rows)
    enterprises = calamine_rows(path, "企业名录")
    header = [cell.lstrip("*") for cell in enterprises[0]]
    first, second = (dict(zip(header, row, strict=True)) for row in enterprises[1:3])
    assert first["统一社会信用代码"] == USCC
    assert first["企业名称"] == '=HYPERLINK("http://x")'
    assert first["列入强制名单日期"] == date(2014, 5, 31)
    assert first["联系电话"] == "02083123839"
    assert first["备注"] == ""
    assert second["列入强制名单日期"] == "2014-13-45"
    assert second["行业代码"] == "0111"

    book = load(path)
    name_cell = book["企业名录"]["B2"]
    assert name_cell.data_type == "s" and name_cell.value.startswith("=")
    assert book["企业名录"]["J2"].is_date and book["企业名录"]["J2"].number_format == "yyyy-mm-dd"
    assert book["企业名录"]["J3"].data_type == "s"
    assert book["企业名录"]["A2"].protection.locked is False

    audit = calamine_rows(path, "审核进度")[1]
    assert audit[:2] == [USCC, 1.0]
    assert date(2014, 2, 28) in audit or datetime(2014, 2, 28) in audit
    assert "第一段、第二段" in audit
    assert calamine_rows(path, "技改项目")[1][:1] == ["2014001"]
    assert calamine_rows(path, "技改项目")[1][5:7] == [120.5, 30.25]
    assert calamine_rows(path, "培训活动")[1][5] == "一百"


def test_prefill_rejects_a_sheet_or_header_the_template_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="专家库"):
        render(tmp_path, rows={"专家库": [{"姓名": "张三"}]})
    with pytest.raises(ValueError, match="企业地址"):
        render(tmp_path, rows={"企业名录": [{"企业地址": "越秀路"}]})


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=40))
def test_any_prefilled_text_stays_text(tmp_path: Path, text: str) -> None:
    """Strings that look like formulas, numbers or dates must reach the reader untouched."""
    path = render(tmp_path, rows={"培训活动": [{"培训主题": "=" + text}, {"培训主题": text}]})
    rows = calamine_rows(path, "培训活动")
    assert [rows[1][2], rows[2][2]] == ["=" + text, text]


def test_template_filename() -> None:
    assert template_filename("越秀区", "2026-11") == "越秀区_2026-11_填报模板.xlsx"
