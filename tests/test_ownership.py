"""Submitter isolation: a file creates or changes only what its submitter owns."""

from __future__ import annotations

from pathlib import Path

from sheetsync.ownership import EnterpriseFacts, Ownership, check_ownership
from sheetsync.profile import load_profile
from sheetsync.validate import validate_file
from tests.conftest import write_xlsx

PROFILE = load_profile("guangzhou-2013")
YUEXIU, HAIZHU, TOURISM, ENV, OFFICE = (
    PROFILE.submitter(n) for n in ("越秀区", "海珠区", "市旅游局", "市环保局", "市经贸委")
)
HEADERS = [
    "统一社会信用代码",
    "企业名称",
    "所属区县",
    "行业门类",
    "企业类别",
    "审核类型",
    "列入强制名单日期",
    "强制审核原因",
]
A, B, C = "91440101MA5CJQ4N59", "914403001922038216", "91110000710925462X"


def enterprise(code: str, district: str, category: str = "餐饮", audit: str = "自愿") -> list[object]:
    row: list[object] = [code, "某公司", district, "C", category, audit]
    return row + (["2014-01-02", "超标排放"] if audit == "强制" else [None, None])


def checked(path: Path, submitter, ownership: Ownership):  # type: ignore[no-untyped-def]
    result = validate_file(path, profile=PROFILE)
    check_ownership(result, submitter, ownership)
    return result


def problems(result, code: str = "not-owner"):  # type: ignore[no-untyped-def]
    return [p for p in result.problems if p.code == code]


EMPTY = Ownership(enterprises={}, trainings={})


def test_a_district_writes_only_its_own_enterprises(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "a.xlsx", {"企业名录": [HEADERS, enterprise(A, "越秀区"), enterprise(B, "海珠区")]}
    )
    result = checked(path, YUEXIU, EMPTY)
    (problem,) = problems(result)
    assert (problem.sheet, problem.cell, problem.value) == ("企业名录", "C3", "海珠区")
    assert "越秀区" in problem.message and "冲突待处理" in problem.message
    assert [row.record.uscc for row in result.sheets[0].valid_rows] == [A]


def test_a_district_cannot_take_over_another_districts_enterprise(tmp_path: Path) -> None:
    registered = Ownership(enterprises={A: EnterpriseFacts("海珠区", "餐饮", "自愿")}, trainings={})
    path = write_xlsx(tmp_path / "a.xlsx", {"企业名录": [HEADERS, enterprise(A, "越秀区")]})
    (problem,) = problems(checked(path, YUEXIU, registered))
    assert problem.cell == "A2" and "海珠区" in problem.message


def test_audits_and_projects_follow_their_enterprise(tmp_path: Path) -> None:
    registered = Ownership(enterprises={B: EnterpriseFacts("海珠区", "餐饮", "自愿")}, trainings={})
    sheets = {
        "企业名录": [HEADERS, enterprise(A, "越秀区")],
        "审核进度": [["统一社会信用代码", "审核轮次", "审核方式"], [A, 1, "全面审核"], [B, 1, "全面审核"]],
        "技改项目": [["项目编号", "统一社会信用代码", "项目名称", "项目类别"], ["P1", B, "改造", "节能"]],
    }
    result = checked(write_xlsx(tmp_path / "a.xlsx", sheets), YUEXIU, registered)
    assert sorted((p.sheet, p.cell) for p in problems(result)) == [("审核进度", "A3"), ("技改项目", "B2")]
    assert HAIZHU is not None and problems(
        checked(write_xlsx(tmp_path / "b.xlsx", sheets), HAIZHU, registered)
    )


def test_an_agency_writes_its_sector_and_the_environment_bureau_the_mandatory_list(tmp_path: Path) -> None:
    rows = [
        HEADERS,
        enterprise(A, "越秀区", "星级酒店"),
        enterprise(B, "海珠区", "餐饮"),
        enterprise(C, "荔湾区", "规模以上工业", "强制"),
    ]
    path = write_xlsx(tmp_path / "a.xlsx", {"企业名录": rows})
    tourism = checked(path, TOURISM, EMPTY)
    assert [p.cell for p in problems(tourism)] == ["E3", "E4"]
    environment = checked(path, ENV, EMPTY)
    assert [row.record.uscc for row in environment.sheets[0].valid_rows] == [C]


def test_trainings_belong_to_whoever_registered_them(tmp_path: Path) -> None:
    registered = Ownership(enterprises={}, trainings={"HZ-01": "海珠区"})
    sheets = {
        "培训活动": [
            ["培训编号", "培训日期", "培训主题", "参训人次"],
            ["HZ-01", "2014-5-1", "改个主题", 3],
            ["YX-01", "2014-5-2", "主题", 5],
        ],
        "参训人员": [["培训编号", "统一社会信用代码", "姓名"], ["HZ-01", A, "张三"], ["YX-01", A, "李四"]],
    }
    result = checked(write_xlsx(tmp_path / "t.xlsx", sheets), YUEXIU, registered)
    assert sorted((p.sheet, p.cell) for p in problems(result)) == [("参训人员", "A2"), ("培训活动", "A2")]


def test_the_office_may_change_anything(tmp_path: Path) -> None:
    registered = Ownership(
        enterprises={A: EnterpriseFacts("海珠区", "餐饮", "自愿")}, trainings={"HZ-01": "海珠区"}
    )
    path = write_xlsx(
        tmp_path / "a.xlsx", {"企业名录": [HEADERS, enterprise(A, "越秀区"), enterprise(B, "荔湾区")]}
    )
    assert problems(checked(path, OFFICE, registered)) == []


def test_a_later_night_judges_rows_by_the_registers_owner(tmp_path: Path) -> None:
    """Through consolidation: the register's facts on the enterprises a file names decide."""
    from datetime import date

    from sheetsync.consolidate import consolidate
    from sheetsync.drive import Drive
    from sheetsync.store import open_register

    drive = Drive(tmp_path / "drive")
    first = drive.submitter_folder("越秀区")
    first.mkdir(parents=True)
    write_xlsx(first / "越秀区.xlsx", {"企业名录": [HEADERS, enterprise(A, "越秀区")]})
    consolidate(drive, PROFILE, as_of=date(2014, 11, 30))

    second = drive.submitter_folder("海珠区")
    second.mkdir(parents=True)
    sheets = {
        "企业名录": [HEADERS, enterprise(B, "海珠区")],
        "审核进度": [["统一社会信用代码", "审核轮次", "审核方式"], [A, 1, "全面审核"], [B, 1, "全面审核"]],
    }
    write_xlsx(second / "海珠区.xlsx", sheets)
    report = consolidate(drive, PROFILE, as_of=date(2014, 12, 1))
    (outcome,) = [o for o in report.files if o.submitter == "海珠区"]
    assert [(p.sheet, p.cell) for p in problems(outcome.result)] == [("审核进度", "A2")]
    audits = open_register(drive.register_url).current("审核进度")
    assert [record.data["uscc"] for record in audits] == [B]
