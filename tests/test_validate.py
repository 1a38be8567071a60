"""Every error code of the catalogue, each produced by a real file and located at its cell."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sheetsync.errors import CATALOGUE, Problem
from sheetsync.profile import load_profile
from sheetsync.records import FileStatus
from sheetsync.schemas import Enterprise, Project, Training
from sheetsync.validate import References, column_letter, header_key, validate_file

PROFILE = load_profile("guangzhou-2013")
GOOD = "91440101MA5CJQ4N59"
GOOD2 = "914403001922038216"
ENTERPRISE_HEADERS = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型"]
STAMP = {"submitter": "越秀区", "kind": "district", "period": "2014-11", "template_version": "v1"}


def enterprise_rows(*rows: list[object]) -> list[list[object]]:
    return [ENTERPRISE_HEADERS, *rows]


def good_enterprise(code: str = GOOD, name: str = "广州市越秀某某有限公司") -> list[object]:
    return [code, name, "越秀区", "C 制造业", "规模以上工业", "自愿"]


def check(path: Path, **kwargs: object) -> list[Problem]:
    return validate_file(path, profile=PROFILE, **kwargs).problems  # type: ignore[arg-type]


def only(problems: list[Problem], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, [(p.code, p.cell, p.message) for p in problems]
    return found[0]


def test_clean_file_has_no_problems(xlsx) -> None:
    path = xlsx("ok.xlsx", {"企业名录": enterprise_rows(good_enterprise())}, stamp=STAMP)
    result = validate_file(path, profile=PROFILE, expected_submitter="越秀区")
    assert [p.code for p in result.problems if p.code != "missing-optional-header"] == []
    assert result.status is FileStatus.ACCEPTED
    assert result.rows_accepted == 1


CELL_CASES = [
    # (code, sheet, headers, row, expected cell)
    (
        "uscc-checksum",
        "企业名录",
        ENTERPRISE_HEADERS,
        ["91440101MA5CJQ4N58", "甲", "越秀区", "C", "餐饮", "自愿"],
        "A2",
    ),
    ("uscc-format", "企业名录", ENTERPRISE_HEADERS, ["9144010", "甲", "越秀区", "C", "餐饮", "自愿"], "A2"),
    ("required", "企业名录", ENTERPRISE_HEADERS, [GOOD, None, "越秀区", "C", "餐饮", "自愿"], "B2"),
    ("not-in-choices", "企业名录", ENTERPRISE_HEADERS, [GOOD, "甲", "越秀区", "C", "工业企业", "自愿"], "E2"),
    (
        "required-when",
        "企业名录",
        ENTERPRISE_HEADERS + ["强制审核原因"],
        [GOOD, "甲", "越秀区", "C", "餐饮", "强制", "超标排放"],
        "G1",
    ),  # the listing-date column is absent
    (
        "not-a-date",
        "培训活动",
        ["培训编号", "培训日期", "培训主题", "参训人次"],
        ["YX-01", "2014-13-45", "主题", 30],
        "B2",
    ),
    (
        "not-an-integer",
        "培训活动",
        ["培训编号", "培训日期", "培训主题", "参训人次"],
        ["YX-01", "2014-5-1", "主题", 30.5],
        "D2",
    ),
    (
        "out-of-range",
        "培训活动",
        ["培训编号", "培训日期", "培训主题", "参训人次"],
        ["YX-01", "2014-5-1", "主题", -3],
        "D2",
    ),
    (
        "not-a-number",
        "技改项目",
        ["项目编号", "统一社会信用代码", "项目名称", "项目类别", "总投资(万元)"],
        ["P1", GOOD, "改造", "节能", "约20万"],
        "E2",
    ),
    (
        "amount-exceeds",
        "技改项目",
        ["项目编号", "统一社会信用代码", "项目名称", "项目类别", "总投资(万元)", "核定补助(万元)"],
        ["P1", GOOD, "改造", "节能", 100, 150],
        "F2",
    ),
    (
        "date-order",
        "审核进度",
        ["统一社会信用代码", "审核轮次", "审核方式", "启动日期", "报告提交日期"],
        [GOOD, 1, "全面审核", date(2014, 5, 1), "2014年3月1日"],
        "E2",
    ),
    ("not-a-phone", "企业名录", ENTERPRISE_HEADERS + ["联系电话"], [*good_enterprise(), "无"], "G2"),
    ("excel-error", "企业名录", ENTERPRISE_HEADERS, [GOOD, "#N/A", "越秀区", "C", "餐饮", "自愿"], "B2"),
    ("too-long", "企业名录", ENTERPRISE_HEADERS, [GOOD, "长" * 501, "越秀区", "C", "餐饮", "自愿"], "B2"),
]


@pytest.mark.parametrize(
    ("code", "sheet", "headers", "row", "cell"), CELL_CASES, ids=[c[0] for c in CELL_CASES]
)
def test_cell_errors_name_their_cell(
    xlsx, code: str, sheet: str, headers: list[str], row: list[object], cell: str
) -> None:
    path = xlsx(f"{code}.xlsx", {sheet: [headers, row]}, stamp=STAMP)
    result = validate_file(path, profile=PROFILE)
    problem = only(result.problems, code)
    assert problem.sheet == sheet
    if code == "required-when":
        assert problem.header == "列入强制名单日期"
    else:
        assert problem.cell == cell
        assert problem.row == 2
    assert problem.message and problem.title == CATALOGUE[code].title
    assert result.rows_accepted == 0 and result.rows_rejected == 1


def test_required_when_names_the_empty_cell(xlsx) -> None:
    headers = [*ENTERPRISE_HEADERS, "列入强制名单日期", "强制审核原因"]
    path = xlsx("m.xlsx", {"企业名录": [headers, [*good_enterprise()[:5], "强制", None, "超标排放"]]})
    problem = only(check(path), "required-when")
    assert (problem.cell, problem.header) == ("G2", "列入强制名单日期")
    assert "强制" in problem.message


def test_duplicate_key_keeps_the_first_row(xlsx) -> None:
    path = xlsx("d.xlsx", {"企业名录": enterprise_rows(good_enterprise(), good_enterprise(name="乙"))})
    result = validate_file(path, profile=PROFILE)
    problem = only(result.problems, "duplicate-key")
    assert problem.cell == "A3" and "第2行" in problem.message
    assert [row.row for row in result.sheets[0].valid_rows] == [2]


def test_headers_are_matched_tolerantly_and_located(xlsx) -> None:
    headers = [
        "＊统一社会\n信用代码",
        " 企业名称 ",
        "所属区县",
        "行业门类",
        "企业类别",
        "审核类型",
        "总投资（万元）",
        "企业名称",
    ]
    path = xlsx("h.xlsx", {"企业名录": [headers, [*good_enterprise(), "x", "y"]]})
    problems = check(path)
    assert only(problems, "unknown-header").cell == "G1"
    duplicate = only(problems, "duplicate-header")
    assert duplicate.cell == "H1" and "B1" in duplicate.message


def test_missing_required_header_rejects_the_sheet(xlsx) -> None:
    path = xlsx(
        "mh.xlsx",
        {
            "企业名录": [
                ["统一社会信用代码", "企业名字", "所属区县", "行业门类", "企业类别", "审核类型"],
                good_enterprise(),
            ]
        },
    )
    problems = check(path)
    assert only(problems, "missing-header").header == "企业名称"
    assert only(problems, "unknown-header").cell == "B1"


def test_title_row_above_header_and_offset_table(xlsx) -> None:
    rows = [
        ["越秀区企业名录(2014年11月)"],
        [],
        [None, *ENTERPRISE_HEADERS],
        [None, *good_enterprise()],
        [None, "91440101MA5CJQ4N58", "乙", "越秀区", "C", "餐饮", "自愿"],
    ]
    result = validate_file(xlsx("t.xlsx", {"企业名录": rows}), profile=PROFILE)
    assert result.rows_accepted == 1
    assert only(result.problems, "uscc-checksum").cell == "B5"


def test_unknown_reference_to_training(xlsx) -> None:
    sheets = {
        "培训活动": [["培训编号", "培训日期", "培训主题", "参训人次"], ["YX-01", "2014-5-1", "主题", 30]],
        "参训人员": [
            ["培训编号", "统一社会信用代码", "姓名"],
            ["YX-01", GOOD, "张三"],
            ["YX-99", GOOD, "李四"],
        ],
    }
    result = validate_file(xlsx("r.xlsx", sheets), profile=PROFILE)
    problem = only(result.problems, "unknown-reference")
    assert (problem.sheet, problem.cell, problem.value) == ("参训人员", "A3", "YX-99")
    # a training already in the register counts as known
    known = References(keys={Training.sheet_name: {("YX-99",)}})
    assert not [
        p
        for p in validate_file(xlsx("r2.xlsx", sheets), profile=PROFILE, references=known).problems
        if p.code == "unknown-reference"
    ]


def test_unknown_enterprise_reference_when_register_known(xlsx) -> None:
    sheets = {
        "技改项目": [["项目编号", "统一社会信用代码", "项目名称", "项目类别"], ["P1", GOOD2, "改造", "节能"]]
    }
    known = References(keys={Enterprise.sheet_name: {(GOOD,)}})
    problem = only(check(xlsx("e.xlsx", sheets), references=known), "unknown-reference")
    assert problem.cell == "B2" and "企业名录" in problem.message
    assert not [p for p in check(xlsx("e2.xlsx", sheets)) if p.code == "unknown-reference"]


def test_submitter_mismatch_rejects_the_whole_file(xlsx) -> None:
    stamp = {**STAMP, "submitter": "海珠区"}
    path = xlsx("s.xlsx", {"企业名录": enterprise_rows(good_enterprise())}, stamp=stamp)
    result = validate_file(path, profile=PROFILE, expected_submitter="越秀区")
    problem = only(result.problems, "submitter-mismatch")
    assert (problem.sheet, problem.cell) == ("填报信息", "B1")
    assert result.rows_accepted == 0 and result.status is FileStatus.REJECTED


def test_unknown_submitter_and_missing_stamp(xlsx) -> None:
    path = xlsx("u.xlsx", {"企业名录": enterprise_rows(good_enterprise())})
    assert only(check(path, expected_submitter="火星区"), "unknown-submitter")
    warning = only(check(path, expected_submitter="越秀区"), "missing-stamp")
    assert not warning.is_error


def test_bad_period_in_stamp_is_reported(xlsx) -> None:
    path = xlsx(
        "p.xlsx", {"企业名录": enterprise_rows(good_enterprise())}, stamp={**STAMP, "period": "十一月"}
    )
    assert only(check(path), "not-a-period").cell == "B3"


def test_sheet_not_allowed_for_a_district(xlsx) -> None:
    sheets = {
        "专家库": [["专家编号", "姓名", "工作单位", "专长", "状态"], ["E1", "王", "某大学", "节能", "在库"]]
    }
    result = validate_file(xlsx("x.xlsx", sheets, stamp=STAMP), profile=PROFILE, expected_submitter="越秀区")
    assert only(result.problems, "sheet-not-allowed").sheet == "专家库"
    assert result.rows_accepted == 0


def test_unknown_sheet_and_renamed_sheet_found_by_headers(xlsx) -> None:
    sheets = {"Sheet1": enterprise_rows(good_enterprise()), "随便写写": [["a", "b"], [1, 2]]}
    result = validate_file(xlsx("n.xlsx", sheets), profile=PROFILE)
    assert result.rows_accepted == 1 and result.sheets[0].sheet_name == "企业名录"
    assert only(result.problems, "unknown-sheet").sheet == "随便写写"


def test_no_contract_sheet(xlsx) -> None:
    assert only(check(xlsx("z.xlsx", {"Sheet1": [["a"], [1]]})), "no-contract-sheet")


def test_unreadable_and_unsupported_files(tmp_path: Path) -> None:
    fake = tmp_path / "fake.xlsx"
    fake.write_text("这不是工作簿", encoding="utf-8")
    problem = only(check(fake), "unreadable-file")
    assert "不是 Excel 工作簿" in problem.message
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    assert "0字节" in only(check(empty), "unreadable-file").message
    assert only(check(tmp_path / "notes.docx"), "unsupported-file")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_csv_in_utf8_and_gbk(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "培训活动.csv"
    path.write_text(
        '培训编号,培训日期,培训主题,参训人次\nYX-01,2014/5/1,清洁生产认知培训,"1,200"\nYX-02,下周,x,3\n',
        encoding=encoding,
    )
    result = validate_file(path, profile=PROFILE)
    assert result.rows_accepted == 1
    assert result.sheets[0].valid_rows[0].record.attendance == 1200
    assert only(result.problems, "not-a-date").cell == "B3"


def test_values_are_normalised(xlsx) -> None:
    rows = [
        ["项目编号", "统一社会信用代码", "项目名称", "项目类别", "总投资(万元)", "开工日期", "完工日期"],
        [2014001.0, " 91440101ma5cjq4n59 ", " 锅炉 改造 ", "节能", "１，２００.５", 41790, "2014年12月1日"],
    ]
    result = validate_file(xlsx("v.xlsx", {"技改项目": rows}), profile=PROFILE)
    record = result.sheets[0].valid_rows[0].record
    assert isinstance(record, Project)
    assert (record.project_id, record.uscc, record.name) == ("2014001", GOOD, "锅炉 改造")
    assert str(record.investment) == "1200.5"
    assert (record.started_on, record.finished_on) == (date(2014, 5, 31), date(2014, 12, 1))


def test_helpers() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    assert header_key("＊总投资（万元）") == header_key("总投资(万元)")


def test_every_catalogue_code_is_exercised() -> None:
    source = "".join(path.read_text(encoding="utf-8") for path in Path(__file__).parent.glob("test_*.py"))
    untested = [code for code in CATALOGUE if f'"{code}"' not in source and code != "invalid-value"]
    assert untested == []


def test_empty_own_sheet_does_not_hide_enterprises_known_elsewhere(xlsx) -> None:
    sheets = {
        "企业名录": [ENTERPRISE_HEADERS],
        "技改项目": [["项目编号", "统一社会信用代码", "项目名称", "项目类别"], ["P1", GOOD2, "改造", "节能"]],
        "培训活动": [["培训编号", "培训日期", "培训主题", "参训人次"]],
        "参训人员": [["培训编号", "统一社会信用代码", "姓名"], ["YX-01", GOOD2, "张三"]],
    }
    path = xlsx("empty-own.xlsx", sheets)
    assert [p for p in check(path) if p.code == "unknown-reference"] == []
    known = References(keys={Enterprise.sheet_name: {(GOOD2,)}, Training.sheet_name: {("YX-01",)}})
    assert [p for p in check(path, references=known) if p.is_error] == []
