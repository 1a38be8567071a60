"""The master workbook read back the way its readers read it: calamine (values) and openpyxl (layout)."""

from __future__ import annotations

import os
import stat
import sys
import zipfile
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from sheetsync.errors import Problem
from sheetsync.master.conflicts import CONFLICT_SHEET
from sheetsync.master.overview import OVERVIEW_SHEET
from sheetsync.master.registers import extra_columns
from sheetsync.panel_record import ExpertBrief, PanelRecord
from sheetsync.profile import load_profile
from sheetsync.programme import ProgrammeView, evaluate
from sheetsync.records import FileStatus, FileSummary, RunInfo, StoredRecord
from sheetsync.render_master import (
    AGENCY_SCORE_COLUMNS,
    AGENCY_SCORE_SHEET,
    CERTIFICATE_COLUMNS,
    CERTIFICATE_SHEET,
    OVERDUE_COLUMNS,
    OVERDUE_SHEET,
    PANEL_DRAW_COLUMNS,
    PANEL_DRAW_SHEET,
    PROBLEMS_SHEET,
    PROGRESS_COLUMNS,
    PROGRESS_SHEET,
    PROVENANCE_COLUMNS,
    SUMMARY_SHEET,
    write_master,
)
from sheetsync.schemas import SHEETS, Audit, ConsultingAgency, Enterprise, Expert, Project, SheetModel
from sheetsync.uscc import check_character

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


SHEET_ORDER = [
    OVERVIEW_SHEET,
    SUMMARY_SHEET,
    OVERDUE_SHEET,
    CERTIFICATE_SHEET,
    CONFLICT_SHEET,
    PROGRESS_SHEET,
    *(model.sheet_name for model in SHEETS),
    PANEL_DRAW_SHEET,
    AGENCY_SCORE_SHEET,
    PROBLEMS_SHEET,
]


def test_sheets_come_in_order_with_the_register_between_verdicts_and_problems(master: Path) -> None:
    assert SHEET_ORDER[6:14] == [
        "企业名录",
        "审核进度",
        "技改项目",
        "培训活动",
        "参训人员",
        "专家库",
        "咨询机构",
        "年度目标",
    ]
    assert CalamineWorkbook.from_path(str(master)).sheet_names == SHEET_ORDER
    assert openpyxl.load_workbook(master).sheetnames == SHEET_ORDER


def test_every_register_sheet_has_its_headers_even_when_empty(tmp_path: Path) -> None:
    path = write(tmp_path / "总台账.xlsx", records={})
    for model in SHEETS:
        headers = [column.header for column in model.columns().values()]
        computed = [extra.header for extra in extra_columns(model)]
        assert rows(path, model.sheet_name) == [headers + PROVENANCE_HEADERS + computed]


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


def column_outline(sheet: Any) -> dict[int, tuple[int, bool]]:
    """1-based column → (outline level, hidden): helper columns are grouped and collapsed."""
    found: dict[int, tuple[int, bool]] = {}
    for dimension in sheet.column_dimensions.values():
        for index in range(dimension.min, dimension.max + 1):
            found[index] = (dimension.outlineLevel or 0, bool(dimension.hidden))
    return found


def test_register_layout(master: Path) -> None:
    book = openpyxl.load_workbook(master)
    for model in SHEETS:
        sheet = book[model.sheet_name]
        columns = list(model.columns().values())
        extras = extra_columns(model)
        shown = sum(1 for extra in extras if not extra.helper)
        last = openpyxl.utils.get_column_letter(len(columns) + len(PROVENANCE_COLUMNS) + shown)
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
        first_extra = len(columns) + len(PROVENANCE_COLUMNS) + 1
        grouped = column_outline(sheet)
        for index, extra in enumerate(extras, start=first_extra):
            assert grouped.get(index, (0, False)) == ((1, True) if extra.helper else (0, False)), extra


def test_two_runs_over_the_same_register_give_identical_register_and_problem_sheets(tmp_path: Path) -> None:
    monday = write(tmp_path / "monday.xlsx", run=run_info(datetime(2014, 6, 2, 2, 0)))
    tuesday = write(tmp_path / "tuesday.xlsx", run=run_info(datetime(2014, 6, 3, 2, 0)))
    for name in [*(model.sheet_name for model in SHEETS), PROBLEMS_SHEET]:
        assert rows(monday, name) == rows(tuesday, name), name
    assert rows(monday, SUMMARY_SHEET) != rows(tuesday, SUMMARY_SHEET)  # the run time differs
    assert rows(monday, OVERVIEW_SHEET) != rows(tuesday, OVERVIEW_SHEET)
    with zipfile.ZipFile(monday) as first, zipfile.ZipFile(tuesday) as second:
        for index in range(3, len(SHEET_ORDER) + 1):  # every sheet after 概览 and the summary, byte for byte
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


# --- the domain engine's sheets -------------------------------------------------------------

BEIJING = load_profile("beijing-2014")
GUANGZHOU = load_profile("guangzhou-2013")
EXCELLENT = "清洁生产(优秀)企业"
RED, AMBER = "FFC7CE", "FFEB9C"
DOMAIN_SHEETS = [OVERDUE_SHEET, CERTIFICATE_SHEET, PROGRESS_SHEET, PANEL_DRAW_SHEET, AGENCY_SCORE_SHEET]
DOMAIN_COLUMNS = [
    OVERDUE_COLUMNS,
    CERTIFICATE_COLUMNS,
    PROGRESS_COLUMNS,
    PANEL_DRAW_COLUMNS,
    AGENCY_SCORE_COLUMNS,
]


def code(n: int, region: str = "91110105") -> str:
    first17 = f"{region}{n:09d}"
    return first17 + check_character(first17)


def company(n: int, submitter: str, region: str = "91110105", **values: Any) -> StoredRecord:
    fields = {"uscc": code(n, region), "name": f"某某{n}号公司", "audit_type": "自愿", "category": "重点商贸"}
    return stored(Enterprise, fields | values, submitter=submitter)


def audit_of(n: int, submitter: str, region: str = "91110105", **values: Any) -> StoredRecord:
    fields = {"uscc": code(n, region), "round": 1, "method": "全面审核"}
    return stored(Audit, fields | values, submitter=submitter)


def by_sheet(*records: StoredRecord) -> dict[str, list[StoredRecord]]:
    found: dict[str, list[StoredRecord]] = {}
    for record in records:
        found.setdefault(record.sheet_name, []).append(record)
    return found


BEIJING_AS_OF = date(2014, 9, 1)
ON_TIME = {"started_on": "2014-02-10", "contract_filed_on": "2014-02-10", "report_on": "2014-05-20"}


def beijing_register() -> dict[str, list[StoredRecord]]:
    """The Beijing 2014 timeline: one unit that never started, one filed late, one graded 不合格."""
    return by_sheet(
        company(1, "朝阳区", name="北京朝阳某某商场"),
        company(2, "海淀区", name="北京海淀某某宾馆"),
        company(3, "市商务委", name="北京某某超市"),
        audit_of(1, "朝阳区", agency="甲咨询公司"),
        audit_of(2, "海淀区", agency="乙咨询公司", **ON_TIME, evaluated_on="2014-07-20", grade="不合格"),
        audit_of(3, "市商务委", agency="甲咨询公司", contract_filed_on="2014-03-03", report_on="2014-05-30"),
        stored(
            Project,
            {
                "project_id": "HD-2014-001",
                "uscc": code(2),
                "name": "客房节水改造",
                "category": "节水",
                "status": "实施中",
                "subsidy_approved": "100",
                "started_on": "2014-07-01",
                "second_paid_on": "2014-08-01",
                "second_paid": "30",
            },
            submitter="海淀区",
        ),
        stored(
            ConsultingAgency,
            {"name": "丙咨询公司", "uscc": code(90), "status": "在册"},
            submitter="市发展改革委",
        ),
    )


def guangzhou_register() -> dict[str, list[StoredRecord]]:
    """Guangzhou 2013: a mandatory enterprise listed on 31 May 2014 not started, and four certificates."""
    region = "91440104"
    certified = {"report_on": "2012-06-01", "evaluated_on": "2012-07-01", "certificate": EXCELLENT}
    return by_sheet(
        stored(Enterprise, enterprise(), submitter="越秀区"),
        *(company(n, "海珠区", region) for n in (1, 2, 3, 4)),
        stored(Audit, {"uscc": USCC_A, "round": 1, "method": "全面审核"}, submitter="市环保局"),
        audit_of(1, "海珠区", region, **certified, certified_on="2012-12-15"),  # expires 15 Dec 2014
        audit_of(2, "海珠区", region, **certified, certified_on="2012-10-01"),  # expired 1 Oct 2014
        audit_of(3, "海珠区", region, **certified, certified_on="2014-03-01"),
        audit_of(4, "海珠区", region, certified_on="2014-06-01", certificate="参与清洁生产行动证书"),
    )


def beijing_view() -> ProgrammeView:
    return evaluate(beijing_register(), BEIJING, BEIJING_AS_OF)


def guangzhou_view() -> ProgrammeView:
    return evaluate(guangzhou_register(), GUANGZHOU, date(2014, 11, 30))


@pytest.fixture
def beijing_master(tmp_path: Path) -> Path:
    return write(tmp_path / "总台账.xlsx", records=beijing_register(), view=beijing_view())


@pytest.fixture
def guangzhou_master(tmp_path: Path) -> Path:
    return write(tmp_path / "总台账.xlsx", records=guangzhou_register(), view=guangzhou_view())


def fill(sheet: Any, row: int, column: int = 1) -> str:
    color = sheet.cell(row=row, column=column).fill.fgColor.rgb
    return color[-6:] if isinstance(color, str) and sheet.cell(row=row, column=column).fill.fill_type else ""


def test_computed_sheets_have_their_headers_without_a_view(master: Path) -> None:
    for name, columns in zip(DOMAIN_SHEETS, DOMAIN_COLUMNS, strict=True):
        assert rows(master, name) == [[column.header for column in columns]], name


def test_computed_sheets_follow_the_master_layout(beijing_master: Path) -> None:
    book = openpyxl.load_workbook(beijing_master)
    for name, columns in zip(DOMAIN_SHEETS, DOMAIN_COLUMNS, strict=True):
        sheet = book[name]
        assert sheet.freeze_panes == "A2", name
        assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:"), name
        assert sheet.print_title_rows == "$1:$1"
        assert sheet.page_setup.orientation == "landscape" and int(sheet.page_setup.paperSize) == 9
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToHeight == 0
        widths = column_widths(sheet)
        assert [int(widths[index]) for index in range(1, len(columns) + 1)] == [c.width for c in columns]


def test_overdue_sheet_lists_open_items_worst_first_with_the_beijing_reasons(beijing_master: Path) -> None:
    listed = as_dict(beijing_master, OVERDUE_SHEET)
    assert [line["状态"] for line in listed] == ["逾期未完成"] * 5 + ["拨付错误"] * 2 + ["逾期后完成"] * 3
    assert [(line["填报单位"], line["事项/阶段"], line["逾期天数"], line["原因"]) for line in listed[:5]] == [
        ("朝阳区", "第1轮全面审核:启动审核", 185, "已过2014年2月28日仍未启动审核"),
        ("朝阳区", "第1轮全面审核:合同备案", 185, "已过2014年2月28日仍未备案咨询合同和审核登记表"),
        ("朝阳区", "第1轮全面审核:提交报告", 93, "已过2014年5月31日仍未提交审核报告"),
        ("朝阳区", "第1轮全面审核:评估", 63, "已过2014年6月30日仍未完成评估"),
        ("市商务委", "第1轮全面审核:评估", 63, "已过2014年6月30日仍未完成评估"),
    ]
    first = listed[0]
    assert (first["统一社会信用代码"], first["企业名称"], first["截止日期"]) == (
        code(1),
        "北京朝阳某某商场",
        date(2014, 2, 28),
    )
    error = listed[5]
    assert (error["填报单位"], error["事项/阶段"], error["截止日期"], error["逾期天数"]) == (
        "海淀区",
        "技改项目HD-2014-001",
        "",
        "",
    )
    assert error["原因"] == "二期(30%)补助于2014年8月1日拨付,项目尚未通过绩效验收;应在通过绩效验收后拨付"
    assert [(line["填报单位"], line["逾期天数"]) for line in listed[7:]] == [
        ("海淀区", 20),
        ("市商务委", 3),
        ("市商务委", 3),
    ]
    assert listed[8]["原因"] == "2014年3月3日才启动审核,应于2014年2月28日前,晚了3天"


def test_overdue_rows_are_red_payment_errors_red_text_late_ones_plain(beijing_master: Path) -> None:
    sheet = openpyxl.load_workbook(beijing_master)[OVERDUE_SHEET]
    assert all(fill(sheet, row, column) == RED for row in range(2, 7) for column in range(1, 9))
    error = sheet.cell(row=7, column=8)
    assert fill(sheet, 7) == "" and error.font.b and error.font.color.rgb.endswith("9C0006")
    assert fill(sheet, 9) == "" and not sheet.cell(row=9, column=1).font.b
    assert sheet.cell(row=2, column=6).number_format == "yyyy-mm-dd"
    assert sheet.cell(row=2, column=8).alignment.wrap_text


def test_overdue_sheet_shows_the_guangzhou_mandatory_rule(guangzhou_master: Path) -> None:
    (line,) = as_dict(guangzhou_master, OVERDUE_SHEET)
    assert (line["填报单位"], line["企业名称"], line["事项/阶段"]) == (
        "市环保局",
        "广州某某化工有限公司",
        "第1轮全面审核:启动审核",
    )
    assert (line["截止日期"], line["逾期天数"]) == (date(2014, 7, 31), 122)
    assert line["原因"] == "列入强制名单已满2个月仍未启动审核"


def test_certificates_by_days_left_amber_when_due_red_when_expired(guangzhou_master: Path) -> None:
    listed = as_dict(guangzhou_master, CERTIFICATE_SHEET)
    assert [(line["统一社会信用代码"], line["状态"], line["剩余天数"]) for line in listed] == [
        (code(2, "91440104"), "已过期", -60),
        (code(1, "91440104"), "待换证", 15),
        (code(3, "91440104"), "有效", 457),
        (code(4, "91440104"), "有效", ""),
    ]
    due = listed[1]
    assert (due["填报单位"], due["企业名称"], due["证书类型"], due["审核轮次"]) == (
        "海珠区",
        "某某1号公司",
        EXCELLENT,
        1,
    )
    assert (due["发证日期"], due["有效期至"]) == (date(2012, 12, 15), date(2014, 12, 15))
    assert due["说明"] == "有效期至2014年12月15日,须在届满前30日内申请换证,还剩15天"
    assert listed[3]["说明"] == "长期有效" and listed[3]["有效期至"] == ""
    sheet = openpyxl.load_workbook(guangzhou_master)[CERTIFICATE_SHEET]
    # coloured by conditional formats over the 状态 formula, so the colours follow 基准日期
    assert [fill(sheet, row, column) for row in (2, 3, 4) for column in (1, 10)] == [""] * 6
    rules = {
        rule.formula[0]: (str(ranges.sqref), rule.dxf.fill.bgColor.rgb[-6:])
        for ranges in sheet.conditional_formatting
        for rule in ranges.rules
    }
    assert rules == {'$H2="已过期"': ("A2:J5", RED), '$H2="待换证"': ("A2:J5", AMBER)}


def test_progress_goes_city_then_submitters_in_profile_order_then_sectors(beijing_master: Path) -> None:
    listed = as_dict(beijing_master, PROGRESS_SHEET)
    scopes = list(dict.fromkeys(line["范围"] for line in listed))
    assert scopes == ["全市", *(s.name for s in BEIJING.submitters), *(s.name for s in BEIJING.sectors)]
    assert listed[0]["范围类型"] == "全市" and listed[-1]["范围类型"] == "行业领域"
    started = {line["范围"]: line for line in listed if line["指标"] == "启动审核企业数"}
    city = started["全市"]
    assert (city["单位"], city["完成"], city["目标"]) == ("家", 2, 249)
    assert city["完成率"] == pytest.approx(2 / 249, abs=1e-4)
    assert started["朝阳区"]["目标"] == ""  # no 年度目标 row: no target, no ratio
    assert started["服务业"]["目标"] == 141


def test_progress_ratio_is_a_percentage_with_a_data_bar(beijing_master: Path) -> None:
    sheet = openpyxl.load_workbook(beijing_master)[PROGRESS_SHEET]
    assert sheet.cell(row=1, column=7).value == "完成率"
    assert sheet.cell(row=2, column=7).number_format == "0.0%"
    rules = [
        (str(ranges.sqref), rule.type) for ranges in sheet.conditional_formatting for rule in ranges.rules
    ]
    assert rules == [(f"G2:G{sheet.max_row}", "dataBar")]


@dataclass(frozen=True)
class Draw:
    draw_id: str
    drawn_at: datetime
    enterprise: str
    purpose: str
    seed: int
    panel: tuple[str, ...]
    reserves: tuple[str, ...]
    exclusions: tuple[tuple[str, str], ...]


def test_panel_draws_are_listed_from_objects_or_mappings(tmp_path: Path) -> None:
    draws = [
        Draw(
            "CQ-2014-001",
            datetime(2014, 6, 3, 9, 30),
            "=广州某某化工有限公司",
            "评估",
            2**63 + 1,
            ("E003", "E001", "E007"),
            ("E010",),
            (("E002", "工作单位为被审核企业"), ("E005", "关联单位含承担审核的咨询机构“甲公司”")),
        ),
        {
            "抽取编号": "CQ-2014-002",
            "抽取时间": date(2014, 6, 4),
            "企业": "广州某某电镀厂",
            "用途": "验收",
            "随机种子": 20140604,
            "专家组": ["E001", "E004", "E006"],
            "候补": [],
            "回避及原因": "",
        },
    ]
    path = write(tmp_path / "总台账.xlsx", panel_draws=draws)
    first, second = as_dict(path, PANEL_DRAW_SHEET)
    assert first == {
        "抽取编号": "CQ-2014-001",
        "抽取时间": datetime(2014, 6, 3, 9, 30),
        "企业": "=广州某某化工有限公司",
        "用途": "评估",
        "随机种子": str(2**63 + 1),  # too long for a double: kept exactly, as text
        "专家组": "E003、E001、E007",
        "候补": "E010",
        "回避及原因": "E002(工作单位为被审核企业)、E005(关联单位含承担审核的咨询机构“甲公司”)",
    }
    assert (second["抽取时间"], second["随机种子"], second["专家组"], second["候补"]) == (
        date(2014, 6, 4),
        20140604,
        "E001、E004、E006",
        "",
    )
    cell = openpyxl.load_workbook(path)[PANEL_DRAW_SHEET].cell(row=2, column=3)
    assert cell.data_type == "s" and cell.quotePrefix


def test_a_recorded_draw_shows_its_experts_by_name_and_its_seed_in_full(tmp_path: Path) -> None:
    record = PanelRecord(
        panel_id="P20141130-0001",
        drawn_at=datetime(2014, 11, 30, 10, 5, 9),
        as_of=date(2014, 11, 30),
        seed=2**62 + 3,
        uscc=USCC_A,
        enterprise_name="广州某某化工有限公司",
        purpose="验收",
        size=3,
        profile_name="guangzhou-2013",
        candidates=("E001", "E002", "E003", "E004", "E005"),
        exclusions=(("E002", "工作单位为被审核企业"),),
        deferred=(),
        order=("E003", "E001", "E004", "E005"),
        seats=(("工艺(C)", "E003"), ("节能", "E001"), ("环保", "E004")),
        panel=("E003", "E001", "E004"),
        reserves=("E005",),
        people={
            "E001": ExpertBrief("E001", "张三", "华南理工大学", ("节能",)),
            "E002": ExpertBrief("E002", "李四", "广州某某化工有限公司", ("工艺",)),
            "E003": ExpertBrief("E003", "王五", "中山大学", ("工艺",)),
        },
    )
    path = write(tmp_path / "总台账.xlsx", panel_draws=[record])
    (line,) = as_dict(path, PANEL_DRAW_SHEET)
    assert line == {
        "抽取编号": "P20141130-0001",
        "抽取时间": datetime(2014, 11, 30, 10, 5, 9),
        "企业": f"广州某某化工有限公司({USCC_A})",
        "用途": "验收",
        "随机种子": str(2**62 + 3),
        "专家组": "E003 王五、E001 张三、E004",
        "候补": "E005",
        "回避及原因": "E002 李四:工作单位为被审核企业",
    }


def test_agency_scores_mark_those_below_the_threshold(beijing_master: Path) -> None:
    listed = as_dict(beijing_master, AGENCY_SCORE_SHEET)
    assert [line["咨询机构"] for line in listed] == ["丙咨询公司", "乙咨询公司", "甲咨询公司"]
    failing = listed[1]
    assert (failing["季度"], failing["评估报告数"], failing["不合格"], failing["优秀"]) == (
        "2014-Q3",
        1,
        1,
        0,
    )
    assert (failing["平均分"], failing["得分"], failing["低于阈值"]) == (0, 0, "是")
    assert failing["说明"] == "本季度评估报告1份(不合格1份),平均0分;逾期未完成的审核0项;得分0,低于60分"
    idle = listed[0]
    assert (idle["平均分"], idle["得分"], idle["低于阈值"]) == ("", "", "否")
    assert listed[2]["逾期审核数"] == 1  # 朝阳区's audit never started
    sheet = openpyxl.load_workbook(beijing_master)[AGENCY_SCORE_SHEET]
    assert [fill(sheet, row) for row in (2, 3, 4)] == ["", RED, ""]
    assert sheet.cell(row=3, column=8).number_format == "0.0"


def test_computed_sheets_depend_only_on_the_register_and_as_of(tmp_path: Path) -> None:
    monday = write(
        tmp_path / "monday.xlsx",
        records=beijing_register(),
        view=beijing_view(),
        run=run_info(datetime(2014, 9, 1, 2, 0)),
    )
    tuesday = write(
        tmp_path / "tuesday.xlsx",
        records=beijing_register(),
        view=beijing_view(),
        run=run_info(datetime(2014, 9, 2, 2, 0)),
    )
    with zipfile.ZipFile(monday) as first, zipfile.ZipFile(tuesday) as second:
        for index in range(3, len(SHEET_ORDER) + 1):
            part = f"xl/worksheets/sheet{index}.xml"
            assert first.read(part) == second.read(part), part
    later = write(
        tmp_path / "later.xlsx",
        records=beijing_register(),
        view=evaluate(beijing_register(), BEIJING, date(2014, 9, 2)),
    )
    assert rows(later, OVERDUE_SHEET)[1][6] == 186  # one more day overdue
