"""Feedback workbooks and receipts, checked the way a submitter would meet them.

Every test builds a real file, runs the real validator on it, writes the feedback and reads it
back with openpyxl: the coloured cells and comments must be exactly the cells the problems name.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.worksheet.worksheet import Worksheet

from sheetsync.errors import Problem, Severity
from sheetsync.profile import load_profile
from sheetsync.read import read_workbook
from sheetsync.records import FILE_STATUS_LABELS, FileResult
from sheetsync.render_feedback import (
    ERROR_FILL,
    PROBLEMS_SHEET,
    RECEIPT_HEADER,
    REJECTED_ROW_FILL,
    SUMMARY_SHEET,
    WARNING_FILL,
    append_receipt,
    write_feedback,
)
from sheetsync.schemas.stamp import CHOICES_SHEET, HELPER_SHEETS, INSTRUCTIONS_SHEET, STAMP_SHEET
from sheetsync.validate import validate_file
from tests.conftest import write_xlsx

PROFILE = load_profile("guangzhou-2013")
SUBMITTER = "越秀区"
STAMP = {"submitter": SUBMITTER, "kind": "district", "period": "2014-11", "template_version": "v1"}
WHEN = datetime(2014, 11, 30, 6, 5, 9)
GOOD = "91440101MA5CJQ4N59"
GOOD2 = "914403001922038216"
GOOD3 = "91330100799655058B"
ENTERPRISE_HEADERS = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型", "备注"]
TRAINING_HEADERS = ["培训编号", "培训日期", "培训主题", "参训人次"]
SEVERITY_TEXT = {"错误": Severity.ERROR, "提示": Severity.WARNING}


def argb(colour: str) -> str:
    return "FF" + colour.lstrip("#").upper()


def mixed_submission(path: Path) -> Path:
    """Good rows, bad cells of several kinds, a warning on a header cell and formula-like text."""
    enterprises = [
        [*ENTERPRISE_HEADERS, "备 注 二"],  # unknown header: a warning on H1
        [GOOD, "=1+1", "越秀区", "C 制造业", "规模以上工业", "自愿", "@SUM(A1)", None],
        [GOOD2[:-1] + "7", "乙公司", "越秀区", "C 制造业", "工业企业", "自愿", "-5", None],  # 2 errors
        [GOOD3, None, "越秀区", "C 制造业", "餐饮", "自愿", "+86", None],  # required 企业名称
        ["91110000710925462X", "丁公司", "越秀区", "C 制造业", "餐饮", "自愿", "\t制表符开头", None],
    ]
    trainings = [
        TRAINING_HEADERS,
        ["YX-01", date(2014, 5, 6), "审核培训", 30],
        ["YX-02", "2014-13-45", "现场会", 12],  # not a date
        ["YX-03", "2014年6月1日", "经验交流", 20.5],  # not an integer
    ]
    return write_xlsx(
        path,
        {
            "企业名录": enterprises,
            "培训活动": trainings,
            "说明": [["这张表不是约定的工作表", datetime(2014, 5, 6, 9, 30), True]],  # a warning, no cell
            CHOICES_SHEET: [["是", "否"]],
            INSTRUCTIONS_SHEET: [["请按说明填写"]],
        },
        stamp=STAMP,
    )


def validate(path: Path, **kwargs: Any) -> FileResult:
    kwargs.setdefault("expected_submitter", SUBMITTER)
    return validate_file(path, display_name=f"inbox/{SUBMITTER}/{path.name}", profile=PROFILE, **kwargs)


def feedback_for(result: FileResult, source: Path, tmp_path: Path) -> openpyxl.Workbook:
    out = write_feedback(
        result, source, tmp_path / "feedback" / SUBMITTER, submitter=SUBMITTER, processed_at=WHEN
    )
    return openpyxl.load_workbook(out)


def copied_sheets(book: openpyxl.Workbook) -> list[Worksheet]:
    return [ws for ws in book.worksheets if ws.title not in (SUMMARY_SHEET, PROBLEMS_SHEET)]


def marked(ws: Worksheet) -> dict[str, str]:
    """Cell → fill colour, for every cell with a solid fill."""
    return {
        cell.coordinate: cell.fill.fgColor.rgb
        for row in ws.iter_rows()
        for cell in row
        if cell.fill is not None and cell.fill.fill_type == "solid"
    }


def comments(ws: Worksheet) -> dict[str, str]:
    return {cell.coordinate: cell.comment.text for row in ws.iter_rows() for cell in row if cell.comment}


def expected_marks(result: FileResult, sheet: str) -> dict[str, str]:
    """The colour each problem cell of ``sheet`` must have: red when any of its problems is an error."""
    colours: dict[str, str] = {}
    for problem in result.problems:
        if problem.sheet == sheet and problem.cell and sheet not in HELPER_SHEETS:
            if problem.is_error or colours.get(problem.cell) != argb(ERROR_FILL):
                colours[problem.cell] = argb(ERROR_FILL if problem.is_error else WARNING_FILL)
    return colours


def problem_rows(book: openpyxl.Workbook) -> list[tuple[Any, ...]]:
    rows = list(book[PROBLEMS_SHEET].iter_rows(min_row=2, values_only=True))
    return [row for row in rows if row[-1] is not None]


def summary_facts(book: openpyxl.Workbook) -> dict[str, Any]:
    ws = book[SUMMARY_SHEET]
    return {row[0]: row[1] for row in ws.iter_rows(max_col=2, values_only=True) if row[0] is not None}


def summary_text(book: openpyxl.Workbook) -> str:
    ws = book[SUMMARY_SHEET]
    return "\n".join(str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None)


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[FileResult, Path, openpyxl.Workbook]:
    source = mixed_submission(tmp_path / "越秀区_2014-11.xlsx")
    result = validate(source)
    return result, source, feedback_for(result, source, tmp_path)


# --- the copies ---------------------------------------------------------------------------


def test_the_mixed_submission_has_what_the_tests_rely_on(mixed) -> None:
    result, _, _ = mixed
    codes = Counter(p.code for p in result.problems)
    assert {"uscc-checksum", "not-in-choices", "required", "not-a-date", "not-an-integer"} <= set(codes)
    assert {"unknown-header", "unknown-sheet"} <= set(codes)
    assert result.rows_accepted and result.rows_rejected


def test_fills_and_comments_are_on_exactly_the_problem_cells(mixed) -> None:
    result, _, book = mixed
    for ws in copied_sheets(book):
        expected = expected_marks(result, ws.title)
        fills = marked(ws)
        strong = {cell: colour for cell, colour in fills.items() if colour != argb(REJECTED_ROW_FILL)}
        assert strong == expected, ws.title
        assert set(comments(ws)) == set(expected), ws.title


def test_each_comment_gives_every_message_of_its_cell_in_chinese(mixed) -> None:
    result, _, book = mixed
    seen = 0
    for problem in result.problems:
        if problem.cell and problem.sheet in book.sheetnames and problem.sheet not in HELPER_SHEETS:
            text = book[problem.sheet][problem.cell].comment.text
            assert problem.message in text and problem.title in text
            assert ("【错误】" if problem.is_error else "【提示】") in text
            seen += 1
    assert seen >= 6


def test_rejected_rows_are_pale_red_except_the_bad_cells(mixed) -> None:
    result, _, book = mixed
    for sheet in result.sheets:
        ws = book[sheet.source_sheet]
        fills = marked(ws)
        problem_cells = set(expected_marks(result, ws.title))
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if cell.coordinate in problem_cells:
                    continue
                pale = fills.get(cell.coordinate) == argb(REJECTED_ROW_FILL)
                assert pale == (cell.row in sheet.rejected_rows), (ws.title, cell.coordinate)


def test_values_come_back_as_typed_and_the_header_is_bold(mixed) -> None:
    _, _, book = mixed
    ws = book["培训活动"]
    assert ws["B2"].value == datetime(2014, 5, 6) and ws["B2"].is_date
    assert ws["D2"].value == 30 and ws["D2"].data_type == "n"
    assert ws["B3"].value == "2014-13-45" and ws["B3"].data_type == "s"
    assert book["说明"]["B1"].value == datetime(2014, 5, 6, 9, 30) and book["说明"]["C1"].value is True
    assert all(cell.font.b for cell in ws[1])
    assert not any(cell.font.b for cell in ws[2])


def test_formula_like_text_stays_text_with_a_quote_prefix(mixed) -> None:
    _, _, book = mixed
    ws = book["企业名录"]
    for ref, text in (
        ("B2", "=1+1"),
        ("G2", "@SUM(A1)"),
        ("G3", "-5"),
        ("G4", "+86"),
        ("G5", "\t制表符开头"),
    ):
        assert ws[ref].value == text and ws[ref].data_type == "s", ref
        assert ws[ref].quotePrefix, ref
    assert ws["B3"].value == "乙公司" and not ws["B3"].quotePrefix


def test_stamp_and_helper_sheets_are_not_copied(mixed) -> None:
    _, _, book = mixed
    assert book.sheetnames == [SUMMARY_SHEET, "企业名录", "培训活动", "说明", PROBLEMS_SHEET]
    assert STAMP_SHEET not in book.sheetnames


def test_several_problems_on_one_cell_are_joined_and_an_error_wins(tmp_path: Path, mixed) -> None:
    result, source, _ = mixed
    extra = Problem.make(
        "too-long", file=result.path, sheet="企业名录", cell="C5", row=5, value="越秀区", length=3, limit=2
    )
    note = Problem.make(
        "invalid-value",
        file=result.path,
        sheet="企业名录",
        cell="C5",
        row=5,
        severity=Severity.WARNING,
        detail="测试",
    )
    result.problems += [note, extra]
    book = feedback_for(result, source, tmp_path / "again")
    ws = book["企业名录"]
    assert marked(ws)["C5"] == argb(ERROR_FILL)
    assert extra.message in ws["C5"].comment.text and note.message in ws["C5"].comment.text


# --- 问题清单 ------------------------------------------------------------------------------


def test_problem_list_has_one_row_per_problem(mixed) -> None:
    result, _, book = mixed
    listed = Counter(
        (SEVERITY_TEXT[r[0]], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in problem_rows(book)
    )
    wanted = Counter(
        (p.severity, p.sheet, p.cell, p.header, p.value, p.title, p.message, p.code) for p in result.problems
    )
    assert listed == wanted
    assert [c.value for c in book[PROBLEMS_SHEET][1]] == [
        "严重程度", "工作表", "单元格", "列名", "填写值", "问题", "修改说明", "代码"
    ]  # fmt: skip


def test_problem_list_links_jump_to_the_marked_cell(mixed) -> None:
    result, _, book = mixed
    ws = book[PROBLEMS_SHEET]
    linked = 0
    for row in ws.iter_rows(min_row=2):
        sheet, cell = row[1].value, row[2]
        if cell.value is None:
            assert cell.hyperlink is None
            continue
        match = re.fullmatch(r"'(.+)'!([A-Z]+[0-9]+)", cell.hyperlink.location)
        assert match is not None, cell.hyperlink.location
        target, ref = match.group(1).replace("''", "'"), match.group(2)
        assert (target, ref) == (sheet, cell.value)
        assert book[target][ref].comment is not None
        linked += 1
    assert linked == sum(1 for p in result.problems if p.cell)


# --- 反馈摘要 ------------------------------------------------------------------------------


def test_summary_counts_equal_the_file_result(mixed) -> None:
    result, _, book = mixed
    facts = summary_facts(book)
    assert facts["填报单位"] == SUBMITTER
    assert facts["处理结果"] == FILE_STATUS_LABELS[result.status]
    assert facts["接收行数"] == result.rows_accepted
    assert facts["退回行数"] == result.rows_rejected
    assert facts["错误数"] == sum(p.is_error for p in result.problems)
    assert facts["提示数"] == sum(not p.is_error for p in result.problems)
    assert facts["处理时间"] == "2014-11-30 06:05:09"
    assert book.sheetnames[0] == SUMMARY_SHEET and book.active.title == SUMMARY_SHEET


def test_summary_has_a_line_per_sheet_with_its_counts(mixed) -> None:
    result, _, book = mixed
    rows = {row[0]: row for row in book[SUMMARY_SHEET].iter_rows(values_only=True) if row[0]}
    for sheet in result.sheets:
        line = rows[sheet.source_sheet]
        assert line[1:5] == (
            sheet.sheet_name,
            sheet.rows_seen,
            len(sheet.valid_rows),
            len(sheet.rejected_rows),
        )
    assert "本表数据未读取" in rows["说明"][7]


def test_summary_says_what_to_do_next(mixed) -> None:
    result, _, book = mixed
    text = summary_text(book)
    assert "下一步" in text
    assert f"把修改后的整个文件重新放入“{SUBMITTER}”文件夹" in text
    assert f"已接收的 {result.rows_accepted} 行已经进入台账" in text
    unknown_sheet = next(p for p in result.problems if p.code == "unknown-sheet")
    assert unknown_sheet.message in text


def test_a_clean_file_needs_nothing(tmp_path: Path) -> None:
    source = write_xlsx(
        tmp_path / "ok.xlsx",
        {
            "培训活动": [
                ["培训编号", "培训日期", "培训主题", "培训类型", "主办单位", "参训人次"],
                ["YX-01", date(2014, 5, 6), "审核培训", "专题培训", "越秀区经贸局", 30],
            ]
        },
        stamp=STAMP,
    )
    result = validate(source)
    assert result.problems == []
    book = feedback_for(result, source, tmp_path)
    assert summary_facts(book)["处理结果"] == "全部接收"
    assert "全部 1 行数据已接收" in summary_text(book) and "无需任何操作" in summary_text(book)
    assert all(marked(ws) == {} and comments(ws) == {} for ws in copied_sheets(book))
    assert problem_rows(book) == []


# --- file-level problems --------------------------------------------------------------------


def test_an_unreadable_file_gets_only_summary_and_problem_list(tmp_path: Path) -> None:
    source = tmp_path / "坏文件.xlsx"
    source.write_bytes(b"this is not a workbook at all")
    result = validate(source)
    book = feedback_for(result, source, tmp_path)
    assert book.sheetnames == [SUMMARY_SHEET, PROBLEMS_SHEET]
    assert summary_facts(book)["处理结果"] == "无法读取"
    (problem,) = result.problems
    assert problem.code == "unreadable-file"
    assert problem.message in summary_text(book)
    assert [r[7] for r in problem_rows(book)] == ["unreadable-file"]


def test_submitter_mismatch_is_explained_and_nothing_is_coloured(tmp_path: Path) -> None:
    source = write_xlsx(
        tmp_path / "海珠区.xlsx",
        {"企业名录": [ENTERPRISE_HEADERS, [GOOD, "甲公司", "越秀区", "C", "餐饮", "自愿", None]]},
        stamp={**STAMP, "submitter": "海珠区"},
    )
    result = validate(source)
    book = feedback_for(result, source, tmp_path)
    mismatch = next(p for p in result.problems if p.code == "submitter-mismatch")
    assert mismatch.sheet == STAMP_SHEET and mismatch.cell  # located on a sheet that is not copied
    assert STAMP_SHEET not in book.sheetnames
    assert all(marked(ws) == {} and comments(ws) == {} for ws in copied_sheets(book))
    ((_, _, cell_text, *_),) = [r for r in problem_rows(book) if r[7] == "submitter-mismatch"]
    link_cell = next(
        row[2] for row in book[PROBLEMS_SHEET].iter_rows(min_row=2) if row[7].value == "submitter-mismatch"
    )
    assert cell_text == mismatch.cell and link_cell.hyperlink is None
    assert mismatch.message in summary_text(book)
    assert summary_facts(book)["处理结果"] == "退回"


# --- CSV, odd names, odd text ----------------------------------------------------------------


def test_csv_with_a_long_odd_name_gets_a_valid_linked_copy(tmp_path: Path) -> None:
    name = "企业名录[2014]:越秀区*终稿?第二版第三次修改稿的最终确认版本"
    source = tmp_path / f"{name}.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ENTERPRISE_HEADERS)
        writer.writerow([GOOD, "=1+1", "越秀区", "C 制造业", "规模以上工业", "自愿", "@备注"])
        writer.writerow([GOOD2, "乙公司", "越秀区", "C 制造业", "工业企业", "自愿", "-1"])
    result = validate(source)
    assert [p.code for p in result.problems if p.is_error] == ["not-in-choices"]
    book = feedback_for(result, source, tmp_path)
    (copy,) = copied_sheets(book)
    assert len(copy.title) <= 31 and not set("[]:*?/\\") & set(copy.title)
    assert marked(copy)["E3"] == argb(ERROR_FILL)
    assert copy["B2"].value == "=1+1" and copy["B2"].data_type == "s" and copy["B2"].quotePrefix
    assert copy["G3"].value == "-1" and copy["G3"].data_type == "s"
    (row,) = [r for r in book[PROBLEMS_SHEET].iter_rows(min_row=2) if r[7].value == "not-in-choices"]
    assert row[1].value == name  # the name the submitter knows
    assert row[2].hyperlink.location == f"'{copy.title}'!E3"
    assert copy.title in summary_text(book)


def test_links_to_a_sheet_with_an_apostrophe_work(tmp_path: Path) -> None:
    rows = [ENTERPRISE_HEADERS, [GOOD, "甲公司", "越秀区", "C 制造业", "工业企业", "自愿", None]]
    source = write_xlsx(tmp_path / "quote.xlsx", {"企业名录'终稿": rows}, stamp=STAMP)
    result = validate(source)
    book = feedback_for(result, source, tmp_path)
    (row,) = [r for r in book[PROBLEMS_SHEET].iter_rows(min_row=2) if r[7].value == "not-in-choices"]
    assert row[2].hyperlink.location == "'企业名录''终稿'!E2"
    assert marked(book["企业名录'终稿"])["E2"] == argb(ERROR_FILL)


def test_sheet_names_that_clash_with_the_feedback_sheets_are_renamed(tmp_path: Path) -> None:
    source = write_xlsx(tmp_path / "clash.xlsx", {"问题清单": [["自己的问题清单"]]}, stamp=STAMP)
    result = validate(source)
    book = feedback_for(result, source, tmp_path)
    assert book.sheetnames == [SUMMARY_SHEET, "问题清单(2)", PROBLEMS_SHEET]
    assert book["问题清单(2)"]["A1"].value == "自己的问题清单"


def test_markup_lookalike_text_is_kept_as_plain_text(tmp_path: Path) -> None:
    source = tmp_path / "markup.xlsx"
    made = openpyxl.Workbook()
    made.active.title = "说明"
    made.active["A1"] = "<r><t>注入</t></r>"
    made.active["A2"] = "<r>x</r>"
    made.save(source)
    result = validate(source, expected_submitter=None)
    book = feedback_for(result, source, tmp_path)
    assert [book["说明"]["A1"].value, book["说明"]["A2"].value] == ["<r><t>注入</t></r>", "<r>x</r>"]


_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc")), st.sampled_from(list("=+-@\t\r\n<>r/_x0D"))
    ),
    min_size=1,
    max_size=20,
).filter(lambda text: not (text.startswith("<r>") and text.endswith("</r>")))  # write_xlsx cannot write these


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_TEXT, min_size=1, max_size=6))
def test_any_text_comes_back_as_the_same_text(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("text")
    source = write_xlsx(folder / "text.xlsx", {"说明": [[text] for text in texts]})
    result = validate(source, expected_submitter=None)
    out = write_feedback(result, source, folder / "out", submitter=SUBMITTER, processed_at=WHEN)
    copy = next(sheet for sheet in read_workbook(out).sheets if sheet.name == "说明")
    assert [row[0] for row in copy.rows] == texts
    ws = openpyxl.load_workbook(out)["说明"]
    assert all(ws.cell(row=i + 1, column=1).data_type == "s" for i in range(len(texts)))


# --- the file itself -------------------------------------------------------------------------


def test_name_folder_and_atomic_replace(tmp_path: Path, mixed) -> None:
    result, source, _ = mixed
    out_dir = tmp_path / "drive" / "feedback" / SUBMITTER
    first = write_feedback(result, source, out_dir, submitter=SUBMITTER, processed_at=WHEN)
    second = write_feedback(result, source, out_dir, submitter=SUBMITTER, processed_at=WHEN)
    assert first == second == out_dir / "越秀区_2014-11_反馈_20141130-060509.xlsx"
    assert sorted(p.name for p in out_dir.iterdir()) == [first.name]  # no temporary file left behind


def test_a_very_long_file_name_still_fits(tmp_path: Path) -> None:
    source = write_xlsx(tmp_path / ("很长的文件名" * 13 + ".xlsx"), {"说明": [["x"]]}, stamp=STAMP)
    result = validate(source)
    out = write_feedback(result, source, tmp_path / "out", submitter=SUBMITTER, processed_at=WHEN)
    assert len(out.name.encode("utf-8")) <= 230 and out.name.endswith("_反馈_20141130-060509.xlsx")


def test_a_file_replaced_after_checking_is_not_copied(tmp_path: Path, mixed) -> None:
    result, source, _ = mixed
    write_xlsx(source, {"企业名录": [["完全不同的内容"]]}, stamp=STAMP)
    book = feedback_for(result, source, tmp_path / "changed")
    assert book.sheetnames == [SUMMARY_SHEET, PROBLEMS_SHEET]
    assert "文件在处理期间被替换" in summary_text(book)
    assert len(problem_rows(book)) == len(result.problems)


# --- 回执 ----------------------------------------------------------------------------------


def read_receipts(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))


def test_receipts_append_with_one_header_and_a_bom(tmp_path: Path, mixed) -> None:
    result, source, _ = mixed
    receipt = tmp_path / "feedback" / "回执.csv"
    feedback = write_feedback(
        result, source, receipt.parent / SUBMITTER, submitter=SUBMITTER, processed_at=WHEN
    )
    append_receipt(receipt, result, submitter=SUBMITTER, processed_at=WHEN, feedback_path=feedback)
    append_receipt(receipt, result, submitter=SUBMITTER, processed_at=WHEN, feedback_path=None)
    data = receipt.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    header, first, second = read_receipts(receipt)
    assert tuple(header) == RECEIPT_HEADER
    assert first == [
        "2014-11-30 06:05:09",
        SUBMITTER,
        result.path,
        result.file_hash,
        FILE_STATUS_LABELS[result.status],
        str(result.rows_accepted),
        str(result.rows_rejected),
        str(sum(p.is_error for p in result.problems)),
        str(sum(not p.is_error for p in result.problems)),
        f"{SUBMITTER}/{feedback.name}",
    ]
    assert second[:-1] == first[:-1] and second[-1] == ""


def test_receipts_survive_a_line_left_unfinished(tmp_path: Path, mixed) -> None:
    result, _, _ = mixed
    receipt = tmp_path / "回执.csv"
    append_receipt(receipt, result, submitter=SUBMITTER, processed_at=WHEN, feedback_path=None)
    receipt.write_bytes(receipt.read_bytes() + "2014-11-30 06:00:00,越秀区".encode())  # cut mid-line
    append_receipt(receipt, result, submitter=SUBMITTER, processed_at=WHEN, feedback_path=None)
    rows = read_receipts(receipt)
    assert len(rows) == 4 and rows[-1][1] == SUBMITTER and len(rows[-1]) == len(RECEIPT_HEADER)


def test_receipt_text_that_looks_like_a_formula_is_defused(tmp_path: Path) -> None:
    source = tmp_path / "=HYPERLINK(1).csv"
    source.write_text("培训编号,培训日期,培训主题,参训人次\nYX-01,2014-5-6,培训,3\n", encoding="utf-8")
    result = validate_file(source, display_name=source.name, profile=PROFILE)
    receipt = tmp_path / "回执.csv"
    append_receipt(receipt, result, submitter="@越秀区", processed_at=WHEN, feedback_path=None)
    (_, row) = read_receipts(receipt)
    assert row[1] == "'@越秀区" and row[2] == "'=HYPERLINK(1).csv"
    assert row[5] == "1"
