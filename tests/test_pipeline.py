"""Round trip: template → filled as a submitter would (openpyxl) → validate → consolidate → master."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import python_calamine

from sheetsync.consolidate import consolidate
from sheetsync.drive import Drive
from sheetsync.profile import load_profile
from sheetsync.render_template import write_template
from sheetsync.schemas import SHEETS, SHEETS_BY_NAME, SheetModel, SubmitterKind
from sheetsync.store import open_register
from sheetsync.validate import validate_file

PROFILE = load_profile("guangzhou-2013")
AS_OF = date(2014, 11, 30)

FILLED: dict[str, list[dict[str, Any]]] = {
    "企业名录": [
        {
            "统一社会信用代码": "91440101MA5CJQ4N59",
            "企业名称": "广州市越秀区羊城电镀有限公司",
            "所属区县": "越秀区",
            "行业门类": "C 制造业",
            "行业代码": "3360",
            "企业类别": "规模以上工业",
            "重点行业": "无",
            "审核类型": "强制",
            "列入强制名单日期": datetime(2013, 9, 1),
            "强制审核原因": "超标排放",
            "负责人(正职)姓名": "陈建国",
            "联系人": "李敏",
            "联系电话": "020-83123839",
            "备注": "=非公式文本",
        },
        {
            "统一社会信用代码": "914403001922038216",
            "企业名称": "广州某某酒店有限公司",
            "所属区县": "越秀区",
            "行业门类": "H 住宿和餐饮业",
            "企业类别": "星级酒店",
            "审核类型": "自愿",
            "联系电话": "13800138000",
        },
    ],
    "审核进度": [
        {
            "统一社会信用代码": "91440101MA5CJQ4N59",
            "审核轮次": 1,
            "审核方式": "全面审核",
            "咨询机构": "广州市环科咨询有限公司",
            "启动日期": datetime(2013, 10, 8),
            "合同备案日期": datetime(2013, 10, 20),
            "报告提交日期": datetime(2014, 5, 30),
            "评估日期": datetime(2014, 6, 20),
            "评估等级": "良好",
        },
    ],
    "技改项目": [
        {
            "项目编号": "YX-2014-001",
            "统一社会信用代码": "91440101MA5CJQ4N59",
            "项目名称": "电镀线逆流漂洗节水改造",
            "项目类别": "节水",
            "方案类型": "中高费",
            "总投资(万元)": 320.5,
            "申请补助(万元)": 60,
            "核定补助(万元)": 50,
            "开工日期": datetime(2014, 3, 1),
            "年节水量(吨)": 12000,
            "年削减化学需氧量(吨)": 1.25,
            "一期拨付日期": datetime(2014, 4, 1),
            "一期拨付金额(万元)": 35,
            "项目状态": "实施中",
        },
    ],
    "培训活动": [
        {
            "培训编号": "YX-PX-01",
            "培训日期": datetime(2014, 4, 18),
            "培训主题": "清洁生产审核认知培训",
            "培训类型": "认知推广",
            "主办单位": "越秀区经贸局",
            "参训人次": 86,
        },
    ],
    "参训人员": [
        {
            "培训编号": "YX-PX-01",
            "统一社会信用代码": "91440101MA5CJQ4N59",
            "姓名": "陈建国",
            "职务": "总经理",
            "是否正职": "是",
        },
        {
            "培训编号": "YX-PX-01",
            "统一社会信用代码": "914403001922038216",
            "姓名": "王芳",
            "职务": "工程部经理",
            "是否正职": "否",
        },
    ],
}


def fill_with_openpyxl(path: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Type the rows into the template the way Excel would store them."""
    book = openpyxl.load_workbook(path)
    for sheet_name, records in rows.items():
        sheet = book[sheet_name]
        headers = {str(cell.value).lstrip("*").strip(): cell.column for cell in sheet[1] if cell.value}
        for offset, record in enumerate(records, start=2):
            for header, value in record.items():
                cell = sheet.cell(row=offset, column=headers[header])
                cell.value = value
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"
                if isinstance(value, datetime):
                    cell.number_format = "yyyy-mm-dd"
    book.save(path)


def master_sheet(path: Path, name: str) -> list[list[Any]]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        return book.get_sheet_by_name(name).to_python()
    finally:
        book.close()


def records_from_master(path: Path, model: type[SheetModel]) -> list[SheetModel]:
    rows = master_sheet(path, model.sheet_name)
    header = [str(cell) for cell in rows[0]]
    columns = model.columns()
    index = {name: header.index(column.header) for name, column in columns.items()}
    return [model.model_validate({name: row[i] for name, i in index.items()}) for row in rows[1:]]


def make_drive(tmp_path: Path) -> tuple[Drive, Path]:
    drive = Drive(tmp_path / "drive")
    folder = drive.submitter_folder("越秀区")
    folder.mkdir(parents=True)
    template = folder / "越秀区_2014-11.xlsx"
    write_template(
        template, submitter="越秀区", kind=SubmitterKind.DISTRICT, period="2014-11", profile=PROFILE.name
    )
    fill_with_openpyxl(template, FILLED)
    return drive, template


def test_round_trip_template_to_master(tmp_path: Path) -> None:
    drive, submitted = make_drive(tmp_path)
    result = validate_file(submitted, profile=PROFILE, expected_submitter="越秀区")
    assert [p for p in result.problems if p.is_error] == []
    report = consolidate(drive, PROFILE, as_of=AS_OF)
    assert report.master_path.is_file()
    for sheet_name, rows in FILLED.items():
        model = SHEETS_BY_NAME[sheet_name]
        expected = sorted((model.model_validate(_by_field(model, row)) for row in rows), key=_sort_key)
        got = sorted(records_from_master(report.master_path, model), key=_sort_key)
        assert got == expected, sheet_name
    enterprise = records_from_master(report.master_path, SHEETS_BY_NAME["企业名录"])
    assert {e.remark for e in enterprise} == {"=非公式文本", None}
    assert {e.phone for e in enterprise} == {"020-83123839", "13800138000"}
    project = records_from_master(report.master_path, SHEETS_BY_NAME["技改项目"])[0]
    assert project.investment == Decimal("320.5") and project.cod_cut_t == Decimal("1.25")


def _by_field(model: type[SheetModel], row: dict[str, Any]) -> dict[str, Any]:
    by_header = {column.header: name for name, column in model.columns().items()}
    return {by_header[header]: value for header, value in row.items()}


def _sort_key(record: SheetModel) -> str:
    return repr(record.key())


def test_second_consolidation_of_an_unchanged_drive_changes_nothing(tmp_path: Path) -> None:
    drive, _ = make_drive(tmp_path)
    first = consolidate(drive, PROFILE, as_of=AS_OF)
    before = {model.sheet_name: master_sheet(first.master_path, model.sheet_name) for model in SHEETS}
    register = open_register(drive.register_url)
    versions_before = {m.sheet_name: [r.version for r in register.current(m.sheet_name)] for m in SHEETS}
    kept = tmp_path / "first.xlsx"
    shutil.copy(first.master_path, kept)
    second = consolidate(drive, PROFILE, as_of=AS_OF)
    after = {model.sheet_name: master_sheet(second.master_path, model.sheet_name) for model in SHEETS}
    assert after == before
    assert {
        m.sheet_name: [r.version for r in register.current(m.sheet_name)] for m in SHEETS
    } == versions_before
    assert all(c.inserted == 0 and c.updated == 0 for o in second.files for c in o.merged.values())


def test_a_changed_value_makes_a_new_version_and_a_dropped_row_stays(tmp_path: Path) -> None:
    drive, submitted = make_drive(tmp_path)
    consolidate(drive, PROFILE, as_of=AS_OF)
    changed = {"企业名录": [dict(FILLED["企业名录"][0], 联系电话="020-88886666")]}
    later = drive.submitter_folder("越秀区") / "越秀区_2014-12.xlsx"
    write_template(
        later, submitter="越秀区", kind=SubmitterKind.DISTRICT, period="2014-12", profile=PROFILE.name
    )
    fill_with_openpyxl(later, changed)
    submitted.unlink()
    report = consolidate(drive, PROFILE, as_of=AS_OF)
    enterprises = {e.uscc: e for e in records_from_master(report.master_path, SHEETS_BY_NAME["企业名录"])}
    assert enterprises["91440101MA5CJQ4N59"].phone == "020-88886666"
    assert "914403001922038216" in enterprises  # not in the later file, still in the register
    history = open_register(drive.register_url).history("企业名录", ("91440101MA5CJQ4N59",))
    assert [h.data["phone"] for h in history] == ["020-83123839", "020-88886666"]


def test_a_file_that_fails_to_merge_costs_only_itself(tmp_path: Path, monkeypatch) -> None:
    import sheetsync.consolidate as consolidation
    from tests.conftest import write_xlsx

    drive = Drive(tmp_path / "drive")
    headers = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型"]
    for district, code in (("越秀区", "91440101MA5CJQ4N59"), ("海珠区", "914403001922038216")):
        folder = drive.submitter_folder(district)
        folder.mkdir(parents=True)
        write_xlsx(
            folder / f"{district}.xlsx",
            {"企业名录": [headers, [code, "某公司", district, "C", "餐饮", "自愿"]]},
        )
    real_merge = consolidation.merge_file

    def failing_merge(register, result, **kwargs):
        if "越秀区" in result.path:
            raise OSError("disk trouble")
        return real_merge(register, result, **kwargs)

    monkeypatch.setattr(consolidation, "merge_file", failing_merge)
    report = consolidate(drive, PROFILE, as_of=AS_OF)
    by_file = {o.result.path: o.result for o in report.files}
    failed = by_file["inbox/越秀区/越秀区.xlsx"]
    assert [p.code for p in failed.problems if p.is_error] == ["not-processed"]
    assert failed.rows_accepted == 0 and "不受影响" in failed.problems[-1].message
    assert [r.key for r in open_register(drive.register_url).current("企业名录")] == [("914403001922038216",)]


def test_a_file_that_failed_validation_is_merged_when_tried_again(tmp_path: Path, monkeypatch) -> None:
    """The not-processed message promises a retry: the failed night must not register the file."""
    import sheetsync.consolidate as consolidation
    from tests.conftest import write_xlsx

    drive = Drive(tmp_path / "drive")
    headers = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型"]
    folder = drive.submitter_folder("越秀区")
    folder.mkdir(parents=True)
    write_xlsx(
        folder / "越秀区.xlsx",
        {"企业名录": [headers, ["91440101MA5CJQ4N59", "某公司", "越秀区", "C", "餐饮", "自愿"]]},
    )
    real_validate = consolidation.validate_file

    def failing_validate(*args, **kwargs):
        raise MemoryError("a bad night")

    monkeypatch.setattr(consolidation, "validate_file", failing_validate)
    first = consolidate(drive, PROFILE, as_of=AS_OF)
    assert [p.code for p in first.files[0].result.problems] == ["not-processed"]
    assert open_register(drive.register_url).current("企业名录") == []

    monkeypatch.setattr(consolidation, "validate_file", real_validate)
    second = consolidate(drive, PROFILE, as_of=AS_OF)
    assert not second.files[0].already_registered
    assert [r.key for r in open_register(drive.register_url).current("企业名录")] == [("91440101MA5CJQ4N59",)]


def test_references_to_enterprises_are_answered_by_the_register_of_earlier_nights(tmp_path: Path) -> None:
    """A later file may audit an enterprise registered on an earlier night; an unknown one is refused."""
    from tests.conftest import write_xlsx

    drive, submitted = make_drive(tmp_path)
    consolidate(drive, PROFILE, as_of=AS_OF)
    submitted.unlink()
    audit_headers = ["统一社会信用代码", "审核轮次", "审核方式", "启动日期"]
    unknown = "91440101MA5CJQ5B2A"  # a valid code no file and no night ever registered
    later = drive.submitter_folder("越秀区") / "越秀区_2014-12.xlsx"
    write_xlsx(
        later,
        {
            "审核进度": [
                audit_headers,
                ["914403001922038216", 1, "全面审核", "2014-11-03"],
                [unknown, 1, "全面审核", "2014-11-04"],
            ]
        },
    )
    report = consolidate(drive, PROFILE, as_of=AS_OF)
    (outcome,) = report.files
    refused = [p for p in outcome.result.problems if p.code == "unknown-reference"]
    assert [(p.sheet, p.cell, p.value) for p in refused] == [("审核进度", "A3", unknown)]
    audits = open_register(drive.register_url).current("审核进度")
    assert sorted(record.key for record in audits) == [("91440101MA5CJQ4N59", 1), ("914403001922038216", 1)]


def test_a_file_may_refer_to_an_enterprise_a_later_file_of_the_same_night_registers(tmp_path: Path) -> None:
    """References are checked against the whole night, not just the files before: upload order is no rule."""
    import os

    from tests.conftest import write_xlsx

    drive = Drive(tmp_path / "drive")
    folder = drive.submitter_folder("越秀区")
    folder.mkdir(parents=True)
    code = "91440101MA5CJQ4N59"
    audits, enterprises = folder / "越秀区_审核.xlsx", folder / "越秀区_企业.xlsx"
    write_xlsx(
        audits,
        {
            "审核进度": [
                ["统一社会信用代码", "审核轮次", "审核方式", "启动日期"],
                [code, 1, "全面审核", "2014-11-03"],
            ]
        },
    )
    write_xlsx(
        enterprises,
        {
            "企业名录": [
                ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型"],
                [code, "某公司", "越秀区", "C", "餐饮", "自愿"],
            ]
        },
    )
    os.utime(audits, (1_400_000_000, 1_400_000_000))  # uploaded first
    os.utime(enterprises, (1_400_000_100, 1_400_000_100))
    assert [path.name for _, path in drive.submissions()] == [audits.name, enterprises.name]
    report = consolidate(drive, PROFILE, as_of=AS_OF)
    assert [p.code for o in report.files for p in o.result.problems if p.is_error] == []
    register = open_register(drive.register_url)
    assert [r.key for r in register.current("审核进度")] == [(code, 1)]
    assert [r.key for r in register.current("企业名录")] == [(code,)]
