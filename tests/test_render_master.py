"""The master workbook read back the way its readers read it: calamine (values) and openpyxl (layout)."""

from __future__ import annotations

import os
import stat
import sys
import zipfile
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from sheetsync.errors import Problem
from sheetsync.records import FileStatus, FileSummary, RunInfo, StoredRecord
from sheetsync.render_master import (
    PROBLEMS_SHEET,
    PROVENANCE_COLUMNS,
    SUMMARY_SHEET,
    write_master,
)
from sheetsync.schemas import SHEETS, Audit, Enterprise, Expert, Project, SheetModel

USCC_A = "91440101MA5CJQ4N59"
USCC_B = "914403001922038216"
FILE_YUEXIU = "越秀区/2014-05 企业名录.xlsx"
FILE_HAIZHU = "海珠区/2014-05.xlsx"
FILE_STRAY = "未知/乱放的文件.xlsx"
PROVENANCE_HEADERS = [header for header, _ in PROVENANCE_COLUMNS]
RECORDED_AT = datetime(2014, 6, 1, 8, 30, 15)


def stored(
    model: type[SheetModel],
    values: dict[str, Any],
    *,
    row: int = 2,
    version: int = 1,
    submitter: str = "越秀区",
    file_name: str = FILE_YUEXIU,
) -> StoredRecord:
    """A register record as the register keeps it: a real model instance dumped in JSON mode."""
    instance = model.model_validate(values)
    return StoredRecord(
        sheet_name=model.sheet_name,
        key=instance.key(),
        data=instance.model_dump(mode="json"),
        version=version,
        submitter=submitter,
        file_name=file_name,
        source_sheet=model.sheet_name,
        source_row=row,
        file_hash="0" * 64,
        recorded_at=RECORDED_AT,
    )


def enterprise(uscc: str = USCC_A, **values: Any) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "name": "广州某某化工有限公司",
        "district": "越秀区",
        "industry_section": "C",
        "category": "规模以上工业",
        "audit_type": "强制",
        "mandatory_listed_on": "2014年5月31日",
        "mandatory_reason": "重点行业",
        **values,
    }


def register() -> dict[str, list[StoredRecord]]:
    return {
        Enterprise.sheet_name: [
            stored(Enterprise, enterprise(USCC_A, remark="=1+1", contact="@SUM(A1)"), row=3),
            stored(
                Enterprise,
                enterprise(
                    USCC_B,
                    name="深圳某某电子有限公司",
                    audit_type="自愿",
                    mandatory_listed_on=None,
                    mandatory_reason=None,
                ),
                row=4,
            ),
        ],
        Audit.sheet_name: [
            stored(
                Audit,
                {"uscc": USCC_A, "round": "1", "method": "全面审核", "started_on": "2014/3/1"},
            ),
        ],
        Project.sheet_name: [
            stored(
                Project,
                {
                    "project_id": "GZ-2014-001",
                    "uscc": USCC_B,
                    "name": "电机变频改造",
                    "category": "节能",
                    "investment": "1,200.50",
                    "subsidy_approved": "80",
                },
                version=3,
            ),
        ],
        Expert.sheet_name: [
            stored(
                Expert,
                {
                    "expert_id": "E001",
                    "name": "张三",
                    "employer": "华南理工大学",
                    "specialties": "工艺、节能",
                    "status": "在库",
                },
                submitter="市经贸委",
                file_name="市经贸委/专家库.xlsx",
            ),
        ],
    }


def files() -> list[FileSummary]:
    return [
        FileSummary("越秀区", FILE_YUEXIU, FileStatus.PARTLY_ACCEPTED, 3, 1, 1, 1),
        FileSummary("海珠区", FILE_HAIZHU, FileStatus.REJECTED, 0, 2, 2, 0),
        FileSummary("荔湾区", "荔湾区/2014-05.xlsx", FileStatus.ACCEPTED, 5, 0, 0, 0, skipped_unchanged=True),
    ]


def problems() -> list[Problem]:
    return [
        Problem.make("unknown-header", file=FILE_YUEXIU, sheet="企业名录", cell="Q1", value="=SUM(A1:A9)"),
        Problem.make("missing-stamp", file=FILE_STRAY, expected="未知"),
        Problem.make("required", file=FILE_HAIZHU, sheet="企业名录", cell="B3", row=3, header="企业名称"),
        Problem.make("required", file=FILE_YUEXIU, sheet="企业名录", cell="B5", row=5, header="企业名称"),
        Problem.make("not-a-date", file=FILE_HAIZHU, sheet="审核进度", cell="E2", row=2, value="明年"),
    ]


def run_info(started_at: datetime = datetime(2014, 6, 2, 2, 0, 5)) -> RunInfo:
    return RunInfo(
        as_of=date(2014, 6, 1),
        started_at=started_at,
        profile_name="guangzhou-2013",
        profile_title="广州市清洁生产行动计划(2013—2015年)总台账",
        drive=r"\\share\清洁生产",
    )


def write(path: Path, **changes: Any) -> Path:
    inputs: dict[str, Any] = {
        "records": register(),
        "problems": problems(),
        "files": files(),
        "run": run_info(),
    }
    inputs.update(changes)
    return write_master(path, **inputs)


@pytest.fixture
def master(tmp_path: Path) -> Path:
    return write(tmp_path / "总台账.xlsx")


def rows(path: Path, sheet: str) -> list[list[Any]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


def as_dict(path: Path, sheet: str) -> list[dict[str, Any]]:
    header, *body = rows(path, sheet)
    return [dict(zip(header, line, strict=True)) for line in body]


# --- structure ------------------------------------------------------------------------------


def test_sheets_come_in_contract_order_between_summary_and_problems(master: Path) -> None:
    expected = [SUMMARY_SHEET, *(model.sheet_name for model in SHEETS), PROBLEMS_SHEET]
    assert CalamineWorkbook.from_path(str(master)).sheet_names == expected
    assert openpyxl.load_workbook(master).sheetnames == expected


def test_every_register_sheet_has_its_headers_even_when_empty(tmp_path: Path) -> None:
    path = write(tmp_path / "总台账.xlsx", records={})
    for model in SHEETS:
        headers = [column.header for column in model.columns().values()]
        assert rows(path, model.sheet_name) == [headers + PROVENANCE_HEADERS]


def test_returns_the_path_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "总台账.xlsx"
    assert write(target) == target
    write(target)  # replacing yesterday's master
    assert sorted(p.name for p in tmp_path.iterdir()) == ["总台账.xlsx"]
    assert zipfile.is_zipfile(target)


def test_a_failed_run_keeps_the_old_master_and_no_temporary_file(tmp_path: Path) -> None:
    target = write(tmp_path / "总台账.xlsx")
    before = target.read_bytes()
    broken = replace(register()[Enterprise.sheet_name][0], data=None)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        write(target, records={Enterprise.sheet_name: [broken]})
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["总台账.xlsx"]


def test_a_master_held_open_elsewhere_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write(tmp_path / "总台账.xlsx")
    before = target.read_bytes()

    def locked(source: Any, destination: Any) -> None:
        raise PermissionError(13, "另一个程序正在使用此文件", str(destination))

    monkeypatch.setattr(os, "replace", locked)
    with pytest.raises(PermissionError):
        write(target, run=run_info(datetime(2014, 6, 3)))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["总台账.xlsx"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_new_master_keeps_the_permissions_of_the_old_one(tmp_path: Path) -> None:
    target = write(tmp_path / "总台账.xlsx")
    os.chmod(target, 0o640)
    write(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# --- register sheets ------------------------------------------------------------------------


def test_register_values_come_back_typed(master: Path) -> None:
    first, second = as_dict(master, Enterprise.sheet_name)
    assert first["统一社会信用代码"] == USCC_A
    assert first["列入强制名单日期"] == date(2014, 5, 31)
    assert second["列入强制名单日期"] == ""  # 自愿: never filled
    assert first["填报单位"] == "越秀区"
    assert first["来源文件"] == FILE_YUEXIU
    assert first["来源行"] == 3
    assert first["版本"] == 1
    assert first["更新时间"] == RECORDED_AT

    (audit,) = as_dict(master, Audit.sheet_name)
    assert audit["审核轮次"] == 1
    assert audit["启动日期"] == date(2014, 3, 1)

    (project,) = as_dict(master, Project.sheet_name)
    assert project["总投资(万元)"] == 1200.5
    assert project["核定补助(万元)"] == 80
    assert project["版本"] == 3

    (expert,) = as_dict(master, Expert.sheet_name)
    assert expert["专长"] == "工艺、节能"
    assert expert["专业领域"] == ""


def test_dates_and_numbers_are_real_cells_in_excel(master: Path) -> None:
    book = openpyxl.load_workbook(master)
    sheet = book[Enterprise.sheet_name]
    listed = sheet.cell(row=2, column=10)
    assert listed.is_date and listed.number_format == "yyyy-mm-dd"
    assert listed.value == datetime(2014, 5, 31)
    assert sheet.cell(row=2, column=20).is_date
    money = book[Project.sheet_name].cell(row=2, column=6)
    assert money.data_type == "n" and money.value == 1200.5


@pytest.mark.parametrize("text", ["=1+1", "@SUM(A1)", "+8620831", "-12", '=HYPERLINK("http://x")'])
def test_formula_like_text_stays_text(tmp_path: Path, text: str) -> None:
    record = stored(Enterprise, enterprise(remark=text, name=text))
    path = write(tmp_path / "总台账.xlsx", records={Enterprise.sheet_name: [record]})
    (row,) = as_dict(path, Enterprise.sheet_name)
    assert row["备注"] == text and row["企业名称"] == text
    cell = openpyxl.load_workbook(path)[Enterprise.sheet_name].cell(row=2, column=15)
    assert cell.value == text
    assert cell.data_type == "s"
    assert cell.quotePrefix  # editing the cell in Excel must not turn it into a formula


def test_text_that_looks_like_spreadsheet_markup_is_escaped(tmp_path: Path) -> None:
    text = '<r><t>x</t></r></is></c><c r="A9"><f>1+1</f></c><c><is><r>'
    record = stored(Enterprise, enterprise(remark=text))
    path = write(tmp_path / "总台账.xlsx", records={Enterprise.sheet_name: [record]})
    (row,) = as_dict(path, Enterprise.sheet_name)
    assert row["备注"] == text
    sheet = openpyxl.load_workbook(path)[Enterprise.sheet_name]
    assert sheet.cell(row=2, column=15).value == text
    assert sheet.max_row == 2
    assert not any(cell.data_type == "f" for line in sheet.iter_rows() for cell in line)


def test_rows_are_sorted_by_key(tmp_path: Path) -> None:
    audits = [
        stored(Audit, {"uscc": uscc, "round": number, "method": "全面审核"})
        for uscc, number in [(USCC_B, 1), (USCC_A, 10), (USCC_A, 2)]
    ]
    path = write(tmp_path / "总台账.xlsx", records={Audit.sheet_name: audits})
    keys = [(line["统一社会信用代码"], line["审核轮次"]) for line in as_dict(path, Audit.sheet_name)]
    assert keys == [(USCC_A, 2), (USCC_A, 10), (USCC_B, 1)]


def column_widths(sheet: Any) -> dict[int, float]:
    """1-based column → width; openpyxl keys a run of equal widths by its first letter only."""
    widths: dict[int, float] = {}
    for dimension in sheet.column_dimensions.values():
        for index in range(dimension.min, dimension.max + 1):
            widths[index] = dimension.width
    return widths


def test_register_layout(master: Path) -> None:
    book = openpyxl.load_workbook(master)
    for model in SHEETS:
        sheet = book[model.sheet_name]
        columns = list(model.columns().values())
        last = openpyxl.utils.get_column_letter(len(columns) + len(PROVENANCE_COLUMNS))
        assert sheet.freeze_panes == "A2"
        assert sheet.row_dimensions[1].height == pytest.approx(32, abs=0.5)
        assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith(f"A1:{last}")
        assert sheet.print_title_rows == "$1:$1"
        assert sheet.page_setup.orientation == "landscape"
        assert int(sheet.page_setup.paperSize) == 9  # A4
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.page_setup.fitToHeight == 0
        header = sheet.cell(row=1, column=1)
        assert header.font.b and header.fill.fgColor.rgb.endswith("DDEBF7")
        widths = column_widths(sheet)
        assert [int(widths[index]) for index in range(1, len(columns) + 1)] == [c.width for c in columns]


def test_two_runs_over_the_same_register_give_identical_register_and_problem_sheets(tmp_path: Path) -> None:
    monday = write(tmp_path / "monday.xlsx", run=run_info(datetime(2014, 6, 2, 2, 0)))
    tuesday = write(tmp_path / "tuesday.xlsx", run=run_info(datetime(2014, 6, 3, 2, 0)))
    for name in [*(model.sheet_name for model in SHEETS), PROBLEMS_SHEET]:
        assert rows(monday, name) == rows(tuesday, name), name
    assert rows(monday, SUMMARY_SHEET) != rows(tuesday, SUMMARY_SHEET)  # the run time differs
    with zipfile.ZipFile(monday) as first, zipfile.ZipFile(tuesday) as second:
        for index in range(2, len(SHEETS) + 3):  # every sheet after the summary, byte for byte
            part = f"xl/worksheets/sheet{index}.xml"
            assert first.read(part) == second.read(part), part


# --- 校验问题 -------------------------------------------------------------------------------


def test_problems_are_listed_errors_first_grouped_by_file(master: Path) -> None:
    listed = as_dict(master, PROBLEMS_SHEET)
    assert [(line["严重程度"], line["文件"], line["单元格"]) for line in listed] == [
        ("错误", FILE_YUEXIU, "B5"),
        ("错误", FILE_HAIZHU, "B3"),
        ("错误", FILE_HAIZHU, "E2"),
        ("提示", FILE_YUEXIU, "Q1"),
        ("提示", FILE_STRAY, ""),
    ]
    first = listed[0]
    assert first["填报单位"] == "越秀区"
    assert first["工作表"] == "企业名录"
    assert first["列名"] == "企业名称"
    assert first["问题"] == "必填项为空"
    assert first["修改说明"] == "“企业名称”为必填项,请填写。"
    assert first["代码"] == "required"
    assert listed[4]["填报单位"] == ""  # no file summary names this file
    assert listed[3]["填写值"] == "=SUM(A1:A9)"


def test_problems_sheet_layout(master: Path) -> None:
    sheet = openpyxl.load_workbook(master)[PROBLEMS_SHEET]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:J6"
    assert sheet.cell(row=2, column=9).alignment.wrap_text
    value = sheet.cell(row=5, column=7)
    assert value.value == "=SUM(A1:A9)" and value.data_type == "s"


def test_no_problems_still_gives_a_headed_sheet(tmp_path: Path) -> None:
    path = write(tmp_path / "总台账.xlsx", problems=[])
    assert rows(path, PROBLEMS_SHEET) == [
        ["严重程度", "填报单位", "文件", "工作表", "单元格", "列名", "填写值", "问题", "修改说明", "代码"]
    ]


# --- 运行摘要 -------------------------------------------------------------------------------


def summary_values(path: Path) -> dict[str, Any]:
    return {line[0]: line[1] for line in rows(path, SUMMARY_SHEET) if line[0]}


def test_summary_names_the_run_and_adds_up_the_files(master: Path) -> None:
    values = summary_values(master)
    assert rows(master, SUMMARY_SHEET)[0][0] == run_info().profile_title
    assert values["基准日期"] == date(2014, 6, 1)
    assert values["运行时间"] == datetime(2014, 6, 2, 2, 0, 5)
    assert values["规则方案"] == "guangzhou-2013"
    assert values["共享盘"] == r"\\share\清洁生产"
    assert values["提交文件数"] == 3
    assert (values["全部接收"], values["部分接收"], values["退回"], values["无法读取"]) == (1, 1, 1, 0)
    assert values["内容未变,已跳过"] == 1
    assert (values["接收行数"], values["退回行数"]) == (8, 3)
    assert (values["错误数"], values["提示数"]) == (3, 1)


def test_summary_lists_each_file_with_a_coloured_status(master: Path) -> None:
    lines = rows(master, SUMMARY_SHEET)
    top = next(i for i, line in enumerate(lines) if line[:3] == ["填报单位", "文件", "处理结果"])
    table = lines[top + 1 :]
    assert [line[:3] for line in table] == [
        ["越秀区", FILE_YUEXIU, "部分接收"],
        ["海珠区", FILE_HAIZHU, "退回"],
        ["荔湾区", "荔湾区/2014-05.xlsx", "全部接收"],
    ]
    assert table[0][3:] == [3, 1, 1, 1, ""]
    assert table[2][7] == "内容未变,已跳过"

    sheet = openpyxl.load_workbook(master)[SUMMARY_SHEET]
    fills = [sheet.cell(row=top + 2 + i, column=3).fill.fgColor.rgb[-6:] for i in range(3)]
    assert fills == ["FFEB9C", "FFC7CE", "C6EFCE"]
    assert sheet.auto_filter.ref == f"A{top + 1}:H{top + 4}"


def test_summary_without_files_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "总台账.xlsx", files=[], problems=[])
    assert summary_values(path)["提交文件数"] == 0
    assert rows(path, SUMMARY_SHEET)[-1][0] == "本次没有收到文件"


# --- any text a submitter can type ----------------------------------------------------------

# Text as a cell can hold it (no lone surrogates, no control characters but line breaks and tabs).
# Excel's own escape ``_xHHHH_`` is left out: XlsxWriter writes a literal one the way Excel reads
# it back, but openpyxl and calamine each undo that escape differently.
_typed_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Cn"),
        blacklist_characters="\ufffe\uffff",
        whitelist_characters="\n\t",
    ),
    min_size=1,
    max_size=40,
).filter(lambda text: "_x" not in text) | st.sampled_from(
    ["<r>x</r>", "<r><t>1</t></r>", " 两端有空格 ", "第一行\n第二行", "=A1", "@", "-", "<", "&amp;"]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_typed_text, min_size=1, max_size=30))
def test_any_text_reads_back_unchanged(tmp_path: Path, texts: list[str]) -> None:
    template = stored(Enterprise, enterprise())
    records = [
        replace(template, key=(f"{index:03d}",), data={**template.data, "remark": text})
        for index, text in enumerate(texts)
    ]
    path = write(tmp_path / "总台账.xlsx", records={Enterprise.sheet_name: records}, problems=[])
    assert [line["备注"] for line in as_dict(path, Enterprise.sheet_name)] == texts
    sheet = openpyxl.load_workbook(path)[Enterprise.sheet_name]
    cells = [line[0] for line in sheet.iter_rows(min_row=2, min_col=15, max_col=15)]
    assert [cell.value for cell in cells] == texts
    assert {cell.data_type for cell in cells} == {"s"}
